"""The decision log and its seals in the admin: searchable, never editable."""

import pytest
from django.urls import reverse

from audit.models import AuditSeal, DecisionLogEntry
from audit.services import audit_seal_pending
from tests.audit.helpers import append

pytestmark = pytest.mark.django_db


def test_it_lists_and_searches_the_log_with_each_entrys_seal(admin_client):
    sealed = append(actor="sdr-agent")
    audit_seal_pending()
    append(actor="support-bot")
    url = reverse("admin:audit_decisionlogentry_changelist")
    response = admin_client.get(url, {"q": "support-bot"})
    assert response.status_code == 200
    assert [e.actor for e in response.context["cl"].result_list] == ["support-bot"]
    assert "pending" in response.content.decode()
    response = admin_client.get(url, {"q": str(sealed.correlation_id or sealed.event_id)})
    assert [e.pk for e in response.context["cl"].result_list] == [sealed.pk]


def test_it_shows_an_entry_and_a_seal_read_only(admin_client):
    entry = append()
    audit_seal_pending()
    seal = AuditSeal.objects.get()
    for model, obj in [(DecisionLogEntry, entry), (AuditSeal, seal)]:
        name = model._meta.model_name
        assert admin_client.get(reverse(f"admin:audit_{name}_change", args=[obj.pk])).status_code == 200
        assert admin_client.get(reverse(f"admin:audit_{name}_add")).status_code == 403
        assert admin_client.post(reverse(f"admin:audit_{name}_delete", args=[obj.pk])).status_code == 403
    response = admin_client.get(reverse("admin:audit_auditseal_changelist"), {"q": "not-a-number"})
    assert response.status_code == 200
    response = admin_client.get(reverse("admin:audit_auditseal_changelist"), {"q": seal.chain_hash})
    assert [s.pk for s in response.context["cl"].result_list] == [seal.pk]
