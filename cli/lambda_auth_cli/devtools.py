"""Run & Debug: the local server's own pages, outside the emulated API Gateway; never deployed.

- `GET /docs`: Swagger UI over the API description, with a user picker that lists the
  users of the local table and puts a token for the chosen one into Authorize;
- `GET /docs/assets/<file>`: Swagger UI's files, from the `swagger-ui-py` package
  (installed from PyPI, so the page works offline), and the page's own script and style;
- `GET /openapi.json`: openapi.yaml as JSON, with this server's base URL as its one server;
- `GET /_local/users?search=&limit=`: users whose email contains `search`;
- `POST /_local/token` `{"id": N}` or `{"email": "..."}`, optionally `"extras"` and `"ttl"`:
  a token for that user, issued with the server's keys;
- `GET /_local/outbox?limit=`: the latest messages of the local outbox (the Mail panel),
  which hold password-reset codes.

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
from dataclasses import dataclass
from importlib import resources
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from . import admin, outbox, template
from .gateway import Request, Response
from .local_aws import is_loopback

log = logging.getLogger(__name__)

OPENAPI_PATH = template.PROJECT_ROOT / "openapi.yaml"
DOCS_PATH = "/docs"
ASSETS_PREFIX = "/docs/assets/"
OPENAPI_JSON_PATH = "/openapi.json"
LOCAL_PREFIX = "/_local/"
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_BODY_BYTES = 64 * 1024

# Swagger UI's files the page loads, from the swagger-ui-py package, and the page's own.
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png")
OWN_FILES = ("run-and-debug.js", "run-and-debug.css")

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",  # Swagger UI's icons are data: URLs in its stylesheet
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
_COMMON_HEADERS = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]


def swagger_ui_dir() -> Path | None:
    """The folder of Swagger UI's files in the installed `swagger-ui-py` package, or None."""
    spec = find_spec("swagger_ui")  # located, not imported: its package imports web frameworks' glue
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        folder = Path(location) / "static"
        if (folder / "swagger-ui-bundle.js").is_file():
            return folder
    return None


def _own_file(name: str) -> bytes:
    return (resources.files("lambda_auth_cli") / "static" / name).read_bytes()


def _json(status: int, document: Any, extra_headers: list[tuple[str, str]] | None = None) -> Response:
    headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), *_COMMON_HEADERS]
    return Response(status, headers + (extra_headers or []), json.dumps(document, ensure_ascii=False).encode())


