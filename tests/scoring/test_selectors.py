"""Loading leads for scoring: the columnar loader gives the matrix the record loader gives."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from sales.models import Lead, LeadEvent
from scoring.features import build_matrix, fit_vocabulary, matrix_from_columns, parse_spec
from scoring.models import FeatureSet
from scoring.selectors import lead_columns, lead_rows
from tests.factories import AccountFactory, LeadFactory

pytestmark = pytest.mark.django_db

SPEC = [
    {"name": "age", "source": "attributes.age", "type": "numeric", "display": "Age"},
    {
        "name": "job",
        "source": "attributes.job",
        "type": "categorical",
        "display": "Job",
        "missing": "category",
    },
    {"name": "vip", "source": "attributes.vip", "type": "boolean", "display": "VIP"},
    {"name": "country", "source": "lead.country", "type": "categorical", "display": "Country"},
    {"name": "deal", "source": "lead.deal_value", "type": "numeric", "display": "Deal", "missing": "zero"},
    {"name": "industry", "source": "account.industry", "type": "categorical", "display": "Industry"},
    {"name": "employees", "source": "account.employee_count", "type": "numeric", "display": "Employees"},
    {
        "name": "visits",
        "source": "events.pricing_visit",
        "type": "event_count",
        "window_days": 30,
        "display": "Pricing visits",
    },
]

ATTRIBUTES = [
    {"age": 41, "job": "admin.", "vip": True},
    {"age": "forty", "job": "", "vip": "yes"},  # text in a numeric field counts as missing
    {"age": None, "job": 7, "vip": "maybe"},  # a number in a categorical field is coded by its text
    {},
    {"age": "", "job": "never seen", "vip": 0},  # an empty string is missing; an unknown category too
]


def _leads():
    now = timezone.now()
    account = AccountFactory(industry="banking", employee_count=250)
    leads = []
    for i, attributes in enumerate(ATTRIBUTES):
        lead = LeadFactory(
            attributes=attributes,
            country=["PT", "", "DE", "PT", "FR"][i],
            deal_value=[None, 1000, 25.5, None, 0][i],
            account=account if i % 2 == 0 else None,
        )
        leads.append(lead)
        for days in range(i + 1):
            # One of these falls outside the 30-day window for the last lead.
            LeadEvent.objects.create(
                lead=lead,
                kind="pricing_visit",
                occurred_at=now - timedelta(days=days * 8),
                external_id=f"e{days}",
            )
    return leads, now


def _both(features, vocabulary, leads_qs, now):
    rows = lead_rows(leads_qs, features, as_of=now)
    columns = lead_columns(leads_qs, features, as_of=now)
    by_records = build_matrix(features, rows.records, vocabulary)
    by_columns = matrix_from_columns(features, columns.columns, vocabulary, rows=len(columns.ids))
    return rows, columns, by_records, by_columns


def test_it_loads_the_same_matrix_as_the_record_loader_for_every_source_kind():
    leads, now = _leads()
    features = parse_spec(SPEC)

    queryset = Lead.objects.filter(pk__in=[lead.pk for lead in leads]).order_by("id")
    vocabulary = fit_vocabulary(features, lead_rows(queryset, features, as_of=now).records)
    rows, columns, by_records, by_columns = _both(features, vocabulary, queryset, now)
    assert columns.ids == rows.ids == [lead.pk for lead in leads]
    np.testing.assert_array_equal(by_columns, by_records)
    # And the values are the ones the spec asks for, not merely the same garbage twice.
    assert by_columns[0, 0] == 41 and np.isnan(by_columns[1, 0]) and np.isnan(by_columns[4, 0])
    assert by_columns[:, 7].tolist() == [1, 2, 3, 4, 4]  # events within 30 days
    assert by_columns[:, 4].tolist() == [0, 1000, 25.5, 0, 0]


def test_it_loads_the_shipped_feature_sets_identically():
    _, now = _leads()
    queryset = Lead.objects.order_by("id")
    for feature_set in FeatureSet.objects.all():
        features = parse_spec(feature_set.features)
        vocabulary = fit_vocabulary(features, lead_rows(queryset, features, as_of=now).records)
        _, _, by_records, by_columns = _both(features, vocabulary, queryset, now)
        np.testing.assert_array_equal(by_columns, by_records, err_msg=feature_set.name)


def test_it_reads_a_lead_with_attributes_that_are_not_an_object_as_empty():
    lead = LeadFactory(attributes=["not", "an", "object"])
    features = parse_spec(SPEC[:1])

    loaded = lead_columns(Lead.objects.filter(pk=lead.pk), features, as_of=None)
    assert loaded.columns == {"age": [None]}
