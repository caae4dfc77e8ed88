"""The local outbox, read: the mail the functions sent while `lambda-auth serve` ran, for
`lambda-auth outbox` and Run & Debug's Mail panel (`/_local/outbox`).

Locally the layer's `mail.send` appends each message to `outbox.jsonl` beside the key
file (`local_aws.outbox_path`), one JSON line `{"to", "subject", "text", "sent_at"}`,
under an exclusive lock; `serve` empties it when it starts. In AWS mail goes through
Amazon SES and there is no outbox. The messages hold password-reset codes: showing them
is what the outbox is for, locally; nothing here logs one.
"""

from __future__ import annotations

import argparse
import fcntl
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import local_aws
from .console import CliError, note, say

FIELDS = ("to", "subject", "text", "sent_at")


@dataclass(frozen=True)
class Mail:
    """One message, as the functions mailed it."""

    to: str
    subject: str
    text: str
    sent_at: str  # UTC, ISO 8601 to the second: 2026-11-28T22:35:01Z

    def json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Outbox:
    """What the outbox file holds: its messages, newest first."""

    path: Path
    exists: bool
    messages: list[Mail]
    unreadable: int = 0  # lines that are not a message (none, unless someone else wrote to the file)


def _mail(line: str) -> Mail | None:
    try:
        record: Any = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not all(isinstance(record.get(name), str) for name in FIELDS):
        return None
    return Mail(*(record[name] for name in FIELDS))


def read(path: Path) -> Outbox:
    """The outbox at `path`, newest first (the file's order, reversed: `sent_at` has only seconds).

    A missing file is an empty outbox that does not exist yet. The read takes a shared lock,
    so a message being written is read whole or not at all.
    """
    try:
        with open(path, encoding="utf-8") as stream:
            fcntl.flock(stream, fcntl.LOCK_SH)
            lines = [line for line in stream.read().splitlines() if line.strip()]
    except FileNotFoundError:
        return Outbox(path, exists=False, messages=[])
    parsed = [_mail(line) for line in reversed(lines)]
    messages = [mail for mail in parsed if mail is not None]
    return Outbox(path, exists=True, messages=messages, unreadable=len(parsed) - len(messages))


def _show(mail: Mail) -> None:
    say(f"{mail.sent_at}  to {mail.to}  {mail.subject}")
    for line in mail.text.rstrip("\n").splitlines():
        say(f"    {line}" if line.strip() else "")
    say()


def outbox_command(args: argparse.Namespace) -> int:
    """Print the local outbox, newest first: a block per message, or a JSON array with --json."""
    path = args.sam_local / local_aws.OUTBOX_NAME if args.sam_local else local_aws.outbox_path(args.jwks)
    try:
        box = read(path)
    except OSError as error:
        raise CliError(f"outbox: cannot read {path}: {error.strerror or error}") from None
    if args.json:
        say(json.dumps([mail.json() for mail in box.messages], indent=2, ensure_ascii=False))
    else:
        for mail in box.messages:
            _show(mail)
    if not box.exists:
        maker = (
            "`lambda-auth sam-local` makes it in its state folder"
            if args.sam_local
            else ("`lambda-auth serve` makes it beside its key file")
        )
        note(f"no mail: no outbox at {path} ({maker}, and puts there what the functions mail)")
    elif not box.messages:
        note(f"no mail: the outbox {path} is empty (the local server empties it when it starts)")
    else:
        count = len(box.messages)
        note(f"{count} message{'' if count == 1 else 's'} in {path}, newest first")
    if box.unreadable:
        lines = "1 line is not a message" if box.unreadable == 1 else f"{box.unreadable} lines are not messages"
        note(f"{lines} in {path}: left out")
    return 0
