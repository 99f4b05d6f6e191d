"""The signed tokens of one-click decision links in approvers' email. Pure (no ORM, no HTTP).

A token is ``<nonce>.<user id>.<action id>.<decision>.<payload sha256>.<expires, epoch s>.<signature>``,
the signature being the URL-safe base64 of an HMAC-SHA256 of everything before it, keyed with the
link secret. It binds the link to one approver, one action, one decision and the payload the email
showed, until a time; whoever alters any part of it breaks the signature. The token alone does not
make a link single-use: the stored row named by ``nonce`` does (``notifications.email_links``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

DECISIONS = ("approve", "reject")
_NONCE = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class LinkTokenError(ValueError):
    """A token that is not one of ours (``invalid``) or no longer works (``expired``)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class LinkClaims:
    """What a link token says: who may take which decision on which action, as shown, until when."""

    nonce: str
    user_id: int
    action_id: int
    decision: str
    payload_sha256: str
    expires_at: int

    def __post_init__(self) -> None:
        if not _NONCE.match(self.nonce):
            raise ValueError("nonce must be 32 lowercase hex digits")
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {self.decision!r}")
        if not _SHA256.match(self.payload_sha256):
            raise ValueError("payload_sha256 must be 64 lowercase hex digits")


def new_nonce() -> str:
    return secrets.token_hex(16)


def _signature(message: str, secret: bytes) -> str:
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_sign(claims: LinkClaims, *, secret: bytes) -> str:
    """The token of ``claims``, signed with ``secret``."""
    if not secret:
        raise ValueError("the link secret must not be empty")
    message = ".".join(
        [
            claims.nonce,
            str(claims.user_id),
            str(claims.action_id),
            claims.decision,
            claims.payload_sha256,
            str(claims.expires_at),
        ]
    )
    return f"{message}.{_signature(message, secret)}"


def token_read(token: str, *, secret: bytes, now: float) -> LinkClaims:
    """The claims of a token signed with ``secret`` that has not expired at ``now`` (epoch seconds).

    Raises ``LinkTokenError``: ``invalid`` for a malformed or altered token, ``expired`` for one
    whose time has passed (checked after the signature, so only a genuine link is told it expired).
    """
    message, _, signature = token.rpartition(".")
    if not message or not secret or not hmac.compare_digest(signature, _signature(message, secret)):
        raise LinkTokenError("invalid", "This link is not one we sent, or it was changed.")
    parts = message.split(".")
    try:
        nonce, user_id, action_id, decision, payload_hash, expires_at = parts
        claims = LinkClaims(nonce, int(user_id), int(action_id), decision, payload_hash, int(expires_at))
    except ValueError:
        raise LinkTokenError("invalid", "This link is not one we sent, or it was changed.") from None
    if now >= claims.expires_at:
        raise LinkTokenError("expired", "This link has expired; open the item in AgentOps to decide it.")
    return claims
