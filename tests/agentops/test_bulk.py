"""insert_many and update_many: every row written, every field type kept, one statement a batch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.models import ProposedAction
from audit.models import DecisionLogEntry
from core.bulk import insert_many, update_many
from tests.factories import ProposedActionFactory

pytestmark = pytest.mark.django_db


def test_update_many_writes_each_rows_own_values_of_every_type_in_one_statement():
    actions = [ProposedActionFactory(idempotency_key=f"k-{n}") for n in range(5)]
    now = timezone.now()
    for n, action in enumerate(actions):
        action.status = "cancelled" if n % 2 else "rejected"
        action.executed_at = now + timedelta(minutes=n) if n % 2 else None
        action.payload = {"n": n, "text": 'o\'clock "quoted"'}
        action.required_approvals = n
        action.rationale = f"row {n}"

    with CaptureQueriesContext(connection) as queries:
        update_many(
            ProposedAction, actions, ["status", "executed_at", "payload", "required_approvals", "rationale"]
        )

    assert len([q for q in queries.captured_queries if "UPDATE" in q["sql"]]) == 1
    stored = {a.pk: a for a in ProposedAction.objects.filter(pk__in=[a.pk for a in actions])}
    for n, action in enumerate(actions):
        row = stored[action.pk]
        assert row.status == ("cancelled" if n % 2 else "rejected")
        assert row.executed_at == (now + timedelta(minutes=n) if n % 2 else None)
        assert row.payload == {"n": n, "text": 'o\'clock "quoted"'}
        assert (row.required_approvals, row.rationale) == (n, f"row {n}")


def test_insert_many_writes_every_row_in_one_statement():
    entries = [
        DecisionLogEntry(
            event_type="action.transitioned",
            actor="executor",
            subject_type="proposed_action",
            subject_id=str(n),
            action_taken={"n": n},
        )
        for n in range(7)
    ]
    with CaptureQueriesContext(connection) as queries:
        assert insert_many(DecisionLogEntry, entries) == 7

    assert len([q for q in queries.captured_queries if "INSERT" in q["sql"]]) == 1
    assert sorted(
        DecisionLogEntry.objects.filter(actor="executor").values_list("action_taken", flat=True), key=str
    ) == sorted(({"n": n} for n in range(7)), key=str)
