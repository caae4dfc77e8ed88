"""The local outbox, read: the mail the functions sent while `lambda-auth serve` ran, for
`lambda-auth outbox` and Run & Debug's Mail panel (`/_local/outbox`).

Locally the layer's `mail.send` appends each message to `outbox.jsonl` beside the key file, one
JSON line `{"to", "subject", "text", "sent_at"}`, under an exclusive lock. The messages hold
password-reset codes: showing them is what the outbox is for, locally; nothing here logs one.
"""

from __future__ import annotations

import argparse
import fcntl
import json
from pathlib import Path
from typing import Any

from . import local_aws
from .console import CliError, note, say

FIELDS = ("to", "subject", "text", "sent_at")


def _mail(line: str) -> dict[str, str] | None:
    try:
        record: Any = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not all(isinstance(record.get(name), str) for name in FIELDS):
        return None
    return {name: record[name] for name in FIELDS}


def read(path: Path) -> tuple[list[dict[str, str]], int] | None:
    """The outbox's messages, newest first (the file's order, reversed: `sent_at` has only seconds), and how
    many lines are not a message; None when there is no outbox yet. A shared lock: a message is read whole."""
    try:
        with open(path, encoding="utf-8") as stream:
            fcntl.flock(stream, fcntl.LOCK_SH)
            lines = [line for line in stream.read().splitlines() if line.strip()]
    except FileNotFoundError:
        return None
    parsed = [_mail(line) for line in reversed(lines)]
    messages = [mail for mail in parsed if mail is not None]
    return messages, len(parsed) - len(messages)


def outbox_command(args: argparse.Namespace) -> int:
    """Print the local outbox, newest first: a block per message, or a JSON array with --json."""
    path = args.sam_local / local_aws.OUTBOX_NAME if args.sam_local else local_aws.outbox_path(args.jwks)
    try:
        box = read(path)
    except OSError as error:
        raise CliError(f"outbox: cannot read {path}: {error.strerror or error}") from None
    messages, unreadable = box or ([], 0)
    if args.json:
        say(json.dumps(messages, indent=2, ensure_ascii=False))
    else:
        for mail in messages:
            say(f"{mail['sent_at']}  to {mail['to']}  {mail['subject']}")
            for line in mail["text"].rstrip("\n").splitlines():
                say(f"    {line}" if line.strip() else "")
            say()
    if box is None:
        maker = "`lambda-auth serve` makes it beside its key file"
        if args.sam_local:
            maker = "`lambda-auth sam-local` makes it in its state folder"
        note(f"no mail: no outbox at {path} ({maker}, and puts there what the functions mail)")
    elif not messages:
        note(f"no mail: the outbox {path} is empty (the local server empties it when it starts)")
    else:
        note(f"{len(messages)} message{'' if len(messages) == 1 else 's'} in {path}, newest first")
    if unreadable:
        lines = "1 line is not a message" if unreadable == 1 else f"{unreadable} lines are not messages"
        note(f"{lines} in {path}: left out")
    return 0
