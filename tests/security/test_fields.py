"""Encrypted fields and the blind index: what the rows hold, and every write path keeping the index."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import FieldError
from django.db import connection

from approvals.models import ProposedAction
from core.bulk import insert_many
from sales.models import Lead
from sales.selectors import leads_with_email
from sales.services import lead_bulk_upsert
from security.crypto import blind_index
from support.selectors import tickets_with_requester_email
from tests.factories import LeadFactory, TicketFactory

pytestmark = pytest.mark.django_db


def _raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_it_stores_a_versioned_token_and_reads_the_clear_value():
    lead = LeadFactory(email="ada@example.com", phone="+44 20 7946 0123")

    raw_email, raw_phone = _raw("sales_lead", "email", lead.pk), _raw("sales_lead", "phone", lead.pk)
    assert raw_email.startswith("enc1:") and "ada" not in raw_email
    assert raw_phone.startswith("enc1:") and "7946" not in raw_phone
    assert raw_email != _raw("sales_lead", "email", LeadFactory(email="ada@example.com").pk)  # randomised
    fresh = Lead.objects.get(pk=lead.pk)
    assert (fresh.email, fresh.phone) == ("ada@example.com", "+44 20 7946 0123")
    assert Lead.objects.values_list("email", flat=True).get(pk=lead.pk) == "ada@example.com"


def test_it_keeps_empty_values_empty_so_has_no_email_stays_a_query():
    lead = LeadFactory(email="", phone="")

    assert _raw("sales_lead", "email", lead.pk) == ""
    assert _raw("sales_lead", "email_index", lead.pk) == ""
    assert list(Lead.objects.filter(email="")) == [lead]
    assert not Lead.objects.exclude(email="").exists()


def test_it_refuses_lookups_that_cannot_work_on_ciphertext():
    with pytest.raises(FieldError, match="Lead.email is encrypted.*blind index"):
        list(Lead.objects.filter(email="ada@example.com"))
    with pytest.raises(FieldError, match="Unsupported lookup 'icontains'"):
        list(Lead.objects.filter(email__icontains="ada"))


def test_it_finds_by_email_through_the_index_ignoring_case_and_spaces():
    lead = LeadFactory(email="Ada@Example.com")
    LeadFactory(email="bob@example.com")
    ticket = TicketFactory(requester_email="ada@example.com")

    assert _raw("sales_lead", "email_index", lead.pk) == blind_index("ada@example.com")
    assert list(leads_with_email(email="  ADA@example.COM ")) == [lead]
    assert list(tickets_with_requester_email(email="Ada@Example.com")) == [ticket]
    assert not leads_with_email(email="").exists()


def test_it_keeps_the_index_in_step_on_every_write_path():
    lead = LeadFactory(email="one@example.com")

    lead.email = "two@example.com"
    lead.save(update_fields=["email"])
    assert list(leads_with_email(email="two@example.com")) == [lead]

    Lead.objects.filter(pk=lead.pk).update(email="three@example.com")
    assert list(leads_with_email(email="three@example.com")) == [lead]

    lead.email = "four@example.com"
    Lead.objects.bulk_update([lead], ["email"])
    assert list(leads_with_email(email="four@example.com")) == [lead]

    created = Lead.objects.bulk_create([Lead(source="demo", external_id="bulk-1", email="five@example.com")])
    assert list(leads_with_email(email="five@example.com")) == created

    insert_many(Lead, [Lead(source="demo", external_id="many-1", email="six@example.com")])
    assert leads_with_email(email="six@example.com").get().external_id == "many-1"

    Lead.objects.filter(pk=lead.pk).update(email="")
    assert _raw("sales_lead", "email_index", lead.pk) == ""
    with pytest.raises(FieldError, match="Lead.email can only be updated to a plain value"):
        from django.db.models import F

        Lead.objects.filter(pk=lead.pk).update(email=F("phone"))


def test_the_upsert_updates_the_index_when_an_email_changes():
    row = {"source": "hubspot", "external_id": "h-1", "last_name": "Wu", "email": "lin@example.com"}
    assert lead_bulk_upsert(rows=[row], actor="test").ok
    assert lead_bulk_upsert(rows=[{**row, "email": "lin.wu@example.com"}], actor="test").ok

    assert not leads_with_email(email="lin@example.com").exists()
    assert leads_with_email(email="lin.wu@example.com").get().last_name == "Wu"
    resend = lead_bulk_upsert(rows=[{**row, "email": "lin.wu@example.com"}], actor="test")
    assert resend.result is not None and resend.result.summary["unchanged"] == 1  # clear values compared


def test_json_payloads_are_encrypted_and_read_back_as_json():
    from tests.factories import ProposedActionFactory

    action = ProposedActionFactory(kind="send_email", payload={"to": "ada@example.com", "n": [1, 2]})

    raw = _raw("approvals_proposedaction", "payload", action.pk)
    assert "ada@example.com" not in raw
    assert json.loads(raw)["to"].startswith("enc1:") and json.loads(raw)["n"] == [1, 2]
    action.refresh_from_db()
    assert action.payload == {"to": "ada@example.com", "n": [1, 2]}
    # Only the personal values are encrypted: the rest stays queryable (role scoping reads "queue").
    assert ProposedAction.objects.filter(payload__has_key="to", payload__n=[1, 2]).get() == action
