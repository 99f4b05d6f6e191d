import pytest
from django.db import IntegrityError, transaction

from sales.models import Lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_it_rejects_a_second_lead_with_the_same_source_and_external_id():
    LeadFactory(source="hubspot", external_id="h-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        LeadFactory(source="hubspot", external_id="h-1")


def test_it_allows_the_same_external_id_in_another_source():
    LeadFactory(source="hubspot", external_id="x-1")
    LeadFactory(source="salesforce", external_id="x-1")
    assert Lead.objects.filter(external_id="x-1").count() == 2


def test_it_rejects_two_leads_with_one_salesforce_id_but_allows_many_without():
    LeadFactory(salesforce_id="00Q000000000001")
    LeadFactory(salesforce_id=None)
    LeadFactory(salesforce_id=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        LeadFactory(salesforce_id="00Q000000000001")


def test_it_rejects_a_negative_deal_value():
    with pytest.raises(IntegrityError), transaction.atomic():
        LeadFactory(deal_value=-1)


def test_it_names_a_lead_by_person_or_by_key():
    assert str(LeadFactory(first_name="Grace", last_name="Hopper")) == "Grace Hopper"
    assert str(LeadFactory(source="api", external_id="k-9", first_name="", last_name="")) == "api:k-9"
