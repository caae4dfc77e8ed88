"""The `lambda-auth` command: `serve` the template's API locally, `invoke` one function with an event,
manage the token `keys`, list `users` and issue a `token` for one (locally or in a deployed stack).

Errors are one line on stderr, `lambda-auth: ...`, with exit status 1 for a failure at
run time and 2 for a usage error (a bad argument, event file or template).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TextIO

from . import keyring, runtime, sam, template
from .functions import FunctionError, LocalFunction
from .runtime import CliError

PROGRAM = "lambda-auth"


class _Stop(Exception):
    """SIGTERM, handled like Ctrl-C."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors in one line like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROGRAM}: {message} (see `{self.prog} --help`)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROGRAM,
        description="Local tooling for lambda-auth: run the API of template.yaml without Docker or an AWS account.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve the template's API over HTTP, with an embedded DynamoDB",
        description=(
            "Serve the API of template.yaml as API Gateway would: routes, the Lambda authorizer, gateway "
            "responses and CORS, with the functions running in this process. Data lives in an embedded "
            "DynamoDB (in memory) unless AWS_ENDPOINT_URL_DYNAMODB names another endpoint."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=3000, help="port to listen on, 0 for any free one (default: 3000)")
    serve.add_argument(
        "--allow-remote-debug",
        action="store_true",
        help="serve Run & Debug (/docs and its token endpoints) on a non-loopback --host too: anyone who reaches "
        "it can get a token for any user (default: only on a loopback address)",
    )
    _common_arguments(serve)

    invoke = commands.add_parser(
        "invoke",
        help="run one function with an event file and print its result as JSON",
        description=(
            "Run one function of template.yaml with an event, as `sam local invoke` does, and print what it "
            "returned as JSON. A function that raised prints Lambda's error object and exits with status 1."
        ),
    )
    invoke.add_argument("function", metavar="FUNCTION", help="the function's logical id, e.g. SignupFunction")
    invoke.add_argument("--event", "-e", required=True, type=Path, help="a JSON event file, e.g. events/signup.json")
    _common_arguments(invoke)

    keys = commands.add_parser(
        "keys",
        help="list, rotate or prune the token keys (the local key file, or a stack's secret)",
        description=(
            "Manage the JWK Set that encrypts tokens. `rotate` adds a new key that issues every token from "
            "then on; the earlier keys keep verifying the tokens they issued. `prune` removes the keys whose "
            "every token has expired. Deployed functions pick a change up within AUTH_KEYS_CACHE_SECONDS."
        ),
    )
    keys.add_argument("action", choices=["list", "rotate", "prune"], help="what to do")
    where = keys.add_mutually_exclusive_group()
    where.add_argument(
        "--jwks", type=Path, default=runtime.DEFAULT_KEY_FILE, metavar="PATH", help="the local key file (default)"
    )
    where.add_argument("--stack", metavar="NAME", help="a deployed stack: its TokenKeysSecretArn output's secret")
    keys.add_argument(
        "--token-ttl",
        type=int,
        metavar="SECONDS",
        help="the longest token lifetime, for prune (default: the stack's TokenTtlSeconds, or the template's)",
    )
    keys.add_argument("--verbose", "-v", action="store_true", help=argparse.SUPPRESS)

    users = commands.add_parser(
        "users",
        help="list users, by default those of the running local server",
        description=(
            "List users: id, email, name and creation time. By default those of the running local server "
            "(`make run`), or of the DynamoDB endpoint in AWS_ENDPOINT_URL_DYNAMODB when no server runs; with "
            "--stack, those of a deployed stack's table (a scan: it reads the whole table, up to --limit matches)."
        ),
    )
    users.add_argument("--search", default="", metavar="TEXT", help="only users whose email contains TEXT, any case")
    users.add_argument(
        "--limit", type=_positive, default=50, metavar="N", help="stop after N users (default: %(default)s)"
    )
    users.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    _store_arguments(users)

    token = commands.add_parser(
        "token",
        help="issue a token for a user, as login would, without their password",
        description=(
            "Print a token for one user on stdout, issued with the current key as login issues it; whose it is "
            "and until when go to stderr, so TOKEN=$(lambda-auth token --email ...) works. Where the users are: "
            "as for `lambda-auth users`. A user that does not exist is an error (exit status 1)."
        ),
    )
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", metavar="EMAIL", help="the user with this email")
    who.add_argument("--id", type=_positive, metavar="N", help="the user with this id")
    token.add_argument(
        "--extras", default="{}", metavar="JSON", help="a JSON object for the token's extras claim (default: {})"
    )
    token.add_argument(
        "--ttl",
        type=_positive,
        metavar="SECONDS",
        help="how long the token is valid (default: the template's TokenTtlSeconds, or the stack's with --stack)",
    )
    _store_arguments(token)
    return parser


