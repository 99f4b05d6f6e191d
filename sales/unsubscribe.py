"""A lead's personal unsubscribe link: signed, so nobody can unsubscribe somebody else, and dated,
so an old link stops working after ``AGENTOPS_UNSUBSCRIBE_MAX_AGE_DAYS``.

The token is ``django.core.signing`` of the lead's id with a salt of its own (a token signed for
anything else never passes) and the time it was made. The page behind the link is
``connectors.mail.views.unsubscribe``; the cadence's ``{{ unsubscribe_url }}`` merge field and the
``List-Unsubscribe`` header of every email to a lead carry it.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "agentops.mail.unsubscribe"


class UnsubscribeLinkInvalid(ValueError):
    """A token that was not made here for a lead (forged, altered, truncated) or is too old."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def unsubscribe_token(*, lead_id: int) -> str:
    """A signed, dated token naming ``lead_id`` (URL-safe: letters, digits, ``-_:``)."""
    return signing.dumps(int(lead_id), salt=SALT, compress=False)


def unsubscribe_token_lead(*, token: str) -> int:
    """The lead a token names; ``UnsubscribeLinkInvalid`` saying why when it is forged or expired."""
    max_age = timedelta(days=settings.AGENTOPS_UNSUBSCRIBE_MAX_AGE_DAYS)
    try:
        lead_id = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise UnsubscribeLinkInvalid("the link has expired") from None
    except signing.BadSignature:
        raise UnsubscribeLinkInvalid("the link is not one we sent") from None
    if not isinstance(lead_id, int) or isinstance(lead_id, bool):
        raise UnsubscribeLinkInvalid("the link is not one we sent")
    return lead_id


def unsubscribe_url(*, lead_id: int) -> str:
    """The public https address of the lead's unsubscribe page (``AGENTOPS_BASE_URL`` + path)."""
    path = reverse("connectors:mail:unsubscribe", kwargs={"token": unsubscribe_token(lead_id=lead_id)})
    return f"{settings.AGENTOPS_BASE_URL.rstrip('/')}{path}"
