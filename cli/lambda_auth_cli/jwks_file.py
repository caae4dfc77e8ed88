"""The local JWK Set file of token keys (`.local/jwks.json` by default): created, read and written here only.

The functions read it through the layer (AUTH_JWKS_FILE); everything local goes through `JwksFile`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambda_auth.keys import KeySet, KeySetError, as_key_set, new_key, parse_key_set

from . import template
from .console import CliError

DEFAULT_PATH = template.PROJECT_ROOT / ".local" / "jwks.json"


@dataclass(frozen=True)
class JwksFile:
    """A JWK Set file; every read goes to the file, so a rotation is seen at once."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", self.path.expanduser().absolute())

    def ensure(self) -> bool:
        """Create the file with one fresh key when it is missing, and check it either way; whether it was created."""
        created = not self.path.exists()
        if created:
            try:
                self.write({"keys": [new_key()]})
            except OSError as error:
                raise CliError(f"cannot create the key file {self.path}: {error.strerror}") from None
        try:
            self.key_set()
        except KeySetError as error:
            raise CliError(f"the key file {self.path} is not a usable JWK Set: {error}") from None
        return created

    def _text(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CliError(f"no key file at {self.path}; `lambda-auth serve` creates one on its first start") from None
        except OSError as error:
            raise CliError(f"cannot read the key file {self.path}: {error.strerror}") from None

    def read(self) -> tuple[dict[str, Any], str]:
        """The file's JWK Set as a document (a single bare JWK reads as a set of one), and its version."""
        text = self._text()
        return as_key_set(json.loads(text)), hashlib.sha256(text.encode()).hexdigest()

    def key_set(self) -> KeySet:
        """The file's keys, parsed and checked as the functions parse them."""
        return parse_key_set(self._text())

    def write(self, document: dict[str, Any], version: str | None = None) -> None:
        """Replace the file's set with `document`, atomically, mode 0600; given the `version` read,
        only if the file still holds it (a lock beside the file keeps two writers apart)."""
        parse_key_set(json.dumps(document))  # never write a set the functions cannot load
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if version is not None and self.read()[1] != version:
                raise CliError(f"{self.path} changed since it was read (another rotation?); run it again")
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".jwks-")  # mode 0600
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as stream:
                    json.dump(document, stream, indent=2)
                os.replace(temporary, self.path)
            except BaseException:
                os.unlink(temporary)
                raise
