"""The allow-listed payload of each action kind, as data, and its validation. Pure (no ORM).

An agent may only propose the kinds listed here, with only the fields listed for its kind: an
unknown kind, an unknown field, a missing required field or a value of the wrong type, length or
range is refused with a ``PayloadError`` naming the field (``payload.subject``). Proposals from
the API and approvers' edits go through it, so what a human approves is always a well-formed call.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from approvals.confusables import control_problem, name_problem, override_problem

STR = "str"
INT = "int"
FLOAT = "float"
BOOL = "bool"
STR_LIST = "list[str]"
SCALAR_MAP = "dict[str, scalar]"
JSON_MAP = "dict[str, json]"
TYPES = (STR, INT, FLOAT, BOOL, STR_LIST, SCALAR_MAP, JSON_MAP)

EMAIL = "email"
DATETIME = "datetime"
PHONE = "phone"

DEFAULT_MAX_LENGTH = 1000
MAP_KEY_MAX_LENGTH = 100
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
#: Everything ``str.splitlines`` breaks on: a header field holding one of them could smuggle in
#: another header (``Bcc:``) or a second line the approver does not see as such.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


class PayloadError(ValueError):
    """A proposal or an edit that does not fit its kind's schema; ``field`` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class Field:
    """One payload field. ``max_length`` bounds strings (and string values of a map); ``max_items``
    bounds lists and maps; ``minimum``/``maximum`` bound numbers; ``choices`` lists allowed values;
    ``single_line`` refuses line breaks (header fields, names, addresses)."""

    type: str
    required: bool = False
    max_length: int = DEFAULT_MAX_LENGTH
    max_items: int | None = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    format: str = ""
    help: str = ""
    single_line: bool = False
    is_name: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"field type must be one of {', '.join(TYPES)}, got {self.type!r}")


@dataclass(frozen=True)
class KindSchema:
    """The payload of one action kind. ``one_of``: at least one of these (optional) fields must be set.
    ``domain`` is the queue the kind belongs to when the proposal names no lead or ticket.
    ``proposed_only_by``: set for a kind AgentOps proposes itself (names the path that does); the
    API, playbook rules and every other proposer refuse it (``RESERVED_KINDS``)."""

    kind: str
    domain: str
    fields: Mapping[str, Field]
    one_of: tuple[str, ...] = ()
    description: str = ""
    proposed_only_by: str = ""


def _s(required: bool = False, max_length: int = DEFAULT_MAX_LENGTH, **kw: Any) -> Field:
    return Field(STR, required=required, max_length=max_length, **kw)


def _line(required: bool = False, max_length: int = DEFAULT_MAX_LENGTH, **kw: Any) -> Field:
    """A one-line string: a header, a name or an address."""
    return Field(STR, required=required, max_length=max_length, single_line=True, **kw)


def _name(required: bool = False, max_length: int = DEFAULT_MAX_LENGTH, **kw: Any) -> Field:
    """A one-line name of a person, queue, cadence or group: look-alikes are refused too
    (``approvals.confusables.name_problem``)."""
    return Field(STR, required=required, max_length=max_length, single_line=True, is_name=True, **kw)


# The support bot names the helpdesk ticket in the payload too (its external id), for the connector;
# it must be the action's own ticket (``approvals.targets``).
_TICKET = _line(max_length=100, help="Helpdesk ticket id (external); must be the action's ticket.")

