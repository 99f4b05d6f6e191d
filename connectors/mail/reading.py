"""What a message that comes back to AgentOps's own mail says, read with the ``email`` package.

No database: ``mail_read`` takes the raw RFC 5322 bytes (and the envelope recipients the inbound
provider reports, if any) and says what the message is and which of our messages or leads it is about:

- an RFC 3464 delivery status notification (``multipart/report; report-type=delivery-status``) whose
  recipient block says ``Action: failed`` with a permanent ``Status: 5.x.x`` is a **bounce**; a delay
  or a transient failure (4.x.x) is ignored (the sending server tries again);
- an RFC 5965 feedback report (``multipart/report; report-type=feedback-report``) is a **complaint**;
- a message to one of our unsubscribe addresses is an **unsubscribe** (the mailto of List-Unsubscribe);
- any other message to one of our reply addresses, or whose In-Reply-To / References names one of our
  Message-IDs, is a **reply**; an automatic answer (RFC 3834 ``Auto-Submitted`` other than ``no``,
  an out-of-office) is not one.

A report names the message it is about by the original's headers it returns (``message/rfc822`` or
``text/rfc822-headers``): our Message-ID, else our Reply-To address in them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from email.parser import HeaderParser

from connectors.mail.addresses import REPLY, UNSUBSCRIBE, addressed_to
from connectors.mail.connector import message_marker

REPLY_KIND = "reply"
BOUNCE = "bounce"
COMPLAINT = "complaint"
UNSUBSCRIBE_KIND = "unsubscribe"
IGNORED = "ignored"

#: Headers that name the mailbox a message was delivered to (besides To and Cc).
_DELIVERY_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")


@dataclass(frozen=True)
class MailRead:
    """What a message is (``kind``) and what it is about: the action whose message it answers or
    reports on (by its id, from a reply address, or by the marker in our Message-ID), or the lead
    (an unsubscribe address). ``external_id`` identifies the incoming message itself (a hash of its
    Message-ID), so a redelivery is recognised. ``reason`` says why an ignored message is."""

    kind: str
    external_id: str
    action_id: int | None = None
    marker: str | None = None
    lead_id: int | None = None
    reason: str = ""
    details: dict[str, str] = field(default_factory=dict)


class UnreadableMail(ValueError):
    """Not an RFC 5322 message at all (no headers)."""


def mail_read(raw: bytes, *, recipients: Sequence[str] = ()) -> MailRead:
    """Read one incoming message; see the module's docstring for what each kind means."""
    message = message_from_bytes(raw, policy=policy.compat32)
    if not message.keys():
        raise UnreadableMail("the body is not an RFC 5322 message (no header fields)")
    external_id = _external_id(message, raw)
    if message.get_content_type() == "multipart/report":
        report_type = str(message.get_param("report-type") or "").lower()
        if report_type == "delivery-status":
            return _bounce(message, external_id)
        if report_type == "feedback-report":
            return _complaint(message, external_id)
    ours = addressed_to([*[str(v) for h in _DELIVERY_HEADERS for v in message.get_all(h, [])], *recipients])
    for purpose, number in ours:
        if purpose == UNSUBSCRIBE:
            return MailRead(UNSUBSCRIBE_KIND, external_id, lead_id=number)
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    if auto != "no":
        return MailRead(IGNORED, external_id, reason=f"an automatic message (Auto-Submitted: {auto})")
    for purpose, number in ours:
        if purpose == REPLY:
            return MailRead(REPLY_KIND, external_id, action_id=number)
    markers = _markers(message)
    if markers:
        return MailRead(REPLY_KIND, external_id, marker=markers[0])
    return MailRead(IGNORED, external_id, reason="not addressed to one of our reply addresses")


def _external_id(message: Message, raw: bytes) -> str:
    """``mail:`` and a hash of the message's Message-ID (of its bytes when it has none)."""
    message_id = str(message.get("Message-ID", "")).strip()
    seed = message_id.encode() if message_id else raw
    return "mail:" + hashlib.sha256(seed).hexdigest()[:40]


def _markers(message: Message) -> list[str]:
    """Our markers in In-Reply-To and References, the most recent first."""
    ids: list[str] = []
    for name in ("In-Reply-To", "References"):
        for value in message.get_all(name, []):
            ids += [f"<{part.strip('<> ')}>" for part in str(value).replace(">", "> ").split() if part]
    found = []
    for value in ids[:1] + list(reversed(ids[1:])):
        marker = message_marker(value)
        if marker and marker not in found:
            found.append(marker)
    return found


def _original(report: Message) -> Message | None:
    """The returned original (its headers at least) of a ``multipart/report``."""
    for part in report.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if ctype == "text/rfc822-headers":
            text = part.get_payload(decode=True)
            if isinstance(text, bytes):
                return HeaderParser().parsestr(text.decode("utf-8", errors="replace"))
    return None


def _about(report: Message, kind: str, external_id: str, details: dict[str, str]) -> MailRead:
    original = _original(report)
    if original is None:
        return MailRead(IGNORED, external_id, reason=f"a {kind} report without the original's headers")
    marker = message_marker(str(original.get("Message-ID", "")))
    if marker:
        return MailRead(kind, external_id, marker=marker, details=details)
    for purpose, number in addressed_to([str(v) for v in original.get_all("Reply-To", [])]):
        if purpose == REPLY:
            return MailRead(kind, external_id, action_id=number, details=details)
    return MailRead(IGNORED, external_id, reason=f"a {kind} report about a message we did not send")


def _bounce(report: Message, external_id: str) -> MailRead:
    blocks: list[Message] = []
    for part in report.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            blocks = [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
            break
    for block in blocks[1:]:  # the first block is about the message, the others each a recipient
        action = str(block.get("Action", "")).strip().lower()
        status = str(block.get("Status", "")).strip().split(" ")[0]
        if action == "failed" and status.startswith("5."):
            return _about(report, BOUNCE, external_id, {"status": status})
    return MailRead(IGNORED, external_id, reason="a delivery report without a permanent failure")


def _complaint(report: Message, external_id: str) -> MailRead:
    feedback_type = ""
    for part in report.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            fields = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(fields, Message):
                feedback_type = str(fields.get("Feedback-Type", "")).strip().lower()
            break
    return _about(report, COMPLAINT, external_id, {"feedback_type": feedback_type or "abuse"})