def _store_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--jwks",
        type=Path,
        default=runtime.DEFAULT_KEY_FILE,
        metavar="PATH",
        help="the local server's key file, beside which it records its URL while it runs (default: .local/jwks.json)",
    )
    where.add_argument(
        "--stack", metavar="NAME", help="a deployed stack: its UsersTableName and TokenKeysSecretArn outputs"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help=argparse.SUPPRESS)


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jwks",
        type=Path,
        default=runtime.DEFAULT_KEY_FILE,
        metavar="PATH",
        help="the JWK Set file of token keys, created with a fresh key if missing (default: .local/jwks.json)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="show the functions' logs at the template's level")


def _print(stream: TextIO, text: str = "") -> None:
    stream.write(text + "\n")
    stream.flush()


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROGRAM}: %(message)s"))
    cli_logger = logging.getLogger("lambda_auth_cli")
    cli_logger.addHandler(handler)
    cli_logger.setLevel(logging.INFO if verbose else logging.WARNING)
    cli_logger.propagate = False


def _apply_environment(app: sam.Application, key_file: Path, verbose: bool) -> None:
    environment, warnings = runtime.function_environment(app, key_file, verbose)
    for warning in warnings:
        logging.getLogger("lambda_auth_cli").warning(warning)
    os.environ.update(environment)


def _load(functions: dict[str, LocalFunction]) -> None:
    """Each function's cold start, now: an import error stops the command, naming the function."""
    for name, function in functions.items():
        try:
            function.load()
        except Exception as error:
            raise CliError(f"{name} cannot start: {type(error).__name__}: {error}") from None


