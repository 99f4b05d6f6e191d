"""The record a proposal names is the one it acts on. Pure (no ORM).

An approver decides on what the approval page shows: the action's lead or ticket. The payload may
name a recipient or a helpdesk ticket too (the connector needs them), so those must be the target's
own: a reply naming another ticket, or an email to someone other than the lead, would act on a
record the approver never saw. A kind also belongs to one kind of record: a support kind acts on a
ticket, a sales kind on a lead. Checked when a proposal arrives (``action_submit``) and again just
before execution (``connectors.execution``), since an approver's edit may change the payload.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from approvals.choices import ActionKind
from approvals.schemas import SCHEMAS

_NOT_DIGITS = re.compile(r"[^\d+]")


class TargetMismatch(ValueError):
    """A payload or a target that does not fit the action's target; ``field`` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class LeadContact:
    """What a lead's messages may be addressed to (decrypted by the caller)."""

    email: str = ""
    phone: str = ""


def target_check(
    kind: str, payload: Mapping[str, Any], *, lead: LeadContact | None, ticket: str | None
) -> None:
    """Raise ``TargetMismatch`` unless ``payload`` acts on the action's own target: ``lead`` (its
    contact details) or ``ticket`` (its helpdesk external id), at most one of them set."""
    schema = SCHEMAS.get(kind)
    domain = schema.domain if schema is not None else ""
    if lead is not None and domain != "sales":
        what = "a ticket, not a lead" if domain == "support" else "no lead or ticket"
        raise TargetMismatch("lead", f"{kind} acts on {what}")
    if ticket is not None and domain != "support":
        what = "a lead, not a ticket" if domain == "sales" else "no lead or ticket"
        raise TargetMismatch("ticket", f"{kind} acts on {what}")
    if "ticket" in payload:
        named = str(payload["ticket"])
        if ticket is None:
            raise TargetMismatch(
                "payload.ticket",
                f"names ticket {named!r} but the action targets no ticket; name it as the action's ticket",
            )
        if named != ticket:
            raise TargetMismatch(
                "payload.ticket", f"names ticket {named!r} but the action targets ticket {ticket}"
            )
    if lead is None:
        return
    to = str(payload.get("to", ""))
    # The lead's own address is not repeated in the message: the proposer may not know it.
    if kind == ActionKind.SEND_EMAIL and to.strip().casefold() != lead.email.strip().casefold():
        raise TargetMismatch("payload.to", "must be the lead's own email address")
    if kind == ActionKind.SEND_SMS and (not lead.phone or _phone(to) != _phone(lead.phone)):
        raise TargetMismatch("payload.to", "must be the lead's own phone number")


def _phone(value: str) -> str:
    """A phone number without spaces, dashes, dots or brackets (``+49 30 123456`` → ``+4930123456``)."""
    return _NOT_DIGITS.sub("", value)
