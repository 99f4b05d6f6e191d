"""What AgentOps shows in Slack: the Block Kit card of an item, and the Reject and Edit modals; and
reading what a person typed in those modals back. Pure (no ORM, no HTTP).

A card's Approve / Reject / Edit buttons carry the item id and the hash of the payload the card
shows (``value``), so a decision taken from a card is checked against what that card showed, as the
web checks what its page showed. A decided item's card keeps its facts, names who decided what,
and offers only the link to AgentOps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PRODUCT = "AgentOps"
TOP_REASONS = 3
CHANGE_ROWS_MAX = 12
VALUE_MAX = 200
TEXT_MAX = 2900  # a section's text is at most 3000 characters
EDIT_PREFIX = "f__"
REJECT_CALLBACK = "reject"
EDIT_CALLBACK = "edit"
DECIDED_MARKS = {"approved": "✅ Approved", "rejected": "❌ Rejected"}


def escape(value: str) -> str:
    """Slack's mrkdwn gives ``&``, ``<`` and ``>`` meaning; everything else is literal."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class CardFacts:
    """What a card says about one action (gathered, masked where personal, by the services)."""

    action_id: int
    kind_label: str
    domain_label: str
    rationale: str
    confidence: float
    confidence_source: str
    risk_level: str
    payload_sha256: str
    link: str
    status: str = "pending_approval"
    status_label: str = "Pending approval"
    reasons: tuple[str, ...] = ()
    change: tuple[tuple[str, str], ...] = ()
    decided_by: str = ""
    approved_by: tuple[str, ...] = ()
    required_approvals: int = 1
    reauth_required: bool = False


def button_value(*, action_id: int, payload_sha256: str) -> str:
    return json.dumps({"a": action_id, "h": payload_sha256}, separators=(",", ":"))


@dataclass(frozen=True)
class ButtonValue:
    action_id: int
    payload_sha256: str


def read_button_value(value: str) -> ButtonValue:
    """The item and payload hash a button carries; ``ValueError`` for anything else."""
    data = json.loads(value)
    if not isinstance(data, dict) or not isinstance(data.get("a"), int) or not isinstance(data.get("h"), str):
        raise ValueError("not an AgentOps button")
    return ButtonValue(data["a"], data["h"])


def card_text(facts: CardFacts) -> str:
    """The plain-text fallback (notifications, screen readers)."""
    if facts.status == "pending_approval":
        return f"{facts.kind_label} #{facts.action_id} waits for a decision (risk {facts.risk_level})"
    return f"{facts.kind_label} #{facts.action_id}: {facts.status_label.lower()}"


def _change_text(change: Sequence[tuple[str, str]]) -> str:
    if not change:
        return "*Proposed change:* —"
    rows = [f"• `{escape(k)}`: {escape(_cut(v, VALUE_MAX))}" for k, v in change[:CHANGE_ROWS_MAX]]
    if len(change) > CHANGE_ROWS_MAX:
        rows.append(f"… and {len(change) - CHANGE_ROWS_MAX} more in {PRODUCT}")
    return _cut("*Proposed change:*\n" + "\n".join(rows), TEXT_MAX)


def _status_line(facts: CardFacts) -> str:
    if facts.status == "pending_approval":
        if facts.approved_by:
            return (
                f"Approved by {', '.join(escape(n) for n in facts.approved_by)} "
                f"({len(facts.approved_by)} of {facts.required_approvals}); waits for another approver."
            )
        return ""
    mark = DECIDED_MARKS.get(facts.status, f"*{escape(facts.status_label)}*")
    by = f" by *{escape(facts.decided_by)}*" if facts.decided_by else ""
    return f"{mark}{by}."


def _open_button(facts: CardFacts) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": "open",
        "text": {"type": "plain_text", "text": f"Open in {PRODUCT}"},
        "url": facts.link,
    }


