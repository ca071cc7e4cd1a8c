"""How logs refer to a chat or a person: a short keyed hash, never the numeric id.

A log that leaks (or is handed over) must not say which chats follow which cases. The operator
can still match a line to a chat: ``hearing-watch chat-ref <chat-id>`` prints the same hash.
The key is derived from the bot token, which the operator has and a reader of the log does not;
without it the ids (a space small enough to try in full) cannot be recovered.
"""

from __future__ import annotations

import hashlib
import hmac

_key = b""


def set_key(secret: str) -> None:
    """Key the hashes with a secret of the operator's (the bot token)."""
    global _key
    _key = hmac.new(secret.encode(), b"hearing-watch log references", hashlib.sha256).digest()


def ref(identifier: int | None) -> str:
    """'c:3f9a1b2c4d' for a chat or user id; '-' for None."""
    if identifier is None:
        return "-"
    digest = hmac.new(_key, str(identifier).encode(), hashlib.sha256).hexdigest()
    return f"c:{digest[:10]}"
