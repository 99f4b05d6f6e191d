"""The signature of an inbound-mail delivery: ``X-AgentOps-Signature: sha256=<hex>``, an HMAC-SHA256
of the request body keyed with ``AGENTOPS_INBOUND_MAIL_SECRET`` (pure; docs/connectors.md)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-AgentOps-Signature"
_PREFIX = "sha256="


def inbound_mail_sign(*, secret: str, body: bytes) -> str:
    """The header's value for ``body`` (what an MTA's or provider's forwarder sends)."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def inbound_mail_verify(*, secret: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` is the header's value for ``body``; compared in constant time, and never
    true with an empty secret."""
    if not secret or not signature.startswith(_PREFIX):
        return False
    return hmac.compare_digest(
        inbound_mail_sign(secret=secret, body=body).encode(), signature.strip().encode()
    )
