"""Lambda functions run in-process, kept apart as Lambda keeps them.

In Lambda each function has its own process, with its own folder first on the path and
its layers after it. Here they share one process, so each handler module is imported
under a name of its own, with its folder on the path only while it loads, and every
module that folder provides is kept out of the shared module table: two functions may
both have an `app.py` (or a `helpers.py`) without one seeing the other's.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from . import template

Handler = Callable[[Any, Any], Any]

_IMPORT_LOCK = threading.RLock()


class FunctionLoadError(RuntimeError):
    """A function's handler cannot be found or its module failed to import; the message says why."""


@dataclass
class LambdaContext:
    """The context object Lambda passes a handler: what Powertools and most code read from it."""

    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_seconds: int = 10
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        if not self.invoked_function_arn:
            self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"

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


def _unique_name(code_dir: Path) -> str:
    slug = re.sub(r"\W", "_", code_dir.name)
    digest = uuid.uuid5(uuid.NAMESPACE_URL, str(code_dir.resolve())).hex[:8]
    return f"lambda_function_{slug}_{digest}"


def _provided_names(code_dir: Path) -> set[str]:
    """The top-level module names a folder provides: its .py files and its packages."""
    names = {path.stem for path in code_dir.glob("*.py")}
    names.update(path.name for path in code_dir.iterdir() if (path / "__init__.py").is_file())
    return names


@contextmanager
def _isolated_path(code_dir: Path, layer_dirs: tuple[Path, ...]) -> Iterator[None]:
    """The function's folder first on sys.path and its own module names free, while it loads."""
    folder = str(code_dir)
    layers = [str(layer) for layer in layer_dirs if str(layer) not in sys.path]
    provided = _provided_names(code_dir)
    shadowed = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] in provided}
    sys.path.insert(0, folder)
    sys.path.extend(layers)  # layers stay: they are shared, as /opt/python is in every function
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(folder)
        # Modules the folder provided move out of the shared table, under the function's name.
        for name in [name for name in sys.modules if name.split(".")[0] in provided]:
            module = sys.modules.pop(name)
            sys.modules[f"{_unique_name(code_dir)}.{name}"] = module
        sys.modules.update(shadowed)


def _handler_file(code_dir: Path, module_path: str) -> Path:
    relative = Path(*re.split(r"[./]", module_path))
    for candidate in (code_dir / relative.with_suffix(".py"), code_dir / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise FunctionLoadError(f"no module {module_path!r} in {code_dir}")


def load_module(code_dir: Path, module_path: str = "app", layer_dirs: tuple[Path, ...] = ()) -> ModuleType:
    """Import the handler module `module_path` of the function in `code_dir`, once, under a name of its own.

    The module is loaded from its file (`a.b` is `a/b.py`), so a handler module inside a
    package cannot use relative imports; its absolute imports of the folder's modules work.
    """
    code_dir = code_dir.resolve()
    unique = _unique_name(code_dir) if module_path == "app" else f"{_unique_name(code_dir)}_{module_path}"
    unique = re.sub(r"\W", "_", unique)
    with _IMPORT_LOCK:
        if unique in sys.modules:
            return sys.modules[unique]
        path = _handler_file(code_dir, module_path)
        spec = importlib.util.spec_from_file_location(unique, path)
        if spec is None or spec.loader is None:
            raise FunctionLoadError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        try:
            with _isolated_path(code_dir, layer_dirs):
                spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[unique]
            raise
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
    """One function of the template, loaded once (its cold start) and invoked one request at a time,
    as one Lambda instance."""

    def __init__(self, function: template.Function):
        self.name = function.logical_id
        self._code_dir = function.code_dir
        self._handler_name = function.handler
        self._layer_dirs = function.layer_dirs
        self._timeout_seconds = function.timeout_seconds
        self._handler: Handler | None = None
        self._lock = threading.Lock()

    @classmethod
    def all_of(cls, app: template.Application) -> dict[str, LocalFunction]:
        """Each function of the template, by logical id, ready to load and invoke."""
        return {logical_id: cls(function) for logical_id, function in app.functions.items()}

    def load(self) -> None:
        """Import the handler now rather than at the first request."""
        with self._lock:
            self._load()

    def _load(self) -> Handler:
        if self._handler is None:
            self._handler = load_handler(self._code_dir, self._handler_name, self._layer_dirs)
        return self._handler

    def invoke(self, event: Any, request_id: str | None = None) -> Any:
        """Call the handler with `event`; its return value, or `FunctionError` if it raised."""
        context = LambdaContext(
            function_name=self.name,
            timeout_seconds=self._timeout_seconds,
            aws_request_id=request_id or str(uuid.uuid4()),
        )
        with self._lock:
            handler = self._load()
            try:
                return handler(event, context)
            except Exception as error:
                summary = traceback.extract_tb(error.__traceback__)[1:]  # from the handler down
                raise FunctionError(
                    error_message=str(error),
                    error_type=type(error).__name__,
                    stack_trace=tuple(line.rstrip("\n") for line in traceback.format_list(summary)),
                ) from error