SCHEMAS: dict[str, KindSchema] = {
    s.kind: s
    for s in (
        KindSchema(
            "assign_owner",
            "sales",
            {
                "owner": _name(max_length=150, help="User name of the new owner."),
                "queue": _name(max_length=200, help="SDR queue to route the lead to."),
            },
            one_of=("owner", "queue"),
            description="Assign the lead to an owner and/or an SDR queue.",
        ),
        KindSchema(
            "enrol_cadence",
            "sales",
            {
                "cadence": _name(required=True, max_length=200, help="Cadence name."),
                "start_at": _s(max_length=40, format=DATETIME, help="ISO 8601 with a timezone."),
                "steps": Field(INT, minimum=1, maximum=50, help="Number of steps to run."),
                "queue": _name(max_length=200, help="SDR queue working the cadence."),
            },
            description="Enrol the lead in an outreach cadence.",
        ),
        KindSchema(
            "add_to_nurture",
            "sales",
            {
                "track": _name(required=True, max_length=200, help="Nurture track name."),
                "content": _name(max_length=200, help="Content to lead with."),
            },
            description="Add the lead to a nurture track.",
        ),
        KindSchema(
            "create_task",
            "sales",
            {
                "subject": _line(required=True, max_length=255),
                "description": _s(max_length=5000),
                "due_in_days": Field(INT, minimum=0, maximum=90),
            },
            description="Create a task in the CRM.",
        ),
        KindSchema(
            "flag_for_review",
            "sales",
            {"reason": _s(required=True, max_length=1000)},
            description="Ask a human to look at the record (read-only).",
        ),
        KindSchema(
            "send_email",
            "sales",
            {
                "to": _line(required=True, max_length=254, format=EMAIL, help="The lead's own address."),
                "cc": Field(STR_LIST, max_items=10, max_length=254, format=EMAIL, single_line=True),
                "subject": _line(required=True, max_length=255),
                "body": _s(required=True, max_length=10_000),
            },
            description="Send an email to the lead.",
        ),
        KindSchema(
            "send_sms",
            "sales",
            {
                "to": _line(
                    required=True,
                    max_length=16,
                    format=PHONE,
                    help="The lead's own number, E.164: +4930123456.",
                ),
                "body": _s(required=True, max_length=640),
            },
            description="Send a text message to the lead.",
        ),
        KindSchema(
            "update_crm_fields",
            "sales",
            {
                "fields": Field(
                    SCALAR_MAP,
                    required=True,
                    max_items=20,
                    max_length=1000,
                    help="CRM field → new value (string, number, boolean or null to clear).",
                )
            },
            description="Write field values on the CRM record.",
        ),
        KindSchema(
            "post_public_reply",
            "support",
            {"body": _s(required=True, max_length=10_000), "ticket": _TICKET},
            description="Post a reply the customer sees.",
        ),
        KindSchema(
            "add_internal_note",
            "support",
            {"body": _s(required=True, max_length=10_000), "ticket": _TICKET},
            description="Add a note only agents see.",
        ),
        KindSchema(
            "set_ticket_status",
            "support",
            {
                "status": _s(required=True, choices=("open", "pending", "solved")),
                "group": _name(max_length=200, help="Helpdesk group to move the ticket to."),
                "ticket": _TICKET,
            },
            description="Change the ticket's status and/or group.",
        ),
        KindSchema(
            "handoff_to_human",
            "support",
            {
                "summary": _s(required=True, max_length=2000, help="What the human needs to know."),
                "queue": _name(max_length=200, help="The queue (helpdesk group) by name, as people know it."),
                "group": _line(
                    max_length=40,
                    help="Helpdesk group (Zendesk) or team (Intercom) id to assign the ticket to.",
                ),
                "assignee": _line(
                    max_length=40,
                    help="Helpdesk agent (Zendesk) or teammate (Intercom) id to assign the ticket to.",
                ),
                "priority": _s(choices=("low", "normal", "high", "urgent")),
                "tags": Field(STR_LIST, max_items=10, max_length=60, single_line=True, help="Tags to add."),
                "ticket": _TICKET,
            },
            description="Hand the conversation to a person.",
        ),
        KindSchema(
            "config_change",
            "operations",
            {
                "model": _line(
                    required=True, max_length=100, help="The configuration model, e.g. sales.PlaybookRule."
                ),
                "object_id": Field(INT, minimum=1, help="The row changed (absent: a new one)."),
                "object": _line(max_length=200, help="The row's name when proposed."),
                "before": Field(JSON_MAP, max_length=20_000, max_items=50, help="Field → value before."),
                "after": Field(
                    JSON_MAP, required=True, max_length=20_000, max_items=50, help="Field → new value."
                ),
                "risk_note": _s(required=True, max_length=2000, help="The proposer's note on the risk."),
            },
            description="Change a controlled configuration (needs a second person; applied by AgentOps).",
            # An agent proposing config_change could rewrite any row with one approval: only the
            # admin's change control (operations.change_control.change_propose) stores one.
            proposed_only_by="change control in the admin",
        ),
        KindSchema(
            "account_lookup",
            "support",
            {
                "account_id": _line(max_length=100),
                "email": _line(max_length=254, format=EMAIL),
            },
            one_of=("account_id", "email"),
            description="Read-only lookup of the customer's account.",
        ),
    )
}


#: Kinds only AgentOps itself proposes (``KindSchema.proposed_only_by``): never from an integration.
RESERVED_KINDS = frozenset(s.kind for s in SCHEMAS.values() if s.proposed_only_by)
#: Kinds an integration (API) or a playbook rule may propose.
PROPOSABLE_KINDS = tuple(kind for kind in SCHEMAS if kind not in RESERVED_KINDS)


