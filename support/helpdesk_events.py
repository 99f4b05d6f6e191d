"""What a helpdesk event means for the support bot and its metrics, pure (no ORM).

The connectors' inbound path (``connectors.inbound``) mirrors every Zendesk ticket and Intercom
conversation event into ``support.Ticket``; this module reads the same events for the four things
the bot and the metrics need to know:

- **created**: a customer opened a ticket (Zendesk ``ticket.created``, Intercom
  ``conversation.user.created``): the bot takes it;
- **requester message**: the customer wrote again (a public Zendesk comment whose author is the
  ticket's requester, Intercom ``conversation.user.replied``): the answer to the bot's diagnostic
  questions, or a follow-up after the resolution (which spoils first-contact resolution);
- **resolved**: the ticket was solved or closed (Zendesk ``status_changed`` to ``solved`` or
  ``closed``, Intercom ``conversation.admin.closed``): the end of its handle time;
- **rated**: the customer rated the ticket (CSAT): a Zendesk satisfaction rating (``good`` counts as
  5 and ``bad`` as 1 on our 1–5 scale), an Intercom conversation rating (1–5 as given), read from the
  ticket or conversation that the rating's webhook (Zendesk: the "Satisfaction is Changed" trigger,
  ``ZENDESK_SATISFACTION``; Intercom: ``conversation.rating.added``) or the incremental sync brought.
  Its time is the vendor's: the rating's own ``updated_at`` when known, else the trigger's time;
- anything else (our own replies and notes coming back, tags, assignments): nothing to do.

Zendesk's event-subscription deliveries carry the ticket in ``detail`` (the stored payload) and the
change in ``event`` (the comment, with its author), which only the raw delivery holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CREATED = "created"
REQUESTER_MESSAGE = "requester_message"
RESOLVED = "resolved"
RATED = "rated"

ZENDESK_PREFIX = "zen:event-type:ticket."
CUSTOMER_AUTHORS = frozenset({"user", "lead", "contact"})  # Intercom's authors who are the customer
#: The ``type`` of the body the Zendesk satisfaction trigger sends (Zendesk has no event subscription
#: for ratings; the admin writes the trigger's body as docs/connectors-helpdesk.md shows).
ZENDESK_SATISFACTION = "agentops:ticket.satisfaction_changed"
#: Zendesk's two scores on our 1–5 CSAT scale (4 or more counts as satisfied).
ZENDESK_SCORES = {"good": 5, "bad": 1}
INTERCOM_RATED = "conversation.rating.added"
SYNC = "sync"


@dataclass(frozen=True)
class TicketEvent:
    """What one helpdesk event means for our ticket; ``kind`` is "" when nothing."""

    kind: str
    at: datetime | None = None
    text: str = ""  # the customer's message, or the comment given with a rating
    score: int | None = None  # a rating on our 1–5 scale
    ref: str = ""  # the vendor's id of the rating (the same rating changed keeps it)


NOTHING = TicketEvent("")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def plain_text(html: str) -> str:
    """A message body without its HTML (Intercom parts are HTML; our hidden markers go too)."""
    text = re.sub(r"<!--.*?-->", " ", html, flags=re.DOTALL)
    text = re.sub(r"<br\s*/?>|</p>", "\n", text)
    return re.sub(r"[ \t]+", " ", re.sub(r"<[^>]+>", " ", text)).strip()


def classify(
    *, vendor: str, topic: str, payload: Mapping[str, Any], delivery: Mapping[str, Any], at: datetime | None
) -> TicketEvent:
    """What a ``vendor`` event of ``topic`` means (``payload``: the ticket or conversation as the
    event carried it; ``delivery``: the whole delivery as sent, {} when unknown; ``at``: when it
    changed)."""
    if vendor == "zendesk":
        return _zendesk(topic, payload, delivery, at)
    if vendor == "intercom":
        return _intercom(topic, payload, at)
    return NOTHING


def _moment(value: Any) -> datetime | None:
    """A vendor time (ISO 8601 or Unix seconds) in UTC; None when absent or unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            return None
    return None


def _zendesk_rating(
    ticket: Mapping[str, Any], delivery: Mapping[str, Any], at: datetime | None
) -> TicketEvent:
    rating = _dict(ticket.get("satisfaction_rating"))
    score = ZENDESK_SCORES.get(str(rating.get("score")))
    if score is None or rating.get("id") is None:
        return NOTHING  # offered, unoffered, or no rating at all
    when = _moment(rating.get("updated_at")) or _moment(delivery.get("updated_at")) or at
    return TicketEvent(
        RATED, when, str(rating.get("comment") or "").strip(), score, f"zendesk:{rating['id']}"
    )


def _zendesk(
    topic: str, ticket: Mapping[str, Any], delivery: Mapping[str, Any], at: datetime | None
) -> TicketEvent:
    if topic in (ZENDESK_SATISFACTION, SYNC):
        return _zendesk_rating(ticket, delivery, at)
    name = topic.removeprefix(ZENDESK_PREFIX)
    if name == "created":
        return TicketEvent(CREATED, at)
    if name == "status_changed" and ticket.get("status") in ("solved", "closed"):
        return TicketEvent(RESOLVED, at)
    if name == "comment_added":
        comment = _dict(delivery.get("event"))
        requester = ticket.get("requester_id")
        by_requester = requester is not None and str(comment.get("author_id")) == str(requester)
        if by_requester and comment.get("public", True) is not False:
            return TicketEvent(REQUESTER_MESSAGE, at, plain_text(str(comment.get("body") or "")))
    return NOTHING


def _intercom(topic: str, conversation: Mapping[str, Any], at: datetime | None) -> TicketEvent:
    if topic in (INTERCOM_RATED, SYNC):
        rating = _dict(conversation.get("conversation_rating"))
        score = rating.get("rating")
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            return NOTHING
        when = _moment(rating.get("updated_at")) or _moment(rating.get("created_at")) or at
        remark = str(rating.get("remark") or "").strip()
        return TicketEvent(RATED, when, remark, score, f"intercom:{conversation.get('id')}")
    if topic == "conversation.user.created":
        return TicketEvent(CREATED, at)
    if topic == "conversation.admin.closed":
        return TicketEvent(RESOLVED, at)
    if topic == "conversation.user.replied":
        parts = _dict(conversation.get("conversation_parts")).get("conversation_parts") or []
        mine = [p for p in parts if _dict(_dict(p).get("author")).get("type") in CUSTOMER_AUTHORS]
        text = plain_text(str(mine[-1].get("body") or "")) if mine else ""
        return TicketEvent(REQUESTER_MESSAGE, at, text)
    return NOTHING
