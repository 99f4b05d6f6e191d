"""The privacy admin pages render with rows, consent records are read-only proof, and a retention
policy edited in the admin keeps its history."""

from __future__ import annotations

import pytest
from django.urls import reverse

from consent.models import ConsentRecord
from privacy.models import RetentionPolicy
from privacy.services import consent_withdraw, data_subject_request_create
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_every_privacy_admin_page_renders_with_rows(root):
    lead = LeadFactory(email="ada@example.com")
    consent_withdraw(lead_id=lead.pk, channels=["sms"], source="api", actor="x")
    request = data_subject_request_create(kind="access", email="ada@example.com", user=None)
    record = ConsentRecord.objects.get()
    policy = RetentionPolicy.objects.get(kind="tickets")
    for name, obj in (
        ("consent_consentrecord", record),
        ("privacy_retentionpolicy", policy),
        ("privacy_datasubjectrequest", request),
    ):
        assert root.get(reverse(f"admin:{name}_changelist")).status_code == 200
        assert root.get(reverse(f"admin:{name}_change", args=[obj.pk])).status_code == 200
    assert root.get(reverse("admin:privacy_datasubjectrequest_add")).status_code == 200
    assert (
        root.get(reverse("admin:consent_consentrecord_add")).status_code == 403
    )  # proof: never added by hand


def test_a_retention_period_edited_in_the_admin_is_kept_in_its_history(root):
    policy = RetentionPolicy.objects.get(kind="webhook_events")
    url = reverse("admin:privacy_retentionpolicy_change", args=[policy.pk])

    response = root.post(url, {"kind": "webhook_events", "days": 30, "action": "delete", "is_active": "on"})

    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.days == 30
    [change] = policy.history.all()
    assert (change.days, change.history_user.username) == (30, "root")


def test_the_admin_refuses_an_action_a_kind_cannot_take(root):
    policy = RetentionPolicy.objects.get(kind="inactive_leads")
    url = reverse("admin:privacy_retentionpolicy_change", args=[policy.pk])

    response = root.post(url, {"kind": "inactive_leads", "days": 30, "action": "delete", "is_active": "on"})

    assert response.status_code == 200 and b"can only be: anonymise" in response.content
    policy.refresh_from_db()
    assert (policy.days, policy.action) == (730, "anonymise")
