"""Pseudonymous customer ids: a customer id is stored and logged only as HMAC-SHA256 under a secret key.

The key comes from the ``pseudonym_key`` setting or, when that is unset, from ``<data_dir>/pseudonym.key``, made
on first start (32 random bytes, hex, readable by the owner only). Replicas sharing one database must share the
key; the store keeps a fingerprint of the key (an HMAC of a fixed label, which reveals nothing about any id) and
refuses to start with a different one, so a replica with the wrong key cannot write pseudonyms nobody can join.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

KEY_FILE = "pseudonym.key"
_FINGERPRINT_LABEL = b"infogap pseudonym key fingerprint v1"


class Pseudonymizer:
    """Maps customer ids to their pseudonyms (64 lowercase hex characters). Never keeps or logs the key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonym key must be at least 16 bytes")
        self._key = key

    def pseudonym(self, customer_id: str) -> str:
        return hmac.new(self._key, customer_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def fingerprint(self) -> str:
        """A value that identifies the key without revealing it or any pseudonym."""
        return hmac.new(self._key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:  # never the key
        return "Pseudonymizer(<key hidden>)"


def load_or_create_key(data_dir: Path) -> bytes:
    """The key kept in ``data_dir``; made (atomically, owner-only) when absent."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / KEY_FILE
    if not path.exists():
        # Written whole under a temporary name, then linked into place: link() fails when the name exists, so of
        # several processes starting together (workers) one key wins and nobody ever reads a half-written file.
        fd, temporary = tempfile.mkstemp(dir=data_dir, prefix=".pseudonym-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(secrets.token_hex(32) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
        finally:
            os.unlink(temporary)
    return parse_key(path.read_text().strip(), source=str(path))


def parse_key(text: str, *, source: str) -> bytes:
    """A key written as hex (at least 32 hex characters, 16 bytes)."""
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{source}: the pseudonym key must be written in hex") from None
    if len(key) < 16:
        raise ValueError(f"{source}: the pseudonym key must be at least 32 hex characters (16 bytes)")
    return key


def pseudonymizer_for(settings) -> Pseudonymizer:
    """The pseudonymizer the settings name: ``pseudonym_key`` when set, else the data directory's key file."""
    if settings.pseudonym_key is not None:
        return Pseudonymizer(parse_key(settings.pseudonym_key.get_secret_value(), source="INFOGAP_PSEUDONYM_KEY"))
    return Pseudonymizer(load_or_create_key(settings.data_dir))