def reserved_kind_refusal(kind: object) -> PayloadError | None:
    """The refusal (on ``kind``) of a kind only AgentOps proposes, for proposers from outside."""
    if not isinstance(kind, str) or kind not in RESERVED_KINDS:
        return None
    return PayloadError(
        "kind",
        f"{kind} is proposed only through {SCHEMAS[kind].proposed_only_by}, "
        "never by an integration, an agent or a rule",
    )


def schema_for(kind: object) -> KindSchema:
    """The schema of ``kind``; ``PayloadError`` on ``kind`` if it is not allow-listed."""
    if not isinstance(kind, str) or kind not in SCHEMAS:
        raise PayloadError("kind", f"unknown action kind {kind!r}; allowed: {', '.join(sorted(SCHEMAS))}")
    return SCHEMAS[kind]


def validate_payload(kind: object, payload: object) -> dict[str, Any]:
    """Check a whole payload against its kind's schema (fail closed) and return a copy of it.

    Raises ``PayloadError`` for the first problem found, in a stable order: kind, payload shape,
    unknown fields, missing required fields, then each value in schema order.
    """
    schema = schema_for(kind)
    if not isinstance(payload, dict):
        raise PayloadError("payload", f"must be an object, got {_type_name(payload)}")
    _refuse_unknown(schema, payload)
    for name, spec in schema.fields.items():
        if spec.required and name not in payload:
            raise PayloadError(f"payload.{name}", "is required")
    for name, spec in schema.fields.items():
        if name in payload:
            _check(f"payload.{name}", payload[name], spec)
    if schema.one_of and not any(name in payload for name in schema.one_of):
        raise PayloadError(f"payload.{schema.one_of[0]}", f"one of {', '.join(schema.one_of)} is required")
    return {name: payload[name] for name in schema.fields if name in payload}


def validate_fields(kind: object, values: Mapping[str, Any]) -> dict[str, Any]:
    """Check only the given fields (an approver's edits) against the kind's schema; return a copy."""
    schema = schema_for(kind)
    _refuse_unknown(schema, values)
    for name, value in values.items():
        _check(f"payload.{name}", value, schema.fields[name])
    return dict(values)


def default_domain(kind: str, *, has_lead: bool = False, has_ticket: bool = False) -> str:
    """The queue a proposal goes to when it does not say: its ticket's or lead's, else its kind's."""
    if has_ticket:
        return "support"
    if has_lead:
        return "sales"
    return schema_for(kind).domain


def _refuse_unknown(schema: KindSchema, values: Mapping[str, Any]) -> None:
    for name in values:
        if name not in schema.fields:
            allowed = ", ".join(schema.fields)
            raise PayloadError(f"payload.{name}", f"not a field of {schema.kind} (allowed: {allowed})")


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "object",
    }.get(type(value), type(value).__name__)


def _check(path: str, value: object, spec: Field) -> None:
    if spec.type == STR:
        _check_str(path, value, spec.max_length, spec)
    elif spec.type == INT:
        if not isinstance(value, int) or isinstance(value, bool):
            raise PayloadError(path, f"must be an integer, got {_type_name(value)}")
        _check_range(path, value, spec)
    elif spec.type == FLOAT:
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise PayloadError(path, f"must be a finite number, got {_type_name(value)}")
        _check_range(path, value, spec)
    elif spec.type == BOOL:
        if not isinstance(value, bool):
            raise PayloadError(path, f"must be a boolean, got {_type_name(value)}")
    elif spec.type == STR_LIST:
        if not isinstance(value, list):
            raise PayloadError(path, f"must be a list of strings, got {_type_name(value)}")
        if spec.max_items is not None and len(value) > spec.max_items:
            raise PayloadError(path, f"at most {spec.max_items} items, got {len(value)}")
        for i, item in enumerate(value):
            _check_str(f"{path}[{i}]", item, spec.max_length, spec)
    else:  # SCALAR_MAP or JSON_MAP
        if not isinstance(value, dict):
            raise PayloadError(path, f"must be an object, got {_type_name(value)}")
        if not value:
            raise PayloadError(path, "must not be empty")
        if spec.max_items is not None and len(value) > spec.max_items:
            raise PayloadError(path, f"at most {spec.max_items} keys, got {len(value)}")
        for key, item in value.items():
            if not isinstance(key, str) or not key.strip() or len(key) > MAP_KEY_MAX_LENGTH:
                raise PayloadError(path, f"keys must be 1–{MAP_KEY_MAX_LENGTH} characters, got {key!r}")
            if not LINE_BREAKS.isdisjoint(key):
                raise PayloadError(path, f"keys must be one line (no line breaks), got {key!r}")
            item_path = f"{path}.{key}"
            if spec.type == JSON_MAP:
                continue
            if isinstance(item, str):
                if len(item) > spec.max_length:
                    raise PayloadError(item_path, f"at most {spec.max_length} characters, got {len(item)}")
            elif isinstance(item, float) and not math.isfinite(item):
                raise PayloadError(item_path, "must be a finite number")
            elif item is not None and not isinstance(item, int | float | bool):
                raise PayloadError(
                    item_path, f"must be a string, number, boolean or null, got {_type_name(item)}"
                )

        if spec.type == JSON_MAP:
            size = len(json.dumps(value, default=str))
            if size > spec.max_length:
                raise PayloadError(path, f"at most {spec.max_length} characters as JSON, got {size}")


