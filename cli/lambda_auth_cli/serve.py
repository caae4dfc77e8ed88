"""`lambda-auth serve`: the template's API over HTTP, as API Gateway would serve it, with an embedded DynamoDB."""

from __future__ import annotations

import argparse
import errno
import os
from collections.abc import Collection

from lambda_auth import settings

from . import local_aws, template
from .admin import ServerRecord, UserDirectory
from .console import PROGRAM, CliError, Stop, say
from .devtools import DevTools, swagger_ui_dir
from .gateway import Gateway
from .jwks_file import JwksFile
from .lambda_runtime import FunctionInstances, FunctionLoadError
from .local_aws import is_loopback
from .roles import Roles
from .server import LocalServer


def start_functions(
    app: template.Application,
    keys: JwksFile,
    roles: Roles,
    table: local_aws.LocalTable,
    verbose: bool,
    lambda_endpoint: str | None = None,
    started: Collection[str] | None = None,
    logs_to_stderr: bool = False,
) -> dict[str, FunctionInstances]:
    """Every function's instances, each with its own environment and its role's key; the first instance of each
    function in `started` (all by default) started now, so that an import error stops the command at once.
    This process keeps the variables the functions share, for its own use of the layer.
    On a DynamoDB endpoint of the developer's (`table` not embedded), which knows no role's key, the functions keep
    this process's credentials instead, and their roles are not enforced."""
    environments = local_aws.function_environments(app, keys.path, verbose, lambda_endpoint)
    local_aws.apply(local_aws.shared(environments))
    functions = {}
    for name, function in app.functions.items():
        key = roles.by_function[name].credentials
        own = {"AWS_ACCESS_KEY_ID": key.access_key_id, "AWS_SECRET_ACCESS_KEY": key.secret_access_key}
        own = own if table.credentials is not None else {}
        functions[name] = FunctionInstances(function, environments[name] | own, logs_to_stderr=logs_to_stderr)
    names = list(app.functions if started is None else started)
    for name in names:  # every cold start at once, then each awaited
        functions[name].launch()
    for name in names:
        try:
            functions[name].start()
        except FunctionLoadError as error:
            stop_functions(functions)
            raise CliError(f"{name} cannot start: {error}") from None
    return functions


def stop_functions(functions: dict[str, FunctionInstances]) -> None:
    for function in functions.values():
        function.close()


def _bind(host: str, port: int, gateway: Gateway) -> LocalServer:
    if not 0 <= port <= 65535:
        raise CliError(f"--port {port} is not a port number", exit_code=2)
    try:
        return LocalServer((host, port), gateway, access_log=say)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise CliError(f"port {port} on {host} is in use; stop what holds it or pass --port") from None
        raise CliError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def _url(host: str, port: int, path: str = "") -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"


def devtools(args: argparse.Namespace, port: int, base_path: str, keys: JwksFile) -> tuple[DevTools, str]:
    """Run & Debug for this server, and the banner's line about it."""
    loopback = is_loopback(args.host)
    enabled = loopback or args.allow_remote_debug
    origin = _url(args.host, port)
    directory = UserDirectory(
        keys.key_set, settings.tokens().ttl_seconds, f"the local table {template.LOCAL_TABLE_NAME!r}"
    )
    outbox = local_aws.outbox_path(keys.path)
    tools = DevTools(
        base_path, origin, directory, enabled, loopback_only=not args.allow_remote_debug, outbox_path=outbox
    )
    if not enabled:
        return tools, (
            f"Run & Debug off: {args.host} is not a loopback address, and /docs hands out tokens for any user"
            " (--allow-remote-debug serves it there)"
        )
    line = f"{origin}/docs   Run & Debug: Swagger UI, a user picker, one-click tokens, mail; {origin}/openapi.json"
    if swagger_ui_dir() is None:
        line += " (Swagger UI is not installed: pip install swagger-ui-py)"
    if not loopback:
        line += "; open to anyone who reaches this address (--allow-remote-debug)"
    return tools, line


def _banner(
    app: template.Application, base_url: str, data: str, keys: str, debug: str, verbose: bool, enforced: bool
) -> str:
    api = app.api
    proxies = sorted((m for m in api.methods if m.mock is None), key=lambda m: (m.resource_path, m.http_method))
    width = max(len(method.http_method) for method in api.methods)
    path_width = max(len(method.resource_path) for method in api.methods) + len(api.stage) + 1
    routes = []
    for method in proxies:
        target = method.function or ""
        if method.authorizer:
            target += f", behind {method.authorizer} ({api.authorizers[method.authorizer].function})"
        routes.append(f"{method.http_method:<{width}} {'/' + api.stage + method.resource_path:<{path_width}}  {target}")
    mocked = sorted({method.resource_path for method in api.methods if method.mock is not None})
    if mocked:
        routes.append(f"{'OPTIONS':<{width}} on {', '.join(mocked)}: CORS preflight, as the template configures it")
    logs = "at the template's level" if verbose else f"at {local_aws.QUIET_LOG_LEVEL} and above (--verbose for all)"
    lines = [
        f"{PROGRAM}: the API of template.yaml, served locally (API Gateway REST emulated, each function in"
        + (" processes of its own, under its template role)" if enforced else " processes of its own)"),
        f"  base URL  {base_url}   (stage {api.stage!r} first in every path, like the deployed ApiUrl;"
        " the SDK's apiGroupBaseUrl)",
        "  routes    " + "\n            ".join(routes),
        f"  data      {data}",
        f"  keys      {keys}",
        f"  docs      {debug}",
        f"  logs      one line per request; function logs {logs}",
        f"Listening on {base_url} (Ctrl-C stops)",
    ]
    return "\n".join(lines)


def _record_url(host: str, port: int) -> str:
    """The URL other commands reach this server at: loopback when it listens on every address."""
    reachable = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - compared, not bound
    return _url(reachable, port)


def serve(args: argparse.Namespace) -> int:
    """Serve the template's API until Ctrl-C or SIGTERM."""
    app = template.application(overrides=dict(args.parameter_overrides))
    roles = Roles(app)
    gateway = Gateway(app.api, {}, region=app.region)
    server = _bind(args.host, args.port, gateway)  # a port in use fails first
    functions: dict[str, FunctionInstances] = {}
    try:
        keys = JwksFile(args.jwks)
        created = keys.ensure()
        with local_aws.local_table(roles) as table:
            local_aws.empty_outbox(keys.path)  # this run's mail only
            functions = start_functions(app, keys, roles, table, args.verbose, _record_url(args.host, server.port))
            gateway.functions = functions
            server.lambda_api = local_aws.LambdaInvokeApi(functions, roles, app.region)
            server.devtools, debug = devtools(args, server.port, gateway.base_path, keys)
            base_url = _url(args.host, server.port, gateway.base_path)
            # While it runs, `lambda-auth users` and `token` find its table from this record beside its key file.
            key = table.credentials
            run_key = (key.access_key_id, key.secret_access_key) if key else (None, None)
            url = _record_url(args.host, server.port)
            record = ServerRecord(url, os.getpid(), str(keys.path), table.endpoint_url, table.table_name, *run_key)
            record.write()
            try:
                key_line = f"{keys.path} ({'created now, with a fresh key' if created else 'existing'})"
                enforced = table.credentials is not None  # as start_functions decides
                say(_banner(app, base_url, table.describe(), key_line, debug, args.verbose, enforced))
                server.serve_forever()
            except (KeyboardInterrupt, Stop):
                say(f"{PROGRAM}: stopped")
            finally:
                record.remove()
    finally:
        stop_functions(functions)
        server.server_close()
    return 0