def _error(status: int, code: str, message: str, extra_headers: list[tuple[str, str]] | None = None) -> Response:
    """An error in the API's shape, so that one client reads both."""
    return _json(status, {"code": code, "message": message}, extra_headers)


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
        return path in (DOCS_PATH, DOCS_PATH + "/", OPENAPI_JSON_PATH) or path.startswith((ASSETS_PREFIX, LOCAL_PREFIX))

    def handle(self, request: Request) -> Response:
        """Answer one request to these routes."""
        if not self.enabled:
            return _error(
                403,
                "ERROR_CODE_ACCESS_DENIED",
                "Run & Debug is off: the server listens on a non-loopback address, and these pages hand out "
                "tokens for any user (serve --allow-remote-debug turns them on there)",
            )
        host = request.header("Host") or ""
        if self.loopback_only and not is_loopback(urlsplit(f"//{host}").hostname or ""):
            return _error(403, "ERROR_CODE_ACCESS_DENIED", "Run & Debug answers only to a loopback Host")
        path = request.path
        method = request.method
        origin = request.header("Origin")
        # A browser sends an Origin with another site's requests (and with this page's POSTs, its own).
        if path.startswith(LOCAL_PREFIX) and origin is not None and origin.lower() != f"http://{host}".lower():
            return _error(403, "ERROR_CODE_ACCESS_DENIED", "Run & Debug answers only its own page (another Origin)")
        try:
            if path.startswith(LOCAL_PREFIX):
                return self._local(request)
            if method not in ("GET", "HEAD"):
                return _error(405, "ERROR_CODE_NOT_FOUND", f"{method} is not allowed here", [("Allow", "GET, HEAD")])
            if path in (DOCS_PATH, DOCS_PATH + "/"):
                return self._page()
            if path == OPENAPI_JSON_PATH:
                return self._openapi(host)
            return self._asset(path.removeprefix(ASSETS_PREFIX))
        except Exception:
            log.exception("Run & Debug failed on %s %s", method, path)
            return _error(500, "ERROR_FATAL", "Run & Debug failed; the server's log says why")

    def _page(self) -> Response:
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
            ("Cache-Control", "no-cache"),
            *_COMMON_HEADERS,
        ]
        return Response(200, headers, _own_file("docs.html"))

    def _openapi(self, host: str) -> Response:
        document = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
        origin = f"http://{host}" if host else self.bound_url
        # Only this server: the page may call nothing else (its Content-Security-Policy), and
        # the picker's tokens are valid here only.
        document["servers"] = [
            {"url": f"{origin}{self.api_base_path}", "description": "this local server (lambda-auth serve)"}
        ]
        return _json(200, document)

    def _asset(self, name: str) -> Response:
        if name in OWN_FILES:
            body = _own_file(name)
        elif name in SWAGGER_UI_FILES:
            folder = swagger_ui_dir()
            if folder is None:
                return _error(503, "ERROR_FATAL", "Swagger UI is not installed: pip install swagger-ui-py")
            body = (folder / name).read_bytes()
        else:
            return _error(404, "ERROR_CODE_NOT_FOUND", "no such file")
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type.endswith("javascript"):
            content_type += "; charset=utf-8"
        return Response(200, [("Content-Type", content_type), ("Cache-Control", "no-cache"), *_COMMON_HEADERS], body)

    def _local(self, request: Request) -> Response:
        if request.path == LOCAL_PREFIX + "users":
            if request.method not in ("GET", "HEAD"):
                return _error(405, "ERROR_CODE_NOT_FOUND", "use GET", [("Allow", "GET, HEAD")])
            return self._users(request.query)
        if request.path == LOCAL_PREFIX + "token":
            if request.method != "POST":
                return _error(405, "ERROR_CODE_NOT_FOUND", "use POST", [("Allow", "POST")])
            return self._token(request)
        if request.path == LOCAL_PREFIX + "outbox":
            if request.method not in ("GET", "HEAD"):
                return _error(405, "ERROR_CODE_NOT_FOUND", "use GET", [("Allow", "GET, HEAD")])
            return self._outbox(request.query)
        return _error(404, "ERROR_CODE_NOT_FOUND", "no such route")

    def _users(self, query: str) -> Response:
        parameters = parse_qs(query)
        search = parameters.get("search", [""])[-1]
        limit = _limit(parameters)
        if limit is None:
            return _error(400, "ERROR_CODE_INPUT_ERROR", f"limit is a whole number from 1 to {MAX_LIMIT}")
        found = self.directory.list_users(search, limit)
        return _json(200, {"users": [admin.user_json(user) for user in found], "search": search, "limit": limit})

    def _outbox(self, query: str) -> Response:
        limit = _limit(parse_qs(query))
        if limit is None:
            return _error(400, "ERROR_CODE_INPUT_ERROR", f"limit is a whole number from 1 to {MAX_LIMIT}")
        messages = outbox.read(self.outbox_path).messages
        return _json(
            200, {"messages": [mail.json() for mail in messages[:limit]], "total": len(messages), "limit": limit}
        )

    def _token(self, request: Request) -> Response:
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(415, "ERROR_CODE_INPUT_ERROR", "send the body as application/json")
        if len(request.body) > MAX_BODY_BYTES:
            return _error(413, "ERROR_CODE_INPUT_ERROR", "the body is too large")
        try:
            document = json.loads(request.body)
        except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
            return _error(400, "ERROR_CODE_INPUT_ERROR", "the body is not JSON")
        try:
            who, ttl, extras = _token_request(document)
            issued = self.directory.issue(who, ttl, extras)
        except admin.UserNotFound as error:
            return _error(404, "ERROR_CODE_NOT_FOUND", str(error))
        except ValueError as error:
            return _error(400, "ERROR_CODE_INPUT_ERROR", str(error))
        return _json(
            200, {"authToken": issued.token, "user": admin.user_json(issued.user), "expires_at": issued.expires_at}
        )


def _limit(parameters: dict[str, list[str]]) -> int | None:
    """The `limit` query parameter (default DEFAULT_LIMIT), or None when it is not 1 to MAX_LIMIT."""
    try:
        limit = int(parameters.get("limit", [str(DEFAULT_LIMIT)])[-1])
    except ValueError:
        return None
    return limit if 1 <= limit <= MAX_LIMIT else None


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _token_request(document: object) -> tuple[admin.UserRef, int | None, dict[str, Any]]:
    """The user, lifetime and extras a token request asks for; ValueError naming what is wrong."""
    if not isinstance(document, dict):
        raise ValueError('the body is a JSON object: {"id": N} or {"email": "..."}')
    user_id, email = document.get("id"), document.get("email")
    if (user_id is None) == (email is None):
        raise ValueError('name the user by exactly one of "id" and "email"')
    who: admin.UserRef
    if user_id is not None:
        if not _is_integer(user_id) or user_id < 1:
            raise ValueError('"id" is a positive integer')
        who = user_id
    else:
        if not isinstance(email, str) or not email.strip():
            raise ValueError('"email" is a non-empty string')
        who = email
    ttl = document.get("ttl")
    if ttl is not None and not _is_integer(ttl):
        raise ValueError('"ttl" is a whole number of seconds')
    extras = document.get("extras", {})
    if not isinstance(extras, dict):
        raise ValueError('"extras" is a JSON object')
    return who, ttl, extras
