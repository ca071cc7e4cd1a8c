"""How logs refer to a chat or a person: a short keyed hash, never the numeric id.

A log that leaks (or is handed over) must not say which chats follow which cases. The operator
can still match a line to a chat: ``hearing-watch chat-ref <chat-id>`` prints the same hash.
The key is a secret of its own (``[privacy] log_key``), not the bot token, which Telegram and
everyone who ever held the token know: with the key, the ids (a space small enough to try in
full) could be recovered from the references, and a new token would break matching old lines.
Without a configured key each start picks a random one.
"""

from __future__ import annotations

import hashlib
import hmac

_key = b""


def set_key(secret: str) -> None:
    """Key the hashes with a secret of the operator's ([privacy] log_key)."""
    global _key
    _key = hmac.new(secret.encode(), b"hearing-watch log references", hashlib.sha256).digest()


def ref(identifier: int | None) -> str:
    """'c:3f9a1b2c4d' for a chat or user id; '-' for None."""
    if identifier is None:
        return "-"
    digest = hmac.new(_key, str(identifier).encode(), hashlib.sha256).hexdigest()
    return f"c:{digest[:10]}"
