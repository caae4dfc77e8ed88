"""Run & Debug: the local server's own pages, outside the emulated API Gateway; never deployed.

`/docs` is Swagger UI over the API description (its files from the `swagger-ui-py` package, so
the page works offline), with a user picker that puts a token for the chosen user into Authorize,
and a Mail panel; `/openapi.json` is openapi.yaml with this server as its one server;
`/_local/users`, `/_local/token` and `/_local/outbox` feed the picker and the panel.

These hand out a token for any user, and the codes that reset any password, so they
answer only on a loopback address (unless `serve --allow-remote-debug`), only to a
loopback Host (a page on another site that resolves its name to 127.0.0.1 gets a 403),
the `/_local/` routes only without an Origin or with the server's own (the page's own
requests), and the token endpoint only to JSON, which a page of another origin cannot
send without a CORS preflight this server never grants.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from dataclasses import asdict, dataclass
from importlib import resources
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from lambda_auth.store import users

from . import admin, outbox, template
from .gateway import Request, Response
from .local_aws import is_loopback

log = logging.getLogger(__name__)

OPENAPI_PATH = template.PROJECT_ROOT / "openapi.yaml"
DOCS_PATHS = ("/docs", "/docs/")
ASSETS_PREFIX = "/docs/assets/"
OPENAPI_JSON_PATH = "/openapi.json"
LOCAL_PREFIX = "/_local/"
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_BODY_BYTES = 64 * 1024

# Swagger UI's files the page loads, from the swagger-ui-py package, and the page's own.
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png")
OWN_FILES = ("run-and-debug.js", "run-and-debug.css")

# img-src data: for Swagger UI's icons, data: URLs in its stylesheet.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none';"
    " frame-ancestors 'none'"
)
OFF_MESSAGE = (
    "Run & Debug is off: the server listens on a non-loopback address, and these pages hand out "
    "tokens for any user (serve --allow-remote-debug turns them on there)"
)
_COMMON_HEADERS = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]


def swagger_ui_dir() -> Path | None:
    """The folder of Swagger UI's files in the installed `swagger-ui-py` package, or None."""
    spec = find_spec("swagger_ui")  # located, not imported: its package imports web frameworks' glue
    folders = [Path(location) / "static" for location in (spec and spec.submodule_search_locations) or []]
    return next((folder for folder in folders if (folder / "swagger-ui-bundle.js").is_file()), None)


def _own_file(name: str) -> bytes:
    return (resources.files("lambda_auth_cli") / "static" / name).read_bytes()


def _file(name: str, body: bytes, *headers: tuple[str, str]) -> Response:
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type.endswith("javascript"):
        content_type += "; charset=utf-8"
    every_header = [("Content-Type", content_type), *headers, ("Cache-Control", "no-cache"), *_COMMON_HEADERS]
    return Response(200, every_header, body)


def _json(status: int, document: Any, *headers: tuple[str, str]) -> Response:
    every_header = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), *_COMMON_HEADERS, *headers]
    return Response(status, every_header, json.dumps(document, ensure_ascii=False).encode())


def _error(status: int, code: str, message: str, *headers: tuple[str, str]) -> Response:
    """An error in the API's shape, so that one client reads both."""
    return _json(status, {"code": code, "message": message}, *headers)


