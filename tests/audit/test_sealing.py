"""Sealing decision-log entries into the hash chain (audit_seal_pending) and linked outcomes."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from audit import chain
from audit.bulk import LogEntry, decision_log_append_many
from audit.models import AppendOnlyError, AuditSeal, DecisionLogEntry
from audit.selectors import audit_log_verify, audit_seal_lag
from audit.services import audit_seal_pending, decision_log_append_outcome
from tests.audit.helpers import append

pytestmark = pytest.mark.django_db


def _chain():
    return list(AuditSeal.objects.order_by("sequence").values_list("sequence", "entry_id"))


def test_it_seals_every_entry_once_in_one_chain_even_when_run_twice():
    entries = [append(subject_id=i) for i in range(3)]
    assert audit_seal_pending() == 3
    assert audit_seal_pending() == 0
    assert _chain() == [(1, entries[0].pk), (2, entries[1].pk), (3, entries[2].pk)]
    assert audit_log_verify().ok


def test_it_stores_the_hash_of_the_entry_as_read_back_and_links_it_to_the_previous_seal():
    append()
    second = append()
    audit_seal_pending()
    seals = list(AuditSeal.objects.order_by("sequence"))
    stored = DecisionLogEntry.objects.filter(pk=second.pk).values(*chain.HASHED_FIELDS).get()
    assert seals[1].entry_hash == chain.entry_hash(stored)
    assert seals[1].chain_hash == chain.chain_hash(previous=seals[0].chain_hash, entry=seals[1].entry_hash)
    assert seals[0].chain_hash == chain.chain_hash(previous=chain.GENESIS, entry=seals[0].entry_hash)


def test_it_continues_the_chain_across_runs_and_batches():
    append()
    audit_seal_pending()
    for i in range(5):
        append(subject_id=i)
    assert audit_seal_pending(batch_size=2) == 5
    assert [s for s, _ in _chain()] == [1, 2, 3, 4, 5, 6]
    assert audit_log_verify().chain.checked == 6


def test_it_seals_entries_written_in_bulk_without_any_per_entry_hook():
    DecisionLogEntry.objects.bulk_create(
        DecisionLogEntry(event_type="action.proposed", actor="playbook", subject_id=str(i)) for i in range(4)
    )
    assert audit_seal_pending() == 4
    assert audit_log_verify().ok


def test_it_seals_entries_appended_in_bulk_soon_after_they_commit(
    django_capture_on_commit_callbacks, monkeypatch, settings
):
    settings.AUDIT_SEAL_ON_COMMIT = True
    monkeypatch.setattr(Conf, "SYNC", True)
    entries = [LogEntry(event_type="action.proposed", actor="playbook", subject_id=i) for i in range(3)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert decision_log_append_many(entries=entries) == 3
    assert len(callbacks) == 1
    assert AuditSeal.objects.count() == 3
    assert audit_log_verify().ok


def test_it_seals_an_entry_that_commits_after_a_higher_id_was_sealed_at_the_end_of_the_chain():
    # A transaction that took id 5 but committed after id 1000 was sealed: it must not be skipped.
    high = DecisionLogEntry.objects.create(id=1000, event_type="action.proposed", actor="sdr-agent")
    audit_seal_pending()
    late = DecisionLogEntry.objects.create(id=5, event_type="action.proposed", actor="sdr-agent")
    assert audit_seal_pending() == 1
    assert _chain() == [(1, high.pk), (2, late.pk)]
    assert audit_log_verify().ok


def test_it_refuses_updates_and_deletes_of_seals_through_the_orm():
    append()
    audit_seal_pending()
    seal = AuditSeal.objects.get()
    seal.chain_hash = "0" * 64
    with pytest.raises(AppendOnlyError):
        seal.save()
    with pytest.raises(AppendOnlyError):
        seal.delete()
    with pytest.raises(AppendOnlyError):
        AuditSeal.objects.update(chain_hash="x")
    with pytest.raises(AppendOnlyError):
        AuditSeal.objects.all().delete()
    assert audit_log_verify().ok


def test_it_queues_one_sealer_run_for_many_commits(django_capture_on_commit_callbacks, settings):
    settings.AUDIT_SEAL_ON_COMMIT = True
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        append()
        append()
    assert len(callbacks) == 2
    assert OrmQ.objects.count() == 1
    assert AuditSeal.objects.count() == 0  # the worker seals them, not the request


def test_it_seals_entries_soon_after_they_commit(django_capture_on_commit_callbacks, monkeypatch, settings):
    settings.AUDIT_SEAL_ON_COMMIT = True
    monkeypatch.setattr(Conf, "SYNC", True)  # run the django-q task in-process, as Q_SYNC=true does
    with django_capture_on_commit_callbacks(execute=True):
        entry = append()
    assert AuditSeal.objects.get().entry_id == entry.pk


def test_it_queues_no_sealer_run_for_a_rolled_back_entry(django_capture_on_commit_callbacks, settings):
    settings.AUDIT_SEAL_ON_COMMIT = True
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            append()
            raise RuntimeError
    assert callbacks == []


def test_it_queues_nothing_when_sealing_on_commit_is_off(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        append()
    assert callbacks == [] and OrmQ.objects.count() == 0


def test_it_measures_how_long_the_oldest_entry_has_waited_for_its_seal():
    assert audit_seal_lag() == timedelta(0)
    entry = append()
    later = entry.timestamp + timedelta(minutes=7)
    assert audit_seal_lag(now=later) == timedelta(minutes=7)
    audit_seal_pending()
    assert audit_seal_lag(now=later) == timedelta(0)


def test_it_appends_an_outcome_as_a_linked_entry_without_touching_the_decision():
    decision = append(event_type="action.decided", approval={"approver": "manager", "decision": "approve"})
    before = DecisionLogEntry.objects.filter(pk=decision.pk).values(*chain.HASHED_FIELDS).get()
    outcome = decision_log_append_outcome(
        caused_by=decision, outcome={"meeting_booked": True}, actor="hubspot-sync"
    )
    outcome.refresh_from_db()
    assert outcome.event_type == "outcome.recorded"
    assert outcome.caused_by_id == decision.pk
    assert outcome.outcome == {"meeting_booked": True}
    assert (outcome.subject_type, outcome.subject_id) == (decision.subject_type, decision.subject_id)
    assert outcome.correlation_id == decision.correlation_id
    assert list(decision.followups.all()) == [outcome]
    assert DecisionLogEntry.objects.filter(pk=decision.pk).values(*chain.HASHED_FIELDS).get() == before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditseal SET chain_hash = 'forged'",
        "DELETE FROM audit_auditseal",
        "TRUNCATE audit_auditseal",
    ],
)
def test_postgres_itself_rejects_raw_changes_to_the_seals(sql):
    append()
    audit_seal_pending()
    with (
        pytest.raises(DatabaseError, match="audit_auditseal is append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditSeal.objects.count() == 1
    assert audit_log_verify().ok


def _run_in_threads(*targets):
    """Start every target at the same moment, each on its own connection; re-raise any failure."""
    barrier = threading.Barrier(len(targets))

    def run(target):
        barrier.wait()
        try:
            return target()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        futures = [pool.submit(run, t) for t in targets]
    return [f.result() for f in futures]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sealers_seal_each_entry_once_in_a_single_chain():
    ids = [append(subject_id=i).pk for i in range(60)]
    sealed = _run_in_threads(*[lambda: audit_seal_pending(batch_size=7)] * 4)
    assert sum(sealed) == 60
    assert sorted(AuditSeal.objects.values_list("entry_id", flat=True)) == ids
    assert list(AuditSeal.objects.values_list("sequence", flat=True)) == list(range(1, 61))
    assert audit_log_verify().chain.checked == 60


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sealing_while_decisions_are_written_loses_no_entry_and_keeps_one_chain():
    def write():
        for i in range(30):
            with transaction.atomic():
                append(subject_id=i)

    def seal():
        for _ in range(15):
            audit_seal_pending(batch_size=5)

    _run_in_threads(write, write, seal, seal)
    audit_seal_pending()
    assert AuditSeal.objects.count() == DecisionLogEntry.objects.count() == 60
    report = audit_log_verify(now=timezone.now())
    assert report.ok and report.chain.checked == 60