def _bind(host: str, port: int, gateway: Any) -> Any:
    from .server import LocalServer

    if not 0 <= port <= 65535:
        raise CliError(f"--port {port} is not a port number", exit_code=2)
    try:
        return LocalServer((host, port), gateway, access_log=lambda line: _print(sys.stdout, line))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise CliError(f"port {port} on {host} is in use; stop what holds it or pass --port") from None
        raise CliError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def _url(host: str, port: int, path: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"


def _banner(
    app: sam.Application,
    base_url: str,
    store: runtime.DataStore,
    keys: runtime.KeyFileStatus,
    verbose: bool,
    debug: str,
) -> str:
    api = app.api
    width = max(len(method.http_method) for method in api.methods)
    path_width = max(len(method.resource_path) for method in api.methods) + len(api.stage) + 1
    routes = []
    for method in sorted(api.methods, key=lambda item: (item.resource_path, item.http_method)):
        if method.mock is not None:
            continue
        path = f"/{api.stage}{method.resource_path}"
        target = method.function or ""
        if method.authorizer:
            authorizer = api.authorizers[method.authorizer]
            target += f", behind {authorizer.name} ({authorizer.function})"
        routes.append(f"{method.http_method:<{width}} {path:<{path_width}}  {target}")
    mocked = sorted({method.resource_path for method in api.methods if method.mock is not None})
    if mocked:
        routes.append(f"{'OPTIONS':<{width}} on {', '.join(mocked)}: CORS preflight, as the template configures it")
    key_state = "created now, with a fresh key" if keys.created else "existing"
    logs = "at the template's level" if verbose else f"at {runtime.QUIET_LOG_LEVEL} and above (--verbose for all)"
    lines = [
        f"{PROGRAM}: the API of template.yaml, served locally (API Gateway REST emulated, functions in-process)",
        f"  base URL  {base_url}   (stage {api.stage!r} first in every path, like the deployed ApiUrl;"
        " the SDK's apiGroupBaseUrl)",
        "  routes    " + "\n            ".join(routes),
        f"  data      {store.describe()}",
        f"  keys      {keys.path} ({key_state})",
        f"  docs      {debug}",
        f"  logs      one line per request; function logs {logs}",
        f"Listening on {base_url} (Ctrl-C stops)",
    ]
    return "\n".join(lines)


def _devtools(args: argparse.Namespace, server: Any, api_base_path: str, key_file: Path) -> tuple[Any, str]:
    """Run & Debug for this server, and the banner's line about it."""
    from . import admin
    from .devtools import DevTools, is_loopback, swagger_ui_dir

    loopback = is_loopback(args.host)
    enabled = loopback or args.allow_remote_debug
    origin = _url(args.host, server.port, "")
    ttl = int(os.environ.get("AUTH_TOKEN_TTL_SECONDS") or admin.template_token_ttl())
    store = admin.Store(
        table_name=sam.LOCAL_TABLE_NAME,
        read_keys=admin.key_file_reader(key_file),
        default_ttl_seconds=ttl,
        description=f"the local table {sam.LOCAL_TABLE_NAME!r}",
    )
    tools = DevTools(api_base_path, origin, store, enabled=enabled, loopback_only=not args.allow_remote_debug)
    if not enabled:
        line = (
            f"Run & Debug off: {args.host} is not a loopback address, and /docs hands out tokens for any user"
            " (--allow-remote-debug serves it there)"
        )
    else:
        line = f"{origin}/docs   Run & Debug: Swagger UI, a user picker, one-click tokens; {origin}/openapi.json"
        if swagger_ui_dir() is None:
            line += " (Swagger UI is not installed: pip install swagger-ui-py)"
        if not loopback:
            line += "; open to anyone who reaches this address (--allow-remote-debug)"
    return tools, line


def _record_url(host: str, port: int) -> str:
    """The URL other commands reach this server at: loopback when it listens on every address."""
    reachable = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - compared, not bound
    return _url(reachable, port, "")


def serve(args: argparse.Namespace) -> int:
    """Serve the template's API until Ctrl-C or SIGTERM."""
    from . import admin
    from .gateway import Gateway

    app = runtime.load_application()
    functions = runtime.local_functions(app)
    gateway = Gateway(app.api, functions, region=app.region)
    server = _bind(args.host, args.port, gateway)  # first: a port in use fails before anything starts
    try:
        keys = runtime.ensure_key_file(args.jwks)
        with runtime.data_store() as store:
            _apply_environment(app, keys.path, args.verbose)
            _load(functions)
            server.devtools, debug = _devtools(args, server, gateway.base_path, keys.path)
            base_url = _url(args.host, server.port, gateway.base_path)
            # While it runs, `lambda-auth users` and `token` find it from this record beside its key file.
            admin.write_server_record(keys.path, _record_url(args.host, server.port), os.getpid())
            try:
                _print(sys.stdout, _banner(app, base_url, store, keys, args.verbose, debug))
                server.serve_forever()
            except (KeyboardInterrupt, _Stop):
                _print(sys.stdout, f"{PROGRAM}: stopped")
            finally:
                admin.remove_server_record(keys.path, os.getpid())
    finally:
        server.server_close()
    return 0


def invoke(args: argparse.Namespace) -> int:
    """Run one function with an event file; print its result (or Lambda's error object) as JSON."""
    app = runtime.load_application()
    if args.function not in app.functions:
        names = ", ".join(sorted(app.functions))
        raise CliError(f"no function {args.function!r} in template.yaml; its functions: {names}", exit_code=2)
    event = runtime.read_event(args.event)
    function = runtime.local_functions(app)[args.function]
    keys = runtime.ensure_key_file(args.jwks)
    output = sys.stdout
    with runtime.data_store():
        _apply_environment(app, keys.path, args.verbose)
        request_id = f"local-{int(time.time() * 1000)}"
        # The function's logs go to stderr, so that stdout holds only its result.
        with redirect_stdout(sys.stderr):
            _load({args.function: function})
            try:
                result: Any = function.invoke(event, request_id)
            except FunctionError as error:
                _print(output, json.dumps(error.payload(request_id), indent=2, ensure_ascii=False))
                refused = error.error_message == "Unauthorized"
                note = " (API Gateway answers it with 401 UNAUTHORIZED)" if refused else ""
                raise CliError(f"{args.function} raised {error.error_type}: {error.error_message}{note}") from None
        try:
            text = json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise CliError(f"{args.function} returned a value Lambda cannot send as JSON: {error}") from None
        _print(output, text)
    return 0


def _key_location(args: argparse.Namespace) -> tuple[keyring.KeyLocation, int]:
    """Where the keys are, and the longest lifetime of a token they issue."""
    if args.stack:
        import boto3

        cloudformation = boto3.client("cloudformation")
        secret = keyring.KeySecret(keyring.stack_output(args.stack, "TokenKeysSecretArn", cloudformation))
        ttl = args.token_ttl or int(keyring.stack_parameter(args.stack, "TokenTtlSeconds", cloudformation))
        return secret, ttl
    if not args.jwks.exists():
        raise CliError(f"no key file at {args.jwks}; `lambda-auth serve` creates one on its first start")
    default_ttl = int(template.load()["Parameters"]["TokenTtlSeconds"]["Default"])
    return keyring.KeyFile(args.jwks), args.token_ttl or default_ttl


def keys(args: argparse.Namespace) -> int:
    """List, rotate or prune the token keys; never print a key's secret."""
    try:
        location, token_ttl = _key_location(args)
        document = location.read()
        if args.action == "rotate":
            document, kid = keyring.rotate(document)
            location.write(document)
            _print(sys.stdout, f"{PROGRAM}: added key {kid} to {location.description}; it issues new tokens now")
        elif args.action == "prune":
            document, removed = keyring.prune(document, token_ttl)
            if removed:
                location.write(document)
            gone = ", ".join(removed) if removed else "none: every key may still have live tokens"
            _print(sys.stdout, f"{PROGRAM}: pruned from {location.description}: {gone}")
        for position, key in enumerate(document["keys"]):
            role = "issues and verifies" if position == len(document["keys"]) - 1 else "verifies"
            created = key.get("created_at")
            when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(created)) if created else "creation time unknown"
            _print(sys.stdout, f"  {key.get('kid')}  {role}  ({when})")
    except CliError:
        raise
    except Exception as error:  # AWS, file and JSON errors alike: one line, no traceback
        raise CliError(f"keys {args.action}: {type(error).__name__}: {error}") from None
    return 0


