"""The Slack cards and modals, and reading modal input back: pure, no database, no Slack."""

import json

import pytest

from notifications.slack.blocks import (
    CardFacts,
    EditField,
    EditValueError,
    ModalContext,
    card_blocks,
    card_text,
    edit_modal,
    edits_from_modal,
    modal_values,
    read_button_value,
    read_metadata,
    reject_modal,
)

HASH = "c" * 64


def _facts(**changes):
    values = {
        "action_id": 12,
        "kind_label": "Enrol in cadence",
        "domain_label": "Sales",
        "rationale": "Asked for <pricing> & a demo.",
        "confidence": 0.6,
        "confidence_source": "reported by the agent",
        "risk_level": "medium",
        "payload_sha256": HASH,
        "link": "https://agentops.example.com/approvals/12/",
        "reasons": ("Low confidence", "Big deal", "New account", "Fourth reason"),
        "change": (("cadence", "Inbound hot"),),
    }
    return CardFacts(**{**values, **changes})


def _buttons(blocks):
    return {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"]}


def _all_text(blocks):
    return json.dumps(blocks, ensure_ascii=False)


def test_a_pending_card_shows_the_facts_and_the_four_buttons_carrying_item_and_hash():
    blocks = card_blocks(_facts())
    text = _all_text(blocks)
    assert "Asked for &lt;pricing&gt; &amp; a demo." in text  # mrkdwn escaped
    assert "0.60 (reported by the agent)" in text and "*Risk:* medium" in text
    assert "Big deal" in text and "Fourth reason" not in text  # the top three reasons
    assert "`cadence`: Inbound hot" in text
    buttons = _buttons(blocks)
    assert list(buttons) == ["approve", "reject", "edit", "open"]
    assert buttons["open"]["url"] == "https://agentops.example.com/approvals/12/"
    assert read_button_value(buttons["approve"]["value"]) == read_button_value(buttons["reject"]["value"])
    assert read_button_value(buttons["approve"]["value"]).payload_sha256 == HASH


def test_a_card_needing_reauthentication_offers_no_approve_or_edit_and_says_why():
    blocks = card_blocks(_facts(risk_level="high", reauth_required=True))
    assert list(_buttons(blocks)) == ["reject", "open"]
    assert "Approving a high-risk item needs your password" in _all_text(blocks)


def test_a_decided_card_names_who_decided_what_and_offers_only_the_link():
    approved = card_blocks(_facts(status="approved", status_label="Approved", decided_by="sofia"))
    assert "✅ Approved by *sofia*." in _all_text(approved)
    assert list(_buttons(approved)) == ["open"]
    rejected = card_blocks(_facts(status="rejected", status_label="Rejected", decided_by="liam"))
    assert "❌ Rejected by *liam*." in _all_text(rejected)
    assert card_text(_facts(status="expired", status_label="Expired")) == "Enrol in cadence #12: expired"


def test_a_partly_approved_card_says_who_approved_and_how_many_are_needed():
    blocks = card_blocks(_facts(approved_by=("sofia",), required_approvals=2))
    assert "Approved by sofia (1 of 2); waits for another approver." in _all_text(blocks)
    assert "approve" in _buttons(blocks)


def test_a_long_change_is_cut_to_what_a_section_holds():
    change = tuple((f"field{i}", "x" * 500) for i in range(30))
    section = next(b for b in card_blocks(_facts(change=change)) if "Proposed change" in b["text"]["text"])
    assert len(section["text"]["text"]) <= 3000 and "… and 18 more in AgentOps" in section["text"]["text"]


@pytest.mark.parametrize("value", ["", "{}", '{"a": "1", "h": "x"}', "[1]", "not json"])
def test_a_button_value_that_is_not_ours_is_refused(value):
    with pytest.raises(ValueError):
        read_button_value(value)


def test_the_reject_modal_asks_for_a_reason_and_a_comment_and_carries_the_card():
    context = ModalContext(12, HASH, "C1", "1.000001")
    modal = reject_modal(context=context, reasons=[("bad_timing", "Bad timing")], title="Enrol #12")
    assert read_metadata(modal["private_metadata"]) == context
    reason = next(b for b in modal["blocks"] if b.get("block_id") == "reason")
    assert reason["element"]["options"] == [
        {"text": {"type": "plain_text", "text": "Bad timing"}, "value": "bad_timing"}
    ]
    assert next(b for b in modal["blocks"] if b.get("block_id") == "comment")["optional"] is True


def test_the_edit_modal_prefills_each_field_and_reads_back_typed_edits_only():
    original = {"subject": "Hi", "steps": 3, "urgent": False, "note": None, "tags": ["a"]}
    fields = [EditField("subject", "Hi"), EditField("steps", "3"), EditField("urgent", "false")]
    modal = edit_modal(context=ModalContext(12, HASH), fields=fields, title="Edit")
    inputs = {b["block_id"]: b for b in modal["blocks"] if b["type"] == "input"}
    assert inputs["f__subject"]["element"]["initial_value"] == "Hi"

    view = {
        "state": {
            "values": {
                "f__subject": {"value": {"value": "Hello"}},
                "f__steps": {"value": {"value": "4"}},
                "f__urgent": {"value": {"value": "false"}},
                "f__note": {"value": {"value": ""}},
                "f__tags": {"value": {"value": '["a", "b"]'}},
                "comment": {"value": {"value": "tweaked"}},
            }
        }
    }
    values = modal_values(view)
    assert values["comment"] == "tweaked"
    assert edits_from_modal(values, original) == {"subject": "Hello", "steps": 4, "tags": ["a", "b"]}


@pytest.mark.parametrize(
    ("original", "typed", "message"),
    [
        (3, "three", "whole number"),
        (True, "yes", "true or false"),
        (0.5, "half", "number"),
        ({"a": 1}, "{", "JSON"),
    ],
)
def test_an_edit_that_is_not_of_its_fields_type_names_the_field(original, typed, message):
    with pytest.raises(EditValueError, match=message) as refused:
        edits_from_modal({"f__x": typed}, {"x": original})
    assert refused.value.block_id == "f__x"


def test_an_edit_of_a_field_the_item_does_not_have_is_refused():
    with pytest.raises(EditValueError):
        edits_from_modal({"f__bcc": "me@evil.example"}, {"subject": "Hi"})


def test_a_selected_option_is_read_as_its_value():
    view = {"state": {"values": {"reason": {"value": {"selected_option": {"value": "duplicate"}}}}}}
    assert modal_values(view) == {"reason": "duplicate"}
