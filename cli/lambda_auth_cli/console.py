"""What every `lambda-auth` command shares: its name, its one-line errors, and how it prints."""

from __future__ import annotations

import sys
from typing import TextIO

PROGRAM = "lambda-auth"


class CliError(Exception):
    """An error the command reports in one line, `lambda-auth: ...`, with its exit status:
    1 for a failure at run time, 2 for a usage error (a bad argument, event file or template)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class Stop(Exception):
    """SIGTERM, handled like Ctrl-C."""


def say(text: str = "", stream: TextIO | None = None) -> None:
    """Print a line now (stdout unless told otherwise), as a long-running command must."""
    target = stream or sys.stdout
    target.write(text + "\n")
    target.flush()


def note(text: str) -> None:
    """A line for the person at the terminal, on stderr: `lambda-auth: text`."""
    say(f"{PROGRAM}: {text}", sys.stderr)