@dataclass
class DevTools:
    """The Run & Debug routes of one local server."""

    api_base_path: str  # the stage, e.g. /api
    bound_url: str  # http://host:port, where the server listens
    directory: admin.UserDirectory
    enabled: bool  # False on a non-loopback address without --allow-remote-debug
    loopback_only: bool  # refuse requests whose Host is not a loopback name
    outbox_path: Path  # the local outbox the functions mail into

    @staticmethod
    def handles(path: str) -> bool:
        """Whether `path` is one of these routes (everything else goes to the gateway)."""
        return path in (*DOCS_PATHS, OPENAPI_JSON_PATH) or path.startswith((ASSETS_PREFIX, LOCAL_PREFIX))

    def handle(self, request: Request) -> Response:
        """Answer one request to these routes."""
        if not self.enabled:
            return _error(403, "ERROR_CODE_ACCESS_DENIED", OFF_MESSAGE)
        host = request.header("Host") or ""
        if self.loopback_only and not is_loopback(urlsplit(f"//{host}").hostname or ""):
            return _error(403, "ERROR_CODE_ACCESS_DENIED", "Run & Debug answers only to a loopback Host")
        path, method, origin = request.path, request.method, request.header("Origin")
        # A browser sends an Origin with another site's requests (and with this page's POSTs, its own).
        if path.startswith(LOCAL_PREFIX) and origin is not None and origin.lower() != f"http://{host}".lower():
            return _error(403, "ERROR_CODE_ACCESS_DENIED", "Run & Debug answers only its own page (another Origin)")
        try:
            if path.startswith(LOCAL_PREFIX):
                return self._local(request)
            if method not in ("GET", "HEAD"):
                return _error(405, "ERROR_CODE_NOT_FOUND", f"{method} is not allowed here", ("Allow", "GET, HEAD"))
            if path in DOCS_PATHS:
                return _file("docs.html", _own_file("docs.html"), ("Content-Security-Policy", CONTENT_SECURITY_POLICY))
            if path == OPENAPI_JSON_PATH:
                return self._openapi(host)
            name = path.removeprefix(ASSETS_PREFIX)
            if name in OWN_FILES:
                return _file(name, _own_file(name))
            if name not in SWAGGER_UI_FILES:
                return _error(404, "ERROR_CODE_NOT_FOUND", "no such file")
            folder = swagger_ui_dir()
            if folder is None:
                return _error(503, "ERROR_FATAL", "Swagger UI is not installed: pip install swagger-ui-py")
            return _file(name, (folder / name).read_bytes())
        except Exception:
            log.exception("Run & Debug failed on %s %s", method, path)
            return _error(500, "ERROR_FATAL", "Run & Debug failed; the server's log says why")

    def _openapi(self, host: str) -> Response:
        document = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
        origin = f"http://{host}" if host else self.bound_url
        # Only this server: the page may call nothing else (its Content-Security-Policy), and
        # the picker's tokens are valid here only.
        server = {"url": f"{origin}{self.api_base_path}", "description": "this local server (lambda-auth serve)"}
        document["servers"] = [server]
        return _json(200, document)

    def _local(self, request: Request) -> Response:
        name = request.path.removeprefix(LOCAL_PREFIX)
        methods = {"users": ("GET", "HEAD"), "outbox": ("GET", "HEAD"), "token": ("POST",)}.get(name)
        if methods is None:
            return _error(404, "ERROR_CODE_NOT_FOUND", "no such route")
        if request.method not in methods:
            return _error(405, "ERROR_CODE_NOT_FOUND", f"use {methods[0]}", ("Allow", ", ".join(methods)))
        if name == "token":
            return self._token(request)
        parameters = parse_qs(request.query)
        try:
            limit = int(parameters.get("limit", [str(DEFAULT_LIMIT)])[-1])
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            return _error(400, "ERROR_CODE_INPUT_ERROR", f"limit is a whole number from 1 to {MAX_LIMIT}")
        if name == "users":
            search = parameters.get("search", [""])[-1]
            found = [asdict(user) for user in users.list_users(search, limit)]
            return _json(200, {"users": found, "search": search, "limit": limit})
        messages = (outbox.read(self.outbox_path) or ([], 0))[0]
        return _json(200, {"messages": messages[:limit], "total": len(messages), "limit": limit})

    def _token(self, request: Request) -> Response:
        if (request.header("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
            return _error(415, "ERROR_CODE_INPUT_ERROR", "send the body as application/json")
        if len(request.body) > MAX_BODY_BYTES:
            return _error(413, "ERROR_CODE_INPUT_ERROR", "the body is too large")
        try:
            document = json.loads(request.body)
        except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
            return _error(400, "ERROR_CODE_INPUT_ERROR", "the body is not JSON")
        try:
            token, user, expires_at = self.directory.issue(*_token_request(document))
        except admin.UserNotFound as error:
            return _error(404, "ERROR_CODE_NOT_FOUND", str(error))
        except ValueError as error:
            return _error(400, "ERROR_CODE_INPUT_ERROR", str(error))
        return _json(200, {"authToken": token, "user": asdict(user), "expires_at": expires_at})


def _token_request(document: object) -> tuple[admin.UserRef, int | None, dict[str, Any]]:
    """The user ("id" or "email"), lifetime ("ttl") and "extras" a token request asks for; ValueError if wrong."""
    if not isinstance(document, dict):
        raise ValueError('the body is a JSON object: {"id": N} or {"email": "..."}')
    user_id, email, ttl = (document.get(name) for name in ("id", "email", "ttl"))
    extras, given = document.get("extras", {}), [value for value in (user_id, email) if value is not None]
    # `type(...) is int`: JSON's true and false are bools, an int subclass.
    for failed, message in [
        (len(given) != 1, 'name the user by exactly one of "id" and "email"'),
        (user_id is not None and (type(user_id) is not int or user_id < 1), '"id" is a positive integer'),
        (email is not None and not (isinstance(email, str) and email.strip()), '"email" is a non-empty string'),
        (ttl is not None and type(ttl) is not int, '"ttl" is a whole number of seconds'),
        (not isinstance(extras, dict), '"extras" is a JSON object'),
    ]:
        if failed:
            raise ValueError(message)
    return given[0], ttl, extras
