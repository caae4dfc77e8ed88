"""Lambda functions run locally: as Lambda runs them, in processes of their own (`FunctionInstances`, what the
local server and `invoke` use), or in this process (`LocalFunction`, what the integration tests call).

A function's instances are processes started with the spawn method, so each is a real cold start, with its own
environment (its role's credentials among it), its own settings and caches, one invocation at a time; when every
instance is busy another starts, up to a small cap, as Lambda scales a function out.

In this process, each handler module is imported under a name of its own, its folder first on the path only while
it loads, and every module that folder provides is kept out of the shared module table: two functions may both
have an `app.py` (or a `helpers.py`) without one seeing the other's.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from . import template

Handler = Callable[[Any, Any], Any]

_IMPORT_LOCK = threading.RLock()


class FunctionLoadError(RuntimeError):
    """A function's handler cannot be found or its module failed to import; the message says why."""


class LambdaContext:
    """The context object Lambda passes a handler: what Powertools and most code read from it."""

    memory_limit_in_mb = 1024
    function_version = "$LATEST"
    log_stream_name = "local"

    def __init__(self, function_name: str, timeout_seconds: int = 10, aws_request_id: str | None = None):
        self.function_name = function_name
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout (not enforced locally)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionError(Exception):
    """A handler raised: Lambda reports it as errorMessage, errorType and stackTrace."""

    def __init__(self, error_message: str, error_type: str, stack_trace: tuple[str, ...]):
        super().__init__(f"{error_type}: {error_message}")
        self.error_message = error_message
        self.error_type = error_type
        self.stack_trace = stack_trace

    def payload(self, request_id: str) -> dict[str, Any]:
        """The error as Lambda returns it to its caller (and `sam local invoke` prints it)."""
        return {
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "requestId": request_id,
            "stackTrace": list(self.stack_trace),
        }


def load_module(code_dir: Path, module_path: str = "app", layer_dirs: tuple[Path, ...] = ()) -> ModuleType:
    """Import the handler module `module_path` of the function in `code_dir`, once, under a name of its own, from
    its file (`a.b` is `a/b.py`): a module inside a package cannot use relative imports, its absolute ones work."""
    code_dir = code_dir.resolve()
    slug, digest = re.sub(r"\W", "_", code_dir.name), uuid.uuid5(uuid.NAMESPACE_URL, str(code_dir)).hex[:8]
    prefix = f"lambda_function_{slug}_{digest}"
    unique = prefix if module_path == "app" else re.sub(r"\W", "_", f"{prefix}_{module_path}")
    with _IMPORT_LOCK:
        if unique in sys.modules:
            return sys.modules[unique]
        relative = Path(*re.split(r"[./]", module_path))
        candidates = (code_dir / relative.with_suffix(".py"), code_dir / relative / "__init__.py")
        path = next((candidate for candidate in candidates if candidate.is_file()), None)
        if path is None:
            raise FunctionLoadError(f"no module {module_path!r} in {code_dir}")
        spec = importlib.util.spec_from_file_location(unique, path)
        if spec is None or spec.loader is None:
            raise FunctionLoadError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        # While it loads, the folder is first on the path and the names of its modules and packages are free;
        # then what it provided moves out of the shared module table, under the function's name.
        provided = {item.stem for item in code_dir.glob("*.py")}
        provided |= {item.name for item in code_dir.iterdir() if (item / "__init__.py").is_file()}
        shadowed = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] in provided}
        sys.modules[unique] = module
        sys.path.extend([str(layer) for layer in layer_dirs if str(layer) not in sys.path])  # shared, as /opt/python
        sys.path.insert(0, str(code_dir))
        importlib.invalidate_caches()
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[unique]
            raise
        finally:
            sys.path.remove(str(code_dir))
            for name in [name for name in sys.modules if name.split(".")[0] in provided]:
                sys.modules[f"{prefix}.{name}"] = sys.modules.pop(name)
            sys.modules.update(shadowed)
        return module


