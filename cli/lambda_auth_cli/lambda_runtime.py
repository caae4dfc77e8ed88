"""Lambda functions run in-process, kept apart as Lambda keeps them (each in a process of its own there).

Each handler module is imported under a name of its own, its folder first on the path only while it loads, and
every module that folder provides is kept out of the shared module table: two functions may both have an `app.py`
(or a `helpers.py`) without one seeing the other's.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

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
