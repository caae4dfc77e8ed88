"""The `lambda-auth` command: `serve` the template's API locally, `invoke` one function with an event,
run it under `sam-local` in Docker, manage the token `keys`, list `users`, issue a `token` for
one, list and end their `sessions` (`logout`), locally or in a deployed stack; print the local
`outbox`. README.md's "Local server", "Admin commands" and "Test with sam local" say more.

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

SAM_LOCAL_STATE = PROJECT_ROOT / ".local" / "sam-local"
KEY_FILE_HELP = "the JWK Set file of token keys, created with a fresh key if missing (default: .local/jwks.json)"
RECORD_HELP = "the local server's key file, beside which it records its table while it runs (default: .local/jwks.json)"
STACK_HELP = "a deployed stack: its UsersTableName and TokenKeysSecretArn outputs"
WHERE = (
    "Where the users are: the running local server (`make run`), else the DynamoDB endpoint in "
    "AWS_ENDPOINT_URL_DYNAMODB, or with --stack a deployed stack's table."
)

# Each command's module and function, imported only when that command runs.
_COMMANDS = {
    "serve": ("serve", "serve"),
    "invoke": ("invoke", "invoke"),
    "sam-local": ("sam_local", "command"),
    "keys": ("key_rotation", "command"),
    "users": ("admin", "users_command"),
    "token": ("admin", "token_command"),
    "sessions": ("user_sessions", "sessions_command"),
    "logout": ("user_sessions", "logout_command"),
    "outbox": ("outbox", "outbox_command"),
}


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


def _override(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not Name=Value")
    return name, value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROGRAM,
        description="Local tooling for lambda-auth: run the API of template.yaml without an AWS account, in this "
        "process (serve) or under sam local in Docker (sam-local); manage keys, users and sessions.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, summary: str, description: str = "") -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=f"{summary[0].upper()}{summary[1:]}. {description}")

    def where(sub: argparse.ArgumentParser, jwks: str, stack: str | None = None, verbose: str | None = None) -> None:
        """--jwks (or, where given, --stack instead) and --verbose."""
        group = sub.add_mutually_exclusive_group() if stack else sub
        group.add_argument("--jwks", type=Path, default=DEFAULT_KEY_FILE, metavar="PATH", help=jwks)
        if stack:
            group.add_argument("--stack", metavar="NAME", help=stack)
        sub.add_argument("--verbose", "-v", action="store_true", help=verbose or argparse.SUPPRESS)

    def user(sub: argparse.ArgumentParser) -> None:
        who = sub.add_mutually_exclusive_group(required=True)
        who.add_argument("--email", metavar="EMAIL", help="the user with this email")
        who.add_argument("--id", type=_positive, metavar="N", help="the user with this id")

    def overrides(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--parameter-overrides",
            nargs="+",
            type=_override,
            default=[],
            metavar="NAME=VALUE",
            help="template parameters for this run, as `sam deploy` takes them, e.g. SignupMaxPerIp=1000",
        )

    def as_json(sub: argparse.ArgumentParser, shape: str = "a JSON array") -> None:
        sub.add_argument("--json", action="store_true", help=f"print {shape} instead of a table")

    verbose = "show the functions' logs at the template's level"
    serve = command(
        "serve",
        "serve the template's API over HTTP, with an embedded DynamoDB",
        "Routes, the Lambda authorizer, gateway responses and CORS as API Gateway has them; the functions run "
        "in this process. Data lives in memory unless AWS_ENDPOINT_URL_DYNAMODB names another endpoint.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=3000, help="port to listen on, 0 for any free one (default: 3000)")
    serve.add_argument(
        "--allow-remote-debug",
        action="store_true",
        help="serve Run & Debug (/docs and its token endpoints) on a non-loopback --host too: anyone who reaches "
        "it can get a token for any user (default: only on a loopback address)",
    )
    overrides(serve)
    where(serve, KEY_FILE_HELP, verbose=verbose)

    invoke = command(
        "invoke",
        "run one function with an event file and print its result as JSON",
        "As `sam local invoke` does. A function that raised prints Lambda's error object and exits with status 1.",
    )
    invoke.add_argument("function", metavar="FUNCTION", help="the function's logical id, e.g. SignupFunction")
    invoke.add_argument("--event", "-e", required=True, type=Path, help="a JSON event file, e.g. events/signup.json")
    overrides(invoke)
    where(invoke, KEY_FILE_HELP, verbose=verbose)

    sam_local = command(
        "sam-local",
        "run sam local start-api on Docker, the functions on a moto (DynamoDB, Secrets Manager, SES)",
        "On the build `make artifact` made; dockerd is started here, as root, if no engine runs. The run's env "
        "vars file, SAM CLI config, moto key and outbox go into --state-dir, and are removed when it stops.",
    )
    sam_local.add_argument(
        "--port", type=_positive, default=3001, help="sam local's port on 127.0.0.1 (default: %(default)s)"
    )
    sam_local.add_argument(
        "--images",
        choices=["local", "aws"],
        default="local",
        help="the functions' image: local, built here from Debian (root, once per machine), or aws, AWS's images, "
        "which SAM CLI pulls (default: %(default)s)",
    )
    sam_local.add_argument(
        "--state-dir", type=Path, default=SAM_LOCAL_STATE, metavar="PATH", help="the run's files (default: %(default)s)"
    )
    sam_local.add_argument("--verbose", "-v", action="store_true", help=argparse.SUPPRESS)

    keys = command(
        "keys",
        "list, rotate or prune the token keys (the local key file, or a stack's secret)",
        "`rotate` adds a key that issues every token from then on; earlier keys keep verifying theirs. `prune` "
        "removes the keys whose every token has expired.",
    )
    keys.add_argument("action", choices=["list", "rotate", "prune"], help="what to do")
    where(keys, "the local key file (default)", "a deployed stack: its TokenKeysSecretArn output's secret")
    keys.add_argument(
        "--token-ttl",
        type=int,
        metavar="SECONDS",
        help="the longest token lifetime, for prune (default: the stack's TokenTtlSeconds, or the template's)",
    )

    users = command("users", "list users: id, email, name and creation time", WHERE)
    users.add_argument("--search", default="", metavar="TEXT", help="only users whose email contains TEXT, any case")
    users.add_argument("--limit", type=_positive, default=50, metavar="N", help="at most N users (default: 50)")
    as_json(users)
    where(users, RECORD_HELP, STACK_HELP)

    token = command(
        "token",
        "issue a token for a user, as login would, without their password",
        "The token alone goes to stdout, whose it is and until when to stderr. " + WHERE,
    )
    user(token)
    token.add_argument("--extras", default="{}", metavar="JSON", help="a JSON object for the token's extras claim")
    token.add_argument(
        "--ttl", type=_positive, metavar="SECONDS", help="how long it is valid (default: TokenTtlSeconds)"
    )
    where(token, RECORD_HELP, STACK_HELP)

    sessions = command("sessions", "list a user's live sign-in sessions, newest first", WHERE)
    user(sessions)
    as_json(sessions)
    where(sessions, RECORD_HELP, STACK_HELP)

    logout = command("logout", "end a user's newest sign-in session, or all of them", WHERE)
    user(logout)
    logout.add_argument("--all", action="store_true", help="end every session of the user, not only the newest")
    where(logout, RECORD_HELP, STACK_HELP)

    outbox = command(
        "outbox",
        "print the mail the local server sent (password-reset codes), newest first",
        "`lambda-auth serve` empties it when it starts; a deployed stack mails through Amazon SES.",
    )
    as_json(outbox, "a JSON array of {to, subject, text, sent_at}")
    outbox.add_argument(
        "--sam-local",
        nargs="?",
        const=SAM_LOCAL_STATE,
        type=Path,
        metavar="STATE_DIR",
        help="the outbox of a running `lambda-auth sam-local` instead (its --state-dir)",
    )
    where(outbox, "the local server's key file, beside which its outbox is (default: .local/jwks.json)")
    return parser


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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROGRAM}: %(message)s"))
    cli_logger = logging.getLogger("lambda_auth_cli")
    cli_logger.addHandler(handler)
    cli_logger.setLevel(logging.INFO if args.verbose else logging.WARNING)
    cli_logger.propagate = False
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Ctrl-C stops it even where SIGINT came in ignored (a job started in the background by a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    module, function = _COMMANDS[args.command]
    run: Callable[[argparse.Namespace], int] = getattr(import_module(f".{module}", __package__), function)
    try:
        return run(args)
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