def card_blocks(facts: CardFacts) -> list[dict[str, Any]]:
    """The card of one item: its facts, then the decision buttons while it is pending (no Approve
    or Edit when approving needs re-authentication: the card says so and links to the page), or
    who decided what once it is decided."""
    value = button_value(action_id=facts.action_id, payload_sha256=facts.payload_sha256)
    source = f" ({escape(facts.confidence_source)})" if facts.confidence_source else ""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(f"{facts.kind_label} #{facts.action_id}", 150)},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _cut(f"*Why:* {escape(facts.rationale)}", TEXT_MAX)},
            "fields": [
                {"type": "mrkdwn", "text": f"*Risk:* {escape(facts.risk_level)}"},
                {"type": "mrkdwn", "text": f"*Confidence:* {facts.confidence:.2f}{source}"},
                {"type": "mrkdwn", "text": f"*Queue:* {escape(facts.domain_label)}"},
            ],
        },
    ]
    if facts.reasons:
        reasons = "\n".join(f"• {escape(_cut(r, VALUE_MAX))}" for r in facts.reasons[:TOP_REASONS])
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Needs a human because:*\n{reasons}"}}
        )
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _change_text(facts.change)}})
    status = _status_line(facts)
    if status:
        blocks.append({"type": "section", "block_id": "status", "text": {"type": "mrkdwn", "text": status}})
    if facts.status != "pending_approval":
        blocks.append({"type": "actions", "block_id": "decided", "elements": [_open_button(facts)]})
        return blocks
    buttons: list[dict[str, Any]] = []
    if facts.reauth_required:
        blocks.append(
            {
                "type": "context",
                "block_id": "reauth",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"Approving a {escape(facts.risk_level)}-risk item needs your password: "
                        f"<{facts.link}|approve it in {PRODUCT}>.",
                    }
                ],
            }
        )
    else:
        buttons.append(
            {
                "type": "button",
                "action_id": "approve",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": value,
            }
        )
    buttons.append(
        {
            "type": "button",
            "action_id": "reject",
            "style": "danger",
            "text": {"type": "plain_text", "text": "Reject"},
            "value": value,
        }
    )
    if not facts.reauth_required:
        buttons.append(
            {
                "type": "button",
                "action_id": "edit",
                "text": {"type": "plain_text", "text": "Edit"},
                "value": value,
            }
        )
    buttons.append(_open_button(facts))
    blocks.append({"type": "actions", "block_id": "decide", "elements": buttons})
    return blocks


@dataclass(frozen=True)
class ModalContext:
    """What a modal's ``private_metadata`` carries back: the item, the hash its card showed, and the card."""

    action_id: int
    payload_sha256: str
    channel: str = ""
    ts: str = ""


def read_metadata(value: str) -> ModalContext:
    data = json.loads(value)
    if not isinstance(data, dict) or not isinstance(data.get("a"), int) or not isinstance(data.get("h"), str):
        raise ValueError("not an AgentOps modal")
    return ModalContext(data["a"], data["h"], str(data.get("c", "")), str(data.get("t", "")))


def _comment_input() -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": "comment",
        "optional": True,
        "label": {"type": "plain_text", "text": "Comment"},
        "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
    }


def _modal(
    *, callback_id: str, context: ModalContext, title: str, submit: str, blocks: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": json.dumps(
            {"a": context.action_id, "h": context.payload_sha256, "c": context.channel, "t": context.ts},
            separators=(",", ":"),
        ),
        "title": {"type": "plain_text", "text": _cut(title, 24)},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def reject_modal(*, context: ModalContext, reasons: Sequence[tuple[str, str]], title: str) -> dict[str, Any]:
    """The Reject modal: a reason code (required) and a comment."""
    reason = {
        "type": "input",
        "block_id": "reason",
        "label": {"type": "plain_text", "text": "Reason"},
        "element": {
            "type": "static_select",
            "action_id": "value",
            "placeholder": {"type": "plain_text", "text": "Choose a reason"},
            "options": [
                {"text": {"type": "plain_text", "text": _cut(label, 75)}, "value": code}
                for code, label in reasons
            ],
        },
    }
    heading = {"type": "section", "text": {"type": "mrkdwn", "text": escape(_cut(title, TEXT_MAX))}}
    return _modal(
        callback_id=REJECT_CALLBACK,
        context=context,
        title=f"Reject #{context.action_id}",
        submit="Reject",
        blocks=[heading, reason, _comment_input()],
    )


