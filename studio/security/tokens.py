"""Signed tokens: a JSON payload and its HMAC-SHA256, both URL-safe base64, as ``<body>.<mac>``.

One :class:`Signer` per purpose (participant sessions, admin sessions, CSRF): each derives its
own key from the secret and the purpose, so a token signed for one purpose never verifies for
another. Nothing is encrypted: payloads hold ids and times, never secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

MAX_TOKEN_CHARS = 512


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and verifies tokens for one purpose with a key derived from ``secret``."""

    def __init__(self, secret: bytes, purpose: bytes) -> None:
        self._key = hmac.new(secret, purpose, hashlib.sha256).digest()

    def mac(self, text: str) -> str:
        """The URL-safe signature of ``text``."""
        return b64(hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).digest())

    def sign(self, payload: dict[str, Any]) -> str:
        body = b64(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        return f"{body}.{self.mac(body)}"

    def verify(self, token: object) -> dict[str, Any] | None:
        """The payload of a token this signer made, or ``None`` for anything else (forged,
        malformed, too long, not a JSON object); compared in constant time."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        if not hmac.compare_digest(mac, self.mac(body)):
            return None
        try:
            payload = json.loads(unb64(body))
        except ValueError:  # bad base64 or JSON; UnicodeDecodeError is a ValueError
            return None
        return payload if isinstance(payload, dict) else None
