"""Email: short plain-text messages, through Amazon SES, or locally into an outbox file.

In AWS a message goes out with SES v2's SendEmail (boto3, imported only by the function
that mails) from AUTH_MAIL_SENDER. Locally AUTH_MAIL_OUTBOX names a file instead, and
nothing leaves the machine: each message is one JSON line appended to it (`to_outbox`, the
one writer of that format), which `lambda-auth outbox` and Run & Debug's Mail panel read.
No message is ever logged.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from . import settings


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    text: str


def send(message: Message) -> None:
    """Send `message`, or put it in the local outbox."""
    configured = settings.mail()
    if configured.outbox:
        to_outbox(configured.outbox, message)
        return
    _ses().send_email(
        FromEmailAddress=configured.sender,
        Destination={"ToAddresses": [message.to]},
        Content={
            "Simple": {
                "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": message.text, "Charset": "UTF-8"}},
            }
        },
    )


def to_outbox(path: str | os.PathLike[str], message: Message) -> None:
    """Append `message` to the local outbox file at `path`: one JSON line, {to, subject, text, sent_at}."""
    record = {**asdict(message), "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    # Readable by its owner only: the messages hold reset codes.
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with open(descriptor, "a", encoding="utf-8") as outbox:
        fcntl.flock(outbox, fcntl.LOCK_EX)  # a line at a time, whoever else writes
        outbox.write(json.dumps(record, ensure_ascii=False) + "\n")


@functools.cache
def _ses() -> Any:
    import boto3

    return boto3.client("sesv2")