@dataclass(frozen=True)
class EditField:
    """One editable payload field in the Edit modal: its current value as text."""

    key: str
    text: str
    multiline: bool = False
    help: str = ""
    optional: bool = True


def edit_modal(*, context: ModalContext, fields: Sequence[EditField], title: str) -> dict[str, Any]:
    """The Edit modal: one input per editable field, prefilled; submitting approves with the edits."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(_cut(title, TEXT_MAX))}}
    ]
    for f in fields:
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "multiline": f.multiline}
        if f.text:
            element["initial_value"] = f.text
        block: dict[str, Any] = {
            "type": "input",
            "block_id": EDIT_PREFIX + f.key,
            "optional": f.optional,
            "label": {"type": "plain_text", "text": _cut(f.key, 2000)},
            "element": element,
        }
        if f.help:
            block["hint"] = {"type": "plain_text", "text": _cut(f.help, 2000)}
        blocks.append(block)
    blocks.append(_comment_input())
    return _modal(
        callback_id=EDIT_CALLBACK,
        context=context,
        title=f"Edit #{context.action_id}",
        submit="Approve with edits",
        blocks=blocks,
    )


def field_text(value: Any) -> str:
    """A payload value as the text an input shows (``parse_field`` reads it back)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


class EditValueError(ValueError):
    """A value typed in the Edit modal that cannot be read as its field's type; ``block_id`` names it."""

    def __init__(self, block_id: str, message: str) -> None:
        self.block_id = block_id
        super().__init__(message)


def parse_field(text: str | None, original: Any, *, block_id: str) -> Any:
    """``text`` typed for a field whose value was ``original``, read as that value's type."""
    text = (text or "").replace("\r\n", "\n")
    if isinstance(original, bool):
        if text.strip().lower() not in ("true", "false"):
            raise EditValueError(block_id, "Type true or false.")
        return text.strip().lower() == "true"
    if isinstance(original, int):
        try:
            return int(text.strip())
        except ValueError:
            raise EditValueError(block_id, "Type a whole number.") from None
    if isinstance(original, float):
        try:
            return float(text.strip())
        except ValueError:
            raise EditValueError(block_id, "Type a number.") from None
    if isinstance(original, dict | list):
        try:
            return json.loads(text)
        except ValueError:
            raise EditValueError(block_id, "Type valid JSON.") from None
    if original is None and text == "":
        return None
    return text


def modal_values(view: Mapping[str, Any]) -> dict[str, Any]:
    """A submitted modal's values by block id: the typed text, or the selected option's value."""
    values: dict[str, Any] = {}
    for block_id, actions in (view.get("state", {}).get("values", {}) or {}).items():
        element = (actions or {}).get("value") or {}
        if "selected_option" in element:
            selected = element.get("selected_option") or {}
            values[block_id] = selected.get("value", "")
        else:
            values[block_id] = element.get("value")
    return values


def edits_from_modal(values: Mapping[str, Any], original: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the Edit modal changed, each read as its original type (``EditValueError`` if not)."""
    edits: dict[str, Any] = {}
    for block_id, text in values.items():
        if not block_id.startswith(EDIT_PREFIX):
            continue
        key = block_id[len(EDIT_PREFIX) :]
        if key not in original:
            raise EditValueError(block_id, "Not a field of this item.")
        value = parse_field(text, original[key], block_id=block_id)
        if value != original[key]:
            edits[key] = value
    return edits


@dataclass(frozen=True)
class ModalErrors:
    """Slack's answer to a modal submission that is refused: an error under each named block."""

    errors: dict[str, str] = field(default_factory=dict)

    def response(self) -> dict[str, Any]:
        return {"response_action": "errors", "errors": self.errors}
