"""The addresses on AgentOps's own mail that answer back: a per-message Reply-To naming the action
(``reply+<token>@<AGENTOPS_REPLY_DOMAIN>``) and a per-lead unsubscribe mailbox
(``unsubscribe+<token>@<AGENTOPS_REPLY_DOMAIN>``, the mailto of ``List-Unsubscribe``).

A token is ``<id in base 36>-<20 hex digits of an HMAC-SHA256>`` keyed with ``AGENTOPS_MAIL_SECRET``
(empty: derived from ``SECRET_KEY``) and salted per purpose, so a reply address cannot be made up for
another action, nor a reply address passed off as an unsubscribe one. Lower case only: some mail
servers lower-case the local part.
"""

from __future__ import annotations

import hmac
import re
from email.utils import getaddresses

from django.conf import settings
from django.utils.crypto import salted_hmac

REPLY = "reply"
UNSUBSCRIBE = "unsubscribe"
_SALTS = {REPLY: "agentops.mail.reply-to", UNSUBSCRIBE: "agentops.mail.unsubscribe-mailto"}
_DIGEST_CHARS = 20
_LOCAL = re.compile(r"^(reply|unsubscribe)\+([0-9a-z]{1,13})-([0-9a-f]{20})$")


def _digest(purpose: str, number: int) -> str:
    secret = settings.AGENTOPS_MAIL_SECRET or None  # None: Django's SECRET_KEY
    mac = salted_hmac(_SALTS[purpose], str(number), secret=secret, algorithm="sha256")
    return mac.hexdigest()[:_DIGEST_CHARS]


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def mail_address(purpose: str, number: int) -> str:
    """The address for ``purpose`` (``reply``: an action's id; ``unsubscribe``: a lead's id)."""
    if purpose not in _SALTS or number < 0:
        raise ValueError(f"no address for {purpose!r} {number!r}")
    return f"{purpose}+{_base36(number)}-{_digest(purpose, number)}@{settings.AGENTOPS_REPLY_DOMAIN}"


def reply_address(*, action_id: int) -> str:
    return mail_address(REPLY, action_id)


def unsubscribe_address(*, lead_id: int) -> str:
    return mail_address(UNSUBSCRIBE, lead_id)


def address_owner(address: str) -> tuple[str, int] | None:
    """``(purpose, id)`` of one of our addresses with a valid token, else None (another domain, a
    made-up or altered token)."""
    local, _, domain = address.strip().lower().rpartition("@")
    if domain != settings.AGENTOPS_REPLY_DOMAIN.lower():
        return None
    found = _LOCAL.match(local)
    if found is None:
        return None
    purpose, number = found.group(1), int(found.group(2), 36)
    if not hmac.compare_digest(found.group(3), _digest(purpose, number)):
        return None
    return purpose, number


def addressed_to(header_values: list[str]) -> list[tuple[str, int]]:
    """Every one of our addresses with a valid token among these header values (To, Cc, Delivered-To
    and the like), in order."""
    found = []
    for _, address in getaddresses(header_values):
        owner = address_owner(address)
        if owner is not None and owner not in found:
            found.append(owner)
    return found
