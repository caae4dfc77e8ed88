"""What every `lambda-auth` command shares: its name, its one-line errors, and how it prints."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

PROGRAM = "lambda-auth"


class CliError(Exception):
    """An error the command reports in one line, `lambda-auth: ...`, with its exit status:
    1 for a failure at run time, 2 for a usage error (a bad argument, event file or template)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class Stop(BaseException):
    """SIGTERM, handled like Ctrl-C: like KeyboardInterrupt, no `except Exception` takes it for a failure."""


@contextmanager
def command_errors(command: str, bad_values: bool = True) -> Iterator[None]:
    """A command's failures as one CliError: status 1, or 2 for a ValueError if `bad_values` (a bad value given)."""
    try:
        yield
    except CliError:
        raise
    except Exception as error:  # AWS, network, file and key errors alike: one line, no traceback
        if bad_values and isinstance(error, ValueError):
            raise CliError(f"{command}: {error}", exit_code=2) from None
        raise CliError(f"{command}: {type(error).__name__}: {error}") from None


def utc(epoch_seconds: float) -> str:
    """A time for people: `2026-11-28 22:35:01`, in UTC."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_seconds))


def say(text: str = "", stream: TextIO | None = None) -> None:
    """Print a line now (stdout unless told otherwise), as a long-running command must."""
    target = stream or sys.stdout
    target.write(text + "\n")
    target.flush()


def note(text: str) -> None:
    """A line for the person at the terminal, on stderr: `lambda-auth: text`."""
    say(f"{PROGRAM}: {text}", sys.stderr)
