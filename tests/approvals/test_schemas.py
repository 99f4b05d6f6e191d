"""The allow-listed payload schemas: every kind, every rule, fail closed. Pure: no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from approvals.choices import ActionKind
from approvals.schemas import (
    SCHEMAS,
    Field,
    PayloadError,
    _check,
    default_domain,
    schemas_markdown,
    validate_fields,
    validate_payload,
)

# One valid payload per kind, including the shapes the demo seed and the tests already use.
VALID = [
    ("assign_owner", {"owner": "sdr.manager"}),
    ("assign_owner", {"queue": "Inbound SDR queue"}),
    ("assign_owner", {"owner": "sdr.manager", "queue": "Inbound SDR queue"}),
    ("enrol_cadence", {"cadence": "Inbound hot"}),
    ("enrol_cadence", {"cadence": "Inbound hot", "steps": 7}),
    ("enrol_cadence", {"cadence": "Inbound hot – 7 steps", "queue": "Inbound SDR queue"}),
    ("enrol_cadence", {"cadence": "Inbound hot", "start_at": "2026-01-05T09:00:00Z"}),
    ("enrol_cadence", {"cadence": "Inbound hot", "start_at": "2026-01-05T09:00:00+01:00"}),
    ("add_to_nurture", {"track": "Mid-funnel nurture", "content": "ROI calculator"}),
    ("create_task", {"subject": "Call back", "due_in_days": 0}),
    ("create_task", {"subject": "Call back", "description": "About pricing", "due_in_days": 90}),
    ("flag_for_review", {"reason": "Looks like a competitor"}),
    ("send_email", {"to": "ada@example.com", "subject": "Hi", "body": "Hello"}),
    (
        "send_email",
        {"to": "ada@example.com", "cc": ["bo@example.com"], "subject": "Hi", "body": "x" * 10_000},
    ),
    ("update_crm_fields", {"fields": {"Industry": "Fintech", "Employees": 40, "Score": 0.5, "Hot": True}}),
    ("update_crm_fields", {"fields": {"Nickname": None}}),
    ("update_crm_fields", {"fields": {f"f{i}": i for i in range(20)}}),
    ("post_public_reply", {"body": "Here is how to reset it.", "ticket": "tkt-1"}),
    ("add_internal_note", {"body": "Customer is on the old plan."}),
    ("set_ticket_status", {"status": "solved"}),
    ("set_ticket_status", {"status": "pending", "group": "Billing", "ticket": "tkt-1"}),
    ("handoff_to_human", {"summary": "Wants a refund", "ticket": "tkt-1"}),
    ("handoff_to_human", {"summary": "Wants a refund", "queue": "Billing"}),
    ("account_lookup", {"account_id": "acc-1"}),
    ("account_lookup", {"email": "ada@example.com"}),
]


def test_it_has_a_schema_for_exactly_the_allow_listed_kinds():
    assert set(SCHEMAS) == set(ActionKind.values)
    assert {s.domain for s in SCHEMAS.values()} <= {"sales", "support", "operations"}


@pytest.mark.parametrize(("kind", "payload"), VALID)
def test_it_accepts_a_well_formed_payload_and_returns_a_copy(kind, payload):
    result = validate_payload(kind, payload)
    assert result == payload
    assert result is not payload


@pytest.mark.parametrize(
    ("kind", "payload", "field", "reason"),
    [
        # Unknown kinds and shapes fail closed.
        ("delete_everything", {}, "kind", "unknown action kind 'delete_everything'"),
        (None, {}, "kind", "unknown action kind None"),
        ("send_email", [], "payload", "must be an object, got list"),
        ("send_email", None, "payload", "must be an object, got null"),
        # Unknown fields are refused, naming what is allowed.
        ("enrol_cadence", {"cadence": "x", "owner": "y"}, "payload.owner", "not a field of enrol_cadence"),
        # Required fields.
        ("send_email", {"to": "a@b.co", "body": "x"}, "payload.subject", "is required"),
        ("enrol_cadence", {"steps": 7}, "payload.cadence", "is required"),
        ("update_crm_fields", {}, "payload.fields", "is required"),
        # One of several.
        ("assign_owner", {}, "payload.owner", "one of owner, queue is required"),
        ("account_lookup", {}, "payload.account_id", "one of account_id, email is required"),
        # Strings.
        ("send_email", {"to": "a@b.co", "subject": 5, "body": "x"}, "payload.subject", "must be a string, got integer"),
        ("send_email", {"to": "a@b.co", "subject": "  ", "body": "x"}, "payload.subject", "must not be blank"),
        ("send_email", {"to": "a@b.co", "subject": "s", "body": "x" * 10_001}, "payload.body", "at most 10000 characters"),
        ("send_email", {"to": "not-an-address", "subject": "s", "body": "x"}, "payload.to", "must be an email address"),
        ("send_email", {"to": "a@b.co", "subject": "s", "body": None}, "payload.body", "must be a string, got null"),
        ("flag_for_review", {"reason": "x" * 1001}, "payload.reason", "at most 1000 characters"),
        ("set_ticket_status", {"status": "closed"}, "payload.status", "must be one of open, pending, solved"),
        ("enrol_cadence", {"cadence": "x", "start_at": "next monday"}, "payload.start_at", "ISO 8601"),
        ("enrol_cadence", {"cadence": "x", "start_at": "2026-01-05T09:00:00"}, "payload.start_at", "timezone"),
        # Numbers: no booleans or floats posing as integers, ranges enforced.
        ("create_task", {"subject": "s", "due_in_days": 91}, "payload.due_in_days", "at most 90, got 91"),
        ("create_task", {"subject": "s", "due_in_days": -1}, "payload.due_in_days", "at least 0, got -1"),
        ("create_task", {"subject": "s", "due_in_days": 1.5}, "payload.due_in_days", "must be an integer, got number"),
        ("create_task", {"subject": "s", "due_in_days": True}, "payload.due_in_days", "must be an integer, got boolean"),
        ("create_task", {"subject": "s", "due_in_days": "3"}, "payload.due_in_days", "must be an integer, got string"),
        ("enrol_cadence", {"cadence": "x", "steps": 0}, "payload.steps", "at least 1"),
        # Lists.
        ("send_email", {"to": "a@b.co", "cc": "b@c.co", "subject": "s", "body": "x"}, "payload.cc", "must be a list of strings"),
        ("send_email", {"to": "a@b.co", "cc": ["b@c.co", 3], "subject": "s", "body": "x"}, "payload.cc[1]", "must be a string"),
        ("send_email", {"to": "a@b.co", "cc": ["x"], "subject": "s", "body": "x"}, "payload.cc[0]", "must be an email address"),
        ("send_email", {"to": "a@b.co", "cc": ["b@c.co"] * 11, "subject": "s", "body": "x"}, "payload.cc", "at most 10 items"),
        # Maps of scalars.
        ("update_crm_fields", {"fields": {}}, "payload.fields", "must not be empty"),
        ("update_crm_fields", {"fields": ["Industry"]}, "payload.fields", "must be an object, got list"),
        ("update_crm_fields", {"fields": {f"f{i}": i for i in range(21)}}, "payload.fields", "at most 20 keys, got 21"),
        ("update_crm_fields", {"fields": {"Tags": ["a"]}}, "payload.fields.Tags", "string, number, boolean or null"),
        ("update_crm_fields", {"fields": {"Nested": {"a": 1}}}, "payload.fields.Nested", "got object"),
        ("update_crm_fields", {"fields": {"Notes": "x" * 1001}}, "payload.fields.Notes", "at most 1000 characters"),
        ("update_crm_fields", {"fields": {"Score": float("nan")}}, "payload.fields.Score", "finite"),
        ("update_crm_fields", {"fields": {" ": 1}}, "payload.fields", "keys must be 1–100 characters"),
        ("update_crm_fields", {"fields": {"k" * 101: 1}}, "payload.fields", "keys must be 1–100 characters"),
    ],
)  # fmt: skip
def test_it_refuses_a_bad_payload_naming_the_field(kind, payload, field, reason):
    with pytest.raises(PayloadError) as excinfo:
        validate_payload(kind, payload)
    assert excinfo.value.field == field
    assert reason in excinfo.value.reason
    assert str(excinfo.value).startswith(f"{field}: ")


def test_it_reports_unknown_fields_before_missing_ones():
    with pytest.raises(PayloadError) as excinfo:
        validate_payload("send_email", {"bcc": "x"})
    assert excinfo.value.field == "payload.bcc"
    assert "allowed: to, cc, subject, body" in excinfo.value.reason


def test_it_returns_fields_in_schema_order():
    result = validate_payload("send_email", {"body": "b", "subject": "s", "to": "a@b.co"})
    assert list(result) == ["to", "subject", "body"]


def test_it_checks_only_the_given_fields_of_an_edit():
    assert validate_fields("send_email", {"subject": "Better subject"}) == {"subject": "Better subject"}
    with pytest.raises(PayloadError, match=r"payload.body: at most 10000"):
        validate_fields("send_email", {"body": "x" * 10_001})
    with pytest.raises(PayloadError, match=r"payload.steps: not a field of send_email"):
        validate_fields("send_email", {"steps": 3})
    with pytest.raises(PayloadError, match=r"kind: unknown action kind"):
        validate_fields("nope", {})


def test_it_checks_float_fields_and_refuses_unknown_field_types():
    spec = {"share": Field("float", minimum=0, maximum=1)}
    _check("payload.share", 0.5, spec["share"])
    _check("payload.share", 1, spec["share"])
    for bad, reason in ((True, "finite number"), (1.5, "at most 1"), (float("inf"), "finite number")):
        with pytest.raises(PayloadError, match=reason):
            _check("payload.share", bad, spec["share"])
    with pytest.raises(PayloadError, match="must be a boolean"):
        _check("payload.flag", "yes", Field("bool"))
    with pytest.raises(ValueError, match="field type must be one of"):
        Field("datetime")


@pytest.mark.parametrize(
    ("kind", "has_lead", "has_ticket", "domain"),
    [
        ("send_email", False, False, "sales"),
        ("post_public_reply", False, False, "support"),
        ("send_email", False, True, "support"),
        ("account_lookup", True, False, "sales"),
    ],
)
def test_it_derives_the_domain_from_the_target_then_the_kind(kind, has_lead, has_ticket, domain):
    assert default_domain(kind, has_lead=has_lead, has_ticket=has_ticket) == domain


def test_it_renders_the_schemas_as_a_markdown_table_with_one_row_per_kind_an_integration_may_propose():
    table = schemas_markdown().splitlines()
    assert len(table) == 2 + len(SCHEMAS) - 1
    assert any(row.startswith("| `send_email` | sales | `to`* (str, email") for row in table)
    assert not any("config_change" in row for row in table)  # only change control proposes it


def test_only_change_control_proposes_a_config_change():
    from approvals.schemas import PROPOSABLE_KINDS, RESERVED_KINDS, reserved_kind_refusal

    assert RESERVED_KINDS == {"config_change"} and "config_change" not in PROPOSABLE_KINDS
    refusal = reserved_kind_refusal("config_change")
    assert refusal is not None and refusal.field == "kind"
    assert "only through change control in the admin" in refusal.reason
    assert reserved_kind_refusal("send_email") is None and reserved_kind_refusal(None) is None


def test_the_api_docs_show_the_current_schemas():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    start, end = docs.index("<!-- schemas:start -->\n"), docs.index("\n<!-- schemas:end -->")
    assert docs[start + len("<!-- schemas:start -->\n") : end] == schemas_markdown(), (
        "docs/api.md is out of date: paste approvals.schemas.schemas_markdown() between the markers"
    )


def test_a_config_change_carries_any_json_but_bounded():
    payload = {
        "model": "sales.PlaybookRule",
        "after": {"conditions": {"score_at_least": 80}},
        "risk_note": "r",
    }
    assert validate_payload("config_change", payload) == payload
    with pytest.raises(PayloadError) as caught:
        validate_payload("config_change", {**payload, "after": {"x": "y" * 30_000}})
    assert caught.value.field == "payload.after"


# --- Header fields hold one line (issue 17) ---------------------------------------------------

LINE_BREAKS = ["\r\n", "\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]
SINGLE_LINE_FIELDS = [
    ("assign_owner", "owner"),
    ("assign_owner", "queue"),
    ("enrol_cadence", "cadence"),
    ("enrol_cadence", "queue"),
    ("add_to_nurture", "track"),
    ("add_to_nurture", "content"),
    ("create_task", "subject"),
    ("send_email", "to"),
    ("send_email", "subject"),
    ("send_sms", "to"),
    ("post_public_reply", "ticket"),
    ("add_internal_note", "ticket"),
    ("set_ticket_status", "group"),
    ("set_ticket_status", "ticket"),
    ("handoff_to_human", "queue"),
    ("handoff_to_human", "group"),
    ("handoff_to_human", "assignee"),
    ("handoff_to_human", "ticket"),
    ("config_change", "model"),
    ("config_change", "object"),
    ("account_lookup", "account_id"),
    ("account_lookup", "email"),
]


def test_the_header_and_name_fields_are_marked_single_line_and_text_fields_are_not():
    marked = {(k, n) for k, s in SCHEMAS.items() for n, f in s.fields.items() if f.single_line}
    assert marked == {*SINGLE_LINE_FIELDS, ("send_email", "cc"), ("handoff_to_human", "tags")}
    assert not SCHEMAS["send_email"].fields["body"].single_line
    assert not SCHEMAS["create_task"].fields["description"].single_line


@pytest.mark.parametrize(("kind", "name"), SINGLE_LINE_FIELDS)
@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_a_line_break_in_a_single_line_field_is_refused_in_a_proposal_and_in_an_edit(kind, name, brk):
    spec = SCHEMAS[kind].fields[name]
    good = {"email": "ada@example.com", "phone": "+4930123456"}.get(spec.format, "Inbound")
    assert not spec.choices  # a field with choices takes no free text, so is never listed here
    bad = good + brk + "Bcc: all@example.com" if spec.format != "email" else good + brk
    with pytest.raises(PayloadError) as error:
        validate_fields(kind, {name: bad})
    assert error.value.field == f"payload.{name}"
    assert "must be a single line" in str(error.value)


def test_a_line_break_in_a_cc_address_or_a_crm_field_name_is_refused():
    with pytest.raises(PayloadError, match=r"payload.cc\[1\]: must be a single line"):
        validate_fields("send_email", {"cc": ["bo@example.com", "al@example.com\n"]})
    with pytest.raises(PayloadError, match="payload.fields: keys must be one line"):
        validate_fields("update_crm_fields", {"fields": {"Title\nX": "CTO"}})


def test_a_body_may_hold_several_lines():
    payload = {"to": "ada@example.com", "subject": "Hi", "body": "Hi Ada,\r\n\r\nBest,\nBo"}
    assert validate_payload("send_email", payload)["body"] == payload["body"]