def load_handler(code_dir: Path, handler: str, layer_dirs: tuple[Path, ...] = ()) -> Handler:
    """The callable a Lambda `Handler` setting ("module.function") names, in `code_dir`."""
    module_path, _, attribute = handler.rpartition(".")
    if not module_path or not attribute:
        raise FunctionLoadError(f"handler {handler!r} is not module.function")
    function = getattr(load_module(code_dir, module_path, layer_dirs), attribute, None)
    if not callable(function):
        raise FunctionLoadError(f"{module_path} has no function {attribute!r}")
    return function  # type: ignore[no-any-return]


class LocalFunction:
    """One function of the template as one Lambda instance: loaded once (its cold start), one request at a time."""

    def __init__(self, function: template.Function):
        self.function = function
        self._handler: Handler | None = None
        self._lock = threading.RLock()

    @classmethod
    def all_of(cls, app: template.Application) -> dict[str, LocalFunction]:
        return {logical_id: cls(function) for logical_id, function in app.functions.items()}

    def load(self) -> Handler:
        """Import the handler now rather than at the first request."""
        with self._lock:
            if self._handler is None:
                self._handler = load_handler(self.function.code_dir, self.function.handler, self.function.layer_dirs)
            return self._handler

    def invoke(self, event: Any, request_id: str | None = None) -> Any:
        context = LambdaContext(self.function.logical_id, self.function.timeout_seconds, request_id)
        with self._lock:
            handler = self.load()
            try:
                return handler(event, context)
            except Exception as error:
                summary = traceback.extract_tb(error.__traceback__)[1:]  # from the handler down
                trace = tuple(entry.rstrip("\n") for entry in traceback.format_list(summary))
                raise FunctionError(str(error), type(error).__name__, trace) from error


class Invocable(Protocol):
    """What the gateway and the Invoke API call: a function, in this process or in instances of its own."""

    def invoke(self, event: Any, request_id: str | None = None) -> Any: ...


MAX_INSTANCES = 4  # per function: enough for a same-route race to show, few enough for a shared laptop
STOP_SECONDS = 5.0


class FunctionInstances:
    """One function of the template as Lambda runs it: instances in processes of their own, each started with
    `environment` (the variables the process has, plus these), one invocation at a time each. An invocation takes
    an idle instance, else starts one (its cold start) while fewer than `max_instances` run, else waits for one."""

    def __init__(
        self,
        function: template.Function,
        environment: Mapping[str, str],
        max_instances: int = MAX_INSTANCES,
        logs_to_stderr: bool = False,
    ):
        self.function = function
        self.environment = dict(environment)
        self.max_instances = max_instances
        self.logs_to_stderr = logs_to_stderr  # the functions' output (their logs) on stderr instead of stdout
        self._changed = threading.Condition()
        self._idle: list[_Instance] = []
        self._live: list[_Instance] = []  # started, idle or busy
        self._starting = 0
        self._first: _Instance | None = None  # launched by `launch`, not yet ready
        self._closed = False

    @property
    def instances(self) -> int:
        """How many instances run (idle or busy)."""
        with self._changed:
            return len(self._live)

    def launch(self) -> None:
        """Start the first instance's process, without waiting for its cold start (`start` waits)."""
        with self._changed:
            if self._first is None and not self._live and not self._starting:
                self._starting += 1
                self._first = _Instance(self)

    def start(self) -> None:
        """Have one instance ready now (its cold start done); `FunctionLoadError` if it cannot start."""
        self.launch()
        with self._changed:
            first, self._first = self._first, None
        if first is not None:
            self._ready(first, idle=True)

    def invoke(self, event: Any, request_id: str | None = None) -> Any:
        instance = self._acquire()
        try:
            return instance.invoke(event, request_id or str(uuid.uuid4()))
        finally:
            with self._changed:
                if instance.process.is_alive() and not self._closed:
                    self._idle.append(instance)
                else:
                    self._live.remove(instance)
                    instance.stop()
                self._changed.notify_all()

    def close(self) -> None:
        """Stop every instance (each ends its invocation first, for up to STOP_SECONDS)."""
        with self._changed:
            self._closed = True
            instances, self._live, self._idle = list(self._live), [], []
            if self._first is not None:
                instances.append(self._first)
            self._changed.notify_all()
        for instance in instances:
            instance.stop()

    def _acquire(self) -> _Instance:
        """An idle instance, else a new one (the first, if `launch` started it), else the next to be free."""
        instance: _Instance | None = None
        with self._changed:
            while True:
                if self._closed:
                    raise FunctionError("the local server is stopping", "Runtime.Stopped", ())
                if self._idle:
                    return self._idle.pop()
                if self._first is not None:
                    instance, self._first = self._first, None
                    break
                if len(self._live) + self._starting < self.max_instances:
                    self._starting += 1
                    break
                self._changed.wait()
        try:
            instance = instance or _Instance(self)
        except BaseException:
            with self._changed:
                self._starting -= 1
                self._changed.notify_all()
            raise
        try:
            self._ready(instance, idle=False)
        except FunctionLoadError as error:
            raise FunctionError(str(error), "Runtime.ImportModuleError", ()) from None
        return instance

    def _ready(self, instance: _Instance, idle: bool) -> None:
        """Wait for `instance`'s cold start, then count it as live (and idle, or taken by the caller)."""
        try:
            instance.ready()
        except BaseException:
            instance.stop()
            raise
        else:
            with self._changed:
                self._live.append(instance)
                if idle:
                    self._idle.append(instance)
        finally:
            with self._changed:
                self._starting -= 1
                self._changed.notify_all()


