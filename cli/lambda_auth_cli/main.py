"""The `lambda-auth` command: `serve` the template's API locally, `invoke` one function with an event,
run it under `sam-local` in Docker, manage the token `keys`, list `users`, issue a `token` for
one, list and end their `sessions` (`logout`), locally or in a deployed stack; print the local
`outbox`.

Errors are one line on stderr, `lambda-auth: ...`, with exit status 1 for a failure at
run time and 2 for a usage error (a bad argument, event file or template).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path
from types import FrameType
from typing import NoReturn

from .console import PROGRAM, CliError, Stop, note
from .jwks_file import DEFAULT_PATH as DEFAULT_KEY_FILE
from .template import PROJECT_ROOT, TemplateError


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors in one line like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROGRAM}: {message} (see `{self.prog} --help`)\n")


SAM_LOCAL_STATE = PROJECT_ROOT / ".local" / "sam-local"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def _override(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not Name=Value")
    return name, value


def _overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        type=_override,
        default=[],
        metavar="NAME=VALUE",
        help="template parameters for this run, as `sam deploy` takes them, e.g. SignupMaxPerIp=1000 "
        "(default: the template's defaults)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROGRAM,
        description=(
            "Local tooling for lambda-auth: run the API of template.yaml without an AWS account, in this "
            "process (serve) or under sam local in Docker (sam-local)."
        ),
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
    _overrides(serve)
    _where(serve, KEY_FILE_HELP, verbose=VERBOSE_HELP)

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
    _overrides(invoke)
    _where(invoke, KEY_FILE_HELP, verbose=VERBOSE_HELP)

    sam_local = commands.add_parser(
        "sam-local",
        help="run sam local start-api on Docker, the functions on a moto (DynamoDB, Secrets Manager, SES)",
        description=(
            "Run `sam local start-api` on the build `make artifact` made, in Docker (dockerd is started here, "
            "as root, if no engine runs, and stopped at the end), with moto standing in for DynamoDB, Secrets "
            "Manager and SES on the Docker bridge's address, and `sam local start-lambda` running the functions "
            "that one function invokes (the password reset's mailer). It writes the env vars file, SAM CLI's "
            "config and the moto's key into --state-dir for `sam local invoke` from another terminal, and the "
            "mail the functions send into outbox.jsonl there; it removes them when it stops."
        ),
    )
    sam_local.add_argument(
        "--port",
        type=_positive,
        default=3001,
        help="the port sam local listens on, on 127.0.0.1 (default: %(default)s; `make run` has 3000)",
    )
    sam_local.add_argument(
        "--images",
        choices=["local", "aws"],
        default="local",
        help="the functions' image: local, built here from Debian (root, once per machine), or aws, AWS's images, "
        "which SAM CLI pulls (default: %(default)s)",
    )
    sam_local.add_argument(
        "--state-dir",
        type=Path,
        default=SAM_LOCAL_STATE,
        metavar="PATH",
        help="where the run's files go (default: .local/sam-local)",
    )
    sam_local.add_argument("--verbose", "-v", action="store_true", help=argparse.SUPPRESS)

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
    _where(keys, "the local key file (default)", "a deployed stack: its TokenKeysSecretArn output's secret")
    keys.add_argument(
        "--token-ttl",
        type=int,
        metavar="SECONDS",
        help="the longest token lifetime, for prune (default: the stack's TokenTtlSeconds, or the template's)",
    )

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
    _where(users, RECORD_HELP, STACK_HELP)

    token = commands.add_parser(
        "token",
        help="issue a token for a user, as login would, without their password",
        description=(
            "Print a token for one user on stdout, issued with the current key as login issues it; whose it is "
            "and until when go to stderr, so TOKEN=$(lambda-auth token --email ...) works. Where the users are: "
            "as for `lambda-auth users`. A user that does not exist is an error (exit status 1)."
        ),
    )
    _user(token)
    token.add_argument(
        "--extras", default="{}", metavar="JSON", help="a JSON object for the token's extras claim (default: {})"
    )
    token.add_argument(
        "--ttl",
        type=_positive,
        metavar="SECONDS",
        help="how long the token is valid (default: the template's TokenTtlSeconds, or the stack's with --stack)",
    )
    _where(token, RECORD_HELP, STACK_HELP)

    sessions = commands.add_parser(
        "sessions",
        help="list a user's live sign-in sessions, newest first",
        description=(
            "List one user's live sign-in sessions, newest first: id, when it began and when its latest token "
            "expires (UTC). Every token belongs to a session: signup, login, a password reset and `lambda-auth "
            "token` each begin one. A session whose tokens have all expired is over: it is left out, and counted. "
            "Where the users are: as for `lambda-auth users`. A user that does not exist is an error (exit status 1)."
        ),
    )
    _user(sessions)
    sessions.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    _where(sessions, RECORD_HELP, STACK_HELP)

    logout = commands.add_parser(
        "logout",
        help="end a user's newest sign-in session, or all of them",
        description=(
            "End the user's newest live session, or with --all every session (as POST /auth/logout does with "
            "scope global), and print the sessions ended. Their tokens are refused from then on (in a stack, by "
            "every authorizer within its SessionCheckSeconds). Where the users are: as for `lambda-auth users`. "
            "A user that does not exist, or has no live session, is an error (exit status 1)."
        ),
    )
    _user(logout)
    logout.add_argument("--all", action="store_true", help="end every session of the user, not only the newest")
    _where(logout, RECORD_HELP, STACK_HELP)

    outbox = commands.add_parser(
        "outbox",
        help="print the mail the local server sent (password-reset codes), newest first",
        description=(
            "Print the local outbox, newest first: what the functions mailed while `lambda-auth serve` ran (it "
            "empties the outbox when it starts). Locally mail goes to no one: it goes to outbox.jsonl, beside the "
            "server's key file. A deployed stack sends it through Amazon SES, so there is no --stack. An empty "
            "outbox is no error (exit status 0)."
        ),
    )
    outbox.add_argument("--json", action="store_true", help="print a JSON array of {to, subject, text, sent_at}")
    outbox.add_argument(
        "--sam-local",
        nargs="?",
        const=SAM_LOCAL_STATE,
        type=Path,
        metavar="STATE_DIR",
        help="the outbox of a running `lambda-auth sam-local` instead (its --state-dir, default .local/sam-local)",
    )
    _where(outbox, "the local server's key file, beside which its outbox is (default: .local/jwks.json)")
    return parser


def _user(parser: argparse.ArgumentParser) -> None:
    """--email or --id: the user a command is about."""
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", metavar="EMAIL", help="the user with this email")
    who.add_argument("--id", type=_positive, metavar="N", help="the user with this id")


KEY_FILE_HELP = "the JWK Set file of token keys, created with a fresh key if missing (default: .local/jwks.json)"
RECORD_HELP = "the local server's key file, beside which it records its table while it runs (default: .local/jwks.json)"
STACK_HELP = "a deployed stack: its UsersTableName and TokenKeysSecretArn outputs"
VERBOSE_HELP = "show the functions' logs at the template's level"


def _where(parser: argparse.ArgumentParser, jwks: str, stack: str | None = None, verbose: str | None = None) -> None:
    """--jwks (or, where given, --stack instead) and --verbose."""
    where = parser.add_mutually_exclusive_group() if stack else parser
    where.add_argument("--jwks", type=Path, default=DEFAULT_KEY_FILE, metavar="PATH", help=jwks)
    if stack:
        where.add_argument("--stack", metavar="NAME", help=stack)
    parser.add_argument("--verbose", "-v", action="store_true", help=verbose or argparse.SUPPRESS)


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROGRAM}: %(message)s"))
    cli_logger = logging.getLogger("lambda_auth_cli")
    cli_logger.addHandler(handler)
    cli_logger.setLevel(logging.INFO if verbose else logging.WARNING)
    cli_logger.propagate = False


# Each command's module and function, imported only when that command runs.
_COMMANDS = {
    "serve": ("serve", "serve"),
    "invoke": ("invoke", "invoke"),
    "keys": ("key_rotation", "command"),
    "users": ("admin", "users_command"),
    "token": ("admin", "token_command"),
    "sam-local": ("sam_local", "command"),
    "sessions": ("user_sessions", "sessions_command"),
    "logout": ("user_sessions", "logout_command"),
    "outbox": ("outbox", "outbox_command"),
}


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    module, function = _COMMANDS[name]
    return getattr(import_module(f".{module}", __package__), function)  # type: ignore[no-any-return]


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Once: a second SIGTERM (make forwards one to `make run`'s child, which already has the
    # process group's) must not cut the shutdown short, leaving the server's record behind.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stop


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
        return _command(args.command)(args)
    except TemplateError as error:
        note(str(error))
        return 2
    except CliError as error:
        note(str(error))
        return error.exit_code
    except (KeyboardInterrupt, Stop):
        note("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
