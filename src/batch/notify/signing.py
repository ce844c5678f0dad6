"""Webhook signatures: HMAC-SHA256 over ``timestamp + "." + body``.

The timestamp is signed with the body so a captured request cannot be replayed later
(receivers refuse old timestamps). ``verify`` is what a receiver runs; docs/service.md
shows the same check in a dozen lines of plain Python.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "check_webhook_url",
    "new_secret",
    "sign",
    "verify",
]

TIMESTAMP_HEADER = "X-Batchwright-Timestamp"
SIGNATURE_HEADER = "X-Batchwright-Signature"
EVENT_HEADER = "X-Batchwright-Event"
DELIVERY_HEADER = "X-Batchwright-Delivery"


def new_secret() -> str:
    """A subscription's signing secret: 32 random bytes, shown once."""
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Batchwright-Signature`` value: ``v1=<hex>``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return "v1=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float,
    tolerance_s: float = 300,
) -> bool:
    """True if ``signature`` signs ``body`` at ``timestamp`` with ``secret``, and the
    timestamp is within ``tolerance_s`` of ``now`` (Unix seconds)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_s:
        return False
    expected = sign(secret, int(timestamp), body)
    return any(hmac.compare_digest(expected, part.strip()) for part in signature.split(","))


def check_webhook_url(url: str) -> str:
    """``url`` if it can receive webhooks: http or https with a host, no credentials in
    it (they would be stored and listed); else ``ValueError`` saying why."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise ValueError("a webhook URL must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("a webhook URL must name a host")
    if parts.username or parts.password:
        raise ValueError("a webhook URL must not hold credentials (use the signature)")
    return url