class _Instance:
    """One instance: a spawned process running `_serve`, and the pipe it answers on."""

    def __init__(self, owner: FunctionInstances):
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_serve,
            args=(owner.function, owner.environment, owner.logs_to_stderr, child),
            name=f"lambda-{owner.function.logical_id}",
            daemon=True,
        )
        self.process.start()
        child.close()

    def ready(self) -> None:
        """Wait for the cold start; `FunctionLoadError` with the instance's reason if it failed."""
        try:
            kind, detail = self.connection.recv()
        except (EOFError, OSError):
            raise FunctionLoadError(f"its process exited during its cold start ({self.process.exitcode})") from None
        if kind != "ready":
            raise FunctionLoadError(str(detail))

    def invoke(self, event: Any, request_id: str) -> Any:
        try:
            self.connection.send((event, request_id))
            kind, detail = self.connection.recv()
        except (EOFError, OSError, BrokenPipeError):
            self.process.join(STOP_SECONDS)
            raise FunctionError(
                f"the function's process exited ({self.process.exitcode})", "Runtime.ExitError", ()
            ) from None
        if kind == "error":
            raise FunctionError(*detail)
        if kind == "not-json":
            raise ValueError(detail)  # what Lambda's runtime cannot send back (Runtime.MarshalError)
        return json.loads(detail)

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # a process already gone
            self.connection.send(None)
        self.process.join(STOP_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def _serve(function: template.Function, environment: dict[str, str], logs_to_stderr: bool, parent: Connection) -> None:
    """An instance's process: its environment, its cold start, then one invocation at a time until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops its instances
    if logs_to_stderr:
        sys.stdout = sys.stderr
    os.environ.update(environment)
    local = LocalFunction(function)
    try:
        local.load()
    except BaseException as error:  # an import error of any kind is the instance's failure to start
        parent.send(("failed", f"{type(error).__name__}: {error}"))
        return
    parent.send(("ready", None))
    while True:
        try:
            message = parent.recv()
        except (EOFError, OSError):
            return  # the server is gone
        if message is None:
            return
        event, request_id = message
        try:
            result = local.invoke(event, request_id)
        except FunctionError as error:
            parent.send(("error", (error.error_message, error.error_type, error.stack_trace)))
            continue
        try:
            parent.send(("result", json.dumps(result, allow_nan=False)))
        except (TypeError, ValueError) as error:
            parent.send(("not-json", str(error)))