def _scan_progress() -> Any:
    """A progress line on stderr for each page of a scan after the first: only long scans show one."""
    pages = 0

    def report(scanned: int) -> None:
        nonlocal pages
        pages += 1
        if pages > 1:
            _print(sys.stderr, f"{PROGRAM}: scanned {scanned} items...")

    return report


def _when(epoch_seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_seconds))


def _admin_errors(command: str, run: Any) -> int:
    """Run an admin command; its failures become one line: 1 at run time, 2 for a bad value."""
    from . import admin

    try:
        return int(run())
    except CliError:
        raise
    except admin.UserNotFound as error:
        raise CliError(str(error)) from None
    except ValueError as error:
        raise CliError(f"{command}: {error}", exit_code=2) from None
    except Exception as error:  # AWS, network, file and key errors alike: one line, no traceback
        raise CliError(f"{command}: {type(error).__name__}: {error}") from None


def users(args: argparse.Namespace) -> int:
    """List users: id, email, name, creation time; a table, or JSON with --json."""
    from . import admin

    def run() -> int:
        directory = admin.directory(args.stack, args.jwks, _scan_progress())
        found = directory.list_users(args.search, args.limit)
        if args.json:
            _print(sys.stdout, json.dumps([admin.user_json(user) for user in found], indent=2, ensure_ascii=False))
        elif found:
            id_width = max(2, *(len(str(user.id)) for user in found))
            email_width = max(5, *(len(user.email) for user in found))
            name_width = max(4, *(len(user.name) for user in found))
            _print(sys.stdout, f"{'id':>{id_width}}  {'email':<{email_width}}  {'name':<{name_width}}  created (UTC)")
            for user in found:
                created = _when(user.created_at / 1000)
                _print(
                    sys.stdout,
                    f"{user.id:>{id_width}}  {user.email:<{email_width}}  {user.name:<{name_width}}  {created}",
                )
        matching = f" whose email contains {args.search!r}" if args.search else ""
        summary = f"{PROGRAM}: {len(found)} user{'' if len(found) == 1 else 's'}{matching} in {directory.description}"
        if len(found) == args.limit:
            summary += f"; stopped at --limit {args.limit}, there may be more (--search narrows)"
        _print(sys.stderr, summary)
        return 0

    return _admin_errors("users", run)


def token(args: argparse.Namespace) -> int:
    """Print a token for one user (stdout: the token alone; stderr: whose it is and until when)."""
    from . import admin

    try:
        extras = json.loads(args.extras)
    except ValueError as error:
        raise CliError(f"--extras is not JSON: {error}", exit_code=2) from None
    if not isinstance(extras, dict):
        raise CliError('--extras must be a JSON object, e.g. \'{"role": "admin"}\'', exit_code=2)

    def run() -> int:
        who: admin.UserRef = args.id if args.id is not None else admin.normalized_email(args.email)
        directory = admin.directory(args.stack, args.jwks)
        issued = directory.issue(who, args.ttl, extras)
        _print(sys.stdout, issued.token)
        _print(
            sys.stderr,
            f"{PROGRAM}: a token for user {issued.user.id} ({issued.user.email}) from {directory.description},"
            f" valid until {_when(issued.expires_at)} UTC",
        )
        return 0

    return _admin_errors("token", run)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Once: a second SIGTERM (make forwards one to `make run`'s child, which already has the
    # process group's) must not cut the shutdown short, leaving the server's record behind.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stop


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    _configure_logging(args.verbose)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Ctrl-C stops it even where SIGINT came in ignored (a job started in the background by a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        command = {"serve": serve, "invoke": invoke, "keys": keys, "users": users, "token": token}[args.command]
        return command(args)
    except CliError as error:
        _print(sys.stderr, f"{PROGRAM}: {error}")
        return error.exit_code
    except (KeyboardInterrupt, _Stop):
        _print(sys.stderr, f"{PROGRAM}: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