def _check_str(path: str, value: object, max_length: int, spec: Field) -> None:
    if not isinstance(value, str):
        raise PayloadError(path, f"must be a string, got {_type_name(value)}")
    if not value.strip():
        raise PayloadError(path, "must not be blank")
    if spec.single_line and not LINE_BREAKS.isdisjoint(value):
        raise PayloadError(path, "must be a single line (no line breaks)")
    # What the approver reads must be what is sent: no invisible or direction-changing characters in
    # one-line fields, no look-alike names, no direction overrides in longer text.
    if spec.is_name:
        problem = name_problem(value)
    elif spec.single_line:
        problem = control_problem(value)
    else:
        problem = override_problem(value)
    if problem:
        raise PayloadError(path, problem)
    if len(value) > max_length:
        raise PayloadError(path, f"at most {max_length} characters, got {len(value)}")
    if spec.choices and value not in spec.choices:
        raise PayloadError(path, f"must be one of {', '.join(spec.choices)}, got {value!r}")
    if spec.format == EMAIL and not _EMAIL_RE.match(value):
        raise PayloadError(path, f"must be an email address, got {value!r}")
    if spec.format == PHONE and not _PHONE_RE.match(value):
        raise PayloadError(path, f"must be a phone number in E.164 form (+4930123456), got {value!r}")
    if spec.format == DATETIME:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise PayloadError(path, f"must be an ISO 8601 date and time, got {value!r}") from None
        if moment.tzinfo is None:
            raise PayloadError(path, "must include a timezone (e.g. 2026-01-05T09:00:00Z)")


def _check_range(path: str, value: float, spec: Field) -> None:
    if spec.minimum is not None and value < spec.minimum:
        raise PayloadError(path, f"must be at least {_num(spec.minimum)}, got {value}")
    if spec.maximum is not None and value > spec.maximum:
        raise PayloadError(path, f"must be at most {_num(spec.maximum)}, got {value}")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def schemas_markdown() -> str:
    """The schemas of the kinds an integration may propose as a Markdown table, for docs/api.md (a
    test keeps the two in step)."""
    lines = ["| kind | domain | fields (* required) |", "|---|---|---|"]
    for schema in SCHEMAS.values():
        if schema.proposed_only_by:
            continue
        parts = []
        for name, spec in schema.fields.items():
            limits = [spec.type]
            if spec.format:
                limits.append(spec.format)
            if spec.choices:
                limits.append(" / ".join(spec.choices))
            if spec.minimum is not None and spec.maximum is not None:
                limits.append(f"{_num(spec.minimum)}–{_num(spec.maximum)}")
            elif spec.minimum is not None:
                limits.append(f"≥ {_num(spec.minimum)}")
            elif spec.maximum is not None:
                limits.append(f"≤ {_num(spec.maximum)}")
            if spec.type in (STR, STR_LIST, SCALAR_MAP):
                limits.append(f"≤ {spec.max_length} chars")
            if spec.single_line:
                limits.append("one line")
            if spec.max_items is not None:
                limits.append(f"≤ {spec.max_items} items")
            parts.append(f"`{name}`{'*' if spec.required else ''} ({', '.join(limits)})")
        rule = f"; one of {', '.join(f'`{n}`' for n in schema.one_of)}" if schema.one_of else ""
        lines.append(f"| `{schema.kind}` | {schema.domain} | {'; '.join(parts)}{rule} |")
    return "\n".join(lines)
