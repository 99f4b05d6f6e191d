"""What Twilio's message webhooks say, read without Django or the ORM (pure).

- An **inbound message** whose whole body (trimmed, case-blind, trailing punctuation ignored) is one of
  the carrier opt-out keywords is an opt-out of text messages; START/UNSTOP is a re-subscription,
  HELP/INFO a request for help (Twilio answers both itself); anything else is a reply.
- A **status callback** (``MessageStatus``) is a step of the message's delivery; ``delivered``,
  ``undelivered`` and ``failed`` are final. A failure whose ``ErrorCode`` says the number cannot take
  texts at all (unknown, a landline, invalid) is a bounce; others (a handset switched off, carrier
  filtering, a queue overflow) may pass another day and are only recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The opt-out keywords US carriers and Twilio honour (Twilio's default Advanced Opt-Out list).
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
#: Re-subscription keywords: recorded, never a consent by themselves (a person records consent).
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

OPT_OUT, OPT_IN, HELP, REPLY = "opt_out", "opt_in", "help", "reply"

DELIVERED, UNDELIVERED, FAILED = "delivered", "undelivered", "failed"
FINAL_STATUSES = frozenset({DELIVERED, UNDELIVERED, FAILED})
#: Twilio's statuses in the order a message goes through them; a callback arriving late (``sent``
#: after ``delivered``) never moves a message back.
STATUS_ORDER = ("accepted", "scheduled", "queued", "sending", "sent", "receiving", "received")
#: Error codes meaning the number cannot receive texts at all (Twilio's error dictionary).
BOUNCE_CODES = {
    "21211": "invalid 'To' phone number",
    "21612": "the 'To' number cannot be reached by this sender",
    "21614": "'To' number is not a valid mobile number",
    "30005": "unknown destination handset (the number does not exist)",
    "30006": "landline or unreachable carrier",
}
#: The recipient has opted out at the carrier or at Twilio (replied STOP): an opt-out too.
OPTED_OUT_CODES = frozenset({"21610"})

_TRAILING = re.compile(r"[\s.!?,;:]+$")


def inbound_kind(body: str) -> str:
    """``opt_out``, ``opt_in``, ``help`` or ``reply`` for an inbound message's body."""
    word = _TRAILING.sub("", body.strip()).upper()
    if word in OPT_OUT_KEYWORDS:
        return OPT_OUT
    if word in OPT_IN_KEYWORDS:
        return OPT_IN
    if word in HELP_KEYWORDS:
        return HELP
    return REPLY


@dataclass(frozen=True)
class Receipt:
    """One status callback: the message, its status and, on a failure, Twilio's error code."""

    message_sid: str
    status: str
    error_code: str = ""
    to: str = ""

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def bounce_reason(self) -> str:
        """Why the number cannot take texts, when this failure says so ("" otherwise)."""
        if self.status in (UNDELIVERED, FAILED):
            return BOUNCE_CODES.get(self.error_code, "")
        return ""

    @property
    def opted_out(self) -> bool:
        return self.status in (UNDELIVERED, FAILED) and self.error_code in OPTED_OUT_CODES


def receipt_of(params: dict[str, str]) -> Receipt | None:
    """The receipt a status callback's form fields describe; None without a MessageSid or status."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or not status:
        return None
    return Receipt(sid, status, str(params.get("ErrorCode") or ""), params.get("To", ""))


def status_rank(status: str) -> int:
    """Where ``status`` lies in a message's life (final statuses last)."""
    if status in FINAL_STATUSES:
        return len(STATUS_ORDER)
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else -1
