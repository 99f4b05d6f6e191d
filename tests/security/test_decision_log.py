"""Security's key changes reach the decision log through the writer audit registers, in the same
transaction as the change (security sits below audit and cannot import it)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

import security.decision_log
from audit.models import DecisionLogEntry
from security.models import ApiKey
from security.services import apikey_create, apikey_revoke
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class Abandoned(Exception):
    pass


def test_a_key_change_writes_its_entry_in_the_same_transaction():
    issued = apikey_create(user=UserFactory(), name="sync", scopes=["read_leads"], actor="user:ops")
    with pytest.raises(Abandoned), transaction.atomic():
        apikey_revoke(key_id=issued.key.pk, actor="user:ops")
        assert DecisionLogEntry.objects.filter(event_type="api_key.revoked").count() == 1
        raise Abandoned  # the caller's transaction rolls back: the revocation and its entry go together
    assert ApiKey.objects.get(pk=issued.key.pk).revoked_at is None
    assert not DecisionLogEntry.objects.filter(event_type="api_key.revoked").exists()
    created = DecisionLogEntry.objects.get(event_type="api_key.created")
    assert (created.actor, created.subject_type, created.subject_id) == (
        "user:ops",
        "api_key",
        str(issued.key.pk),
    )


def test_without_the_decision_logs_writer_a_key_is_refused_rather_than_issued_unrecorded(monkeypatch):
    monkeypatch.setattr(security.decision_log, "_WRITERS", {})
    with pytest.raises(ImproperlyConfigured, match="decision_log_writer_register"):
        apikey_create(user=UserFactory(), name="sync", scopes=["read_leads"])
    assert not ApiKey.objects.exists()
