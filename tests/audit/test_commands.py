"""manage.py verify_audit_log and export_audit_log."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from audit import chain
from audit.models import AuditSeal
from audit.selectors import audit_log_verify
from audit.services import audit_seal_pending
from tests.audit.helpers import append, behind_the_databases_back

pytestmark = pytest.mark.django_db


def _verify(*args):
    try:
        call_command("verify_audit_log", *args, stdout=(out := _Out()))
    except CommandError as exc:
        return False, out.text + str(exc)
    return True, out.text


class _Out:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def _sealed_log(count=4):
    entries = [append(subject_id=i) for i in range(count)]
    audit_seal_pending()
    return entries


def _on_day(entry, day):
    behind_the_databases_back(
        "UPDATE audit_decisionlogentry SET timestamp = %s WHERE id = %s",
        [datetime(2026, 11, day, 12, 0, tzinfo=UTC), entry.pk],
    )


def test_it_passes_on_an_intact_log():
    _sealed_log()
    ok, output = _verify()
    assert ok, output
    assert "checked 4 seals" in output
    assert "decision log intact" in output


def test_it_passes_on_an_empty_log():
    ok, output = _verify()
    assert ok and "checked 0 seals" in output


def test_it_detects_an_entry_altered_behind_the_databases_back():
    entries = _sealed_log()
    behind_the_databases_back(
        "UPDATE audit_decisionlogentry SET approval = %s WHERE id = %s",
        ['{"approver": "mallory", "decision": "approve"}', entries[2].pk],
    )
    ok, output = _verify()
    assert not ok
    assert f"first broken link: seal 3 (entry #{entries[2].pk}): entry_hash" in output
    assert "last good seal: 2" in output


def test_it_detects_a_deleted_seal():
    _sealed_log()
    behind_the_databases_back("DELETE FROM audit_auditseal WHERE sequence = 2")
    ok, output = _verify()
    assert not ok
    assert "seal 2" in output and "sequence" in output and "seal missing" in output


def test_it_detects_a_seal_whose_chain_hash_was_changed():
    _sealed_log()
    behind_the_databases_back("UPDATE audit_auditseal SET chain_hash = %s WHERE sequence = 3", ["f" * 64])
    ok, output = _verify()
    assert not ok and "seal 3" in output and "chain_hash" in output


def test_it_detects_an_entry_deleted_with_its_seal():
    entries = _sealed_log()
    behind_the_databases_back("DELETE FROM audit_auditseal WHERE entry_id = %s", [entries[1].pk])
    behind_the_databases_back("DELETE FROM audit_decisionlogentry WHERE id = %s", [entries[1].pk])
    ok, output = _verify()
    assert not ok and "seal 2" in output and "seal missing" in output


def test_it_fails_when_entries_stay_unsealed_too_long():
    _sealed_log(1)
    late = append()
    ok, output = _verify()
    assert ok and "1 recent entries are waiting for their seal" in output
    report = audit_log_verify(now=late.timestamp + timedelta(minutes=6))
    assert not report.ok and report.chain.ok
    assert (report.unsealed_overdue, report.oldest_overdue_id) == (1, late.pk)
    ok, output = _verify("--max-seal-lag", "0")
    assert not ok and f"1 entries unsealed for more than 0 s (oldest entry #{late.pk})" in output


def test_it_checks_only_the_stretch_of_chain_of_a_date_range():
    entries = [append(subject_id=i) for i in range(4)]
    for entry, day in zip(entries, [1, 2, 2, 3], strict=True):
        _on_day(entry, day)
    audit_seal_pending()
    # Tampering on day 3 does not fail a check of day 2 (the full check still catches it).
    behind_the_databases_back(
        "UPDATE audit_decisionlogentry SET actor = 'mallory' WHERE id = %s", [entries[3].pk]
    )
    ok, output = _verify("--from", "2026-11-02", "--to", "2026-11-02")
    assert ok and "checked 2 seals" in output
    ok, output = _verify()
    assert not ok and "seal 4" in output
    ok, output = _verify("--from", "2026-11-03")
    assert not ok and "seal 4" in output


def test_seal_audit_log_seals_what_is_pending_and_is_safe_to_run_twice():
    append()
    append()
    out = _Out()
    call_command("seal_audit_log", stdout=out)
    call_command("seal_audit_log", stdout=out)
    assert out.text.splitlines() == ["sealed 2 decision-log entries", "sealed 0 decision-log entries"]
    assert _verify()[0]


def test_it_refuses_a_date_it_cannot_read():
    with pytest.raises(CommandError, match="--from: 'yesterday' is not a date"):
        call_command("verify_audit_log", "--from", "yesterday")


def test_it_exports_the_entries_of_a_date_range_as_json_lines(tmp_path):
    entries = [append(subject_id=i, correlation_id=None) for i in range(4)]
    for entry, day in zip(entries, [1, 2, 3, 4], strict=True):
        _on_day(entry, day)
    audit_seal_pending()
    unsealed = append()
    _on_day(unsealed, 3)
    target = tmp_path / "log.jsonl"
    call_command("export_audit_log", "--from", "2026-11-02", "--to", "2026-11-03", str(target), stdout=_Out())
    lines = target.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert [row["id"] for row in rows] == [entries[1].pk, entries[2].pk, unsealed.pk]
    assert rows[0]["timestamp"] == "2026-11-02T12:00:00.000000Z"
    assert rows[0]["input_context"]["email"].startswith("hmac:")
    seals = dict(AuditSeal.objects.values_list("entry_id", "entry_hash"))
    for row in rows[:2]:
        # The export alone is enough to recompute each sealed hash.
        assert row["entry_hash"] == seals[row["id"]] == chain.entry_hash(row)
        assert row["seal_sequence"] is not None and len(row["chain_hash"]) == 64
    assert rows[2]["seal_sequence"] is None and rows[2]["entry_hash"] is None
