"""IntentPolicy: the seeded defaults, the database rules, history and the admin."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from support.models import IntentPolicy
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SENSITIVE = [
    "request_refund",
    "lost_or_stolen_card",
    "compromised_card",
    "terminate_account",
    "card_payment_not_recognised",
    "verify_my_identity",
]


def test_every_intent_is_seeded_at_the_default_threshold():
    # The shipped intent model's default threshold (support/0009; docs/support-bot.md).
    assert IntentPolicy.objects.count() == 77
    assert set(IntentPolicy.objects.values_list("threshold", flat=True)) == {0.838}


@pytest.mark.parametrize("intent", SENSITIVE)
def test_sensitive_intents_are_seeded_not_safe_and_for_a_human(intent):
    policy = IntentPolicy.objects.get(intent=intent)
    assert not policy.is_safe and policy.requires_human
    assert policy.notes
    assert not policy.may_auto_answer(0.999)


def test_a_plain_question_is_seeded_safe():
    policy = IntentPolicy.objects.get(intent="card_arrival")
    assert policy.is_safe and not policy.requires_human
    assert policy.may_auto_answer(0.95)
    assert not policy.may_auto_answer(0.5)


def test_a_new_intent_is_not_safe_until_someone_says_so():
    policy = IntentPolicy.objects.create(intent="brand_new_intent")
    assert not policy.is_safe and not policy.may_auto_answer(1.0)


@pytest.mark.parametrize("threshold", [-0.01, 1.01])
def test_the_database_refuses_a_threshold_outside_0_to_1(threshold):
    with pytest.raises(IntegrityError), transaction.atomic():
        IntentPolicy.objects.create(intent="x", threshold=threshold)


def test_the_database_refuses_an_intent_both_safe_and_for_a_human():
    with pytest.raises(IntegrityError), transaction.atomic():
        IntentPolicy.objects.create(intent="x", is_safe=True, requires_human=True)


def test_intents_are_unique():
    with pytest.raises(IntegrityError), transaction.atomic():
        IntentPolicy.objects.create(intent="card_arrival")


def test_changes_keep_a_history():
    policy = IntentPolicy.objects.get(intent="card_arrival")
    for threshold in (0.8, 0.85):
        policy.threshold = threshold
        policy.save()
    assert [h.threshold for h in policy.history.order_by("history_date")] == [0.8, 0.85]


def test_the_admin_lists_and_shows_history(client):
    admin = UserFactory(username="ops", is_staff=True, is_superuser=True)
    client.force_login(admin)
    listing = client.get("/admin/support/intentpolicy/")
    assert listing.status_code == 200
    assert b"request_refund" in listing.content
    policy = IntentPolicy.objects.get(intent="card_arrival")
    assert client.get(f"/admin/support/intentpolicy/{policy.pk}/history/").status_code == 200
