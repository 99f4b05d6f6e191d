import csv
import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.selectors import actions_queue
from approvals.services import action_approve, action_reject, action_route
from tests.factories import (
    AccountFactory,
    LeadFactory,
    ProposedActionFactory,
    UserFactory,
    payload_seen,
    user_in_role,
)

pytestmark = pytest.mark.django_db


def _pending(**kwargs):
    return action_route(action_id=ProposedActionFactory(**kwargs).pk)


def test_the_queue_puts_sla_first_then_impact_then_uncertainty():
    now = timezone.now()
    late = _pending(confidence=0.9)
    late.sla_due_at = now + timedelta(minutes=5)
    late.save(update_fields=["sla_due_at"])
    big = _pending(lead=LeadFactory(deal_value=Decimal(90000)), confidence=0.9)
    rich_account = _pending(
        lead=LeadFactory(account=AccountFactory(account_value=Decimal(50000))), confidence=0.9
    )
    unsure = _pending(confidence=0.52)
    sure = _pending(confidence=0.97)
    order = [a.pk for a in actions_queue()]
    assert order == [late.pk, big.pk, rich_account.pk, unsure.pk, sure.pk]


def test_the_queue_shows_a_user_the_items_of_their_groups_and_unrouted_ones():
    directors = Group.objects.create(name="Sales directors")
    routed = _pending()
    routed.approver_group = directors
    routed.save(update_fields=["approver_group"])
    open_item = _pending()
    # Both are SDR managers (sales is their domain, security.roles); routing splits the work.
    member, outsider = user_in_role("SDR managers"), user_in_role("SDR managers")
    member.groups.add(directors)
    assert {a.pk for a in actions_queue(user=member)} == {routed.pk, open_item.pk}
    assert {a.pk for a in actions_queue(user=outsider)} == {open_item.pk}
    assert list(actions_queue(user=UserFactory())) == []  # in no role: nothing


def test_the_queue_reads_in_one_query_whatever_its_size():
    for _ in range(3):
        _pending(lead=LeadFactory(account=AccountFactory()))
    with CaptureQueriesContext(connection) as few:
        list(actions_queue()[:50])
    for _ in range(20):
        _pending(lead=LeadFactory(account=AccountFactory()))
    with CaptureQueriesContext(connection) as many:
        items = list(actions_queue()[:50])
        _ = [(a.lead.account.name, a.impact) for a in items]
    assert len(few.captured_queries) == len(many.captured_queries) == 1


def test_export_feedback_labels_approvals_rejections_and_edits(tmp_path):
    approved = _pending(payload={"steps": 7})
    edited = _pending(payload={"steps": 7})
    rejected = _pending(payload={"steps": 7})
    _pending(kind="account_lookup")  # decided by the policy: not a human label
    action_approve(
        action_id=approved.pk, user=UserFactory(username="ana"), seen_payload_sha256=payload_seen(approved.pk)
    )
    action_approve(
        action_id=edited.pk,
        user=UserFactory(username="ben"),
        seen_payload_sha256=payload_seen(edited.pk),
        edits={"steps": 3},
    )
    action_reject(
        action_id=rejected.pk, user=UserFactory(username="cy"), reason_code="wrong_action", comment="nurture"
    )
    path = tmp_path / "feedback.jsonl"
    call_command("export_feedback", str(path), stdout=StringIO())
    examples = {e["action_id"]: e for e in map(json.loads, path.read_text().splitlines())}
    assert set(examples) == {approved.pk, edited.pk, rejected.pk}
    assert examples[approved.pk]["label"] == "positive" and examples[approved.pk]["approver"] == "ana"
    assert examples[edited.pk]["label"] == "corrected"
    assert examples[edited.pk]["payload_diff"] == {"steps": {"from": 7, "to": 3}}
    assert (
        examples[rejected.pk]["label"] == "negative"
        and examples[rejected.pk]["reason_code"] == "wrong_action"
    )
    csv_path = tmp_path / "feedback.csv"
    call_command("export_feedback", str(csv_path), "--format", "csv", stdout=StringIO())
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 3 and json.loads(rows[1]["final_payload"]) == {"steps": 3}


def test_export_feedback_names_a_bad_since(tmp_path):
    with pytest.raises(CommandError, match="since: 'yesterday'"):
        call_command("export_feedback", str(tmp_path / "x.jsonl"), "--since", "yesterday", stdout=StringIO())


def test_the_queue_facets_count_every_filter_they_can_answer_as_the_queue_itself_does():
    from approvals.models import ProposedAction
    from approvals.selectors import actions_queue_facets
    from tests.factories import ModelVersionFactory

    now = timezone.now()
    sdr, support = (
        Group.objects.get_or_create(name="SDR managers")[0],
        Group.objects.get_or_create(name="Support leads")[0],
    )
    user = UserFactory()
    user.groups.add(sdr, support)  # both domains (security.roles), so the queue mixes them
    tier2 = Group.objects.create(name="Support tier 2")
    version = ModelVersionFactory()
    shapes = [
        ("sales", "low", "hot", version, sdr, timedelta(minutes=-5)),
        ("sales", "high", "hot", None, sdr, timedelta(minutes=30)),
        ("sales", "low", "", version, None, timedelta(hours=3)),
        ("support", "medium", "handoff", None, None, None),
        ("support", "low", "handoff", None, tier2, timedelta(minutes=-1)),  # not this user's
    ]
    for domain, risk, rule, model, group, due in shapes * 2:
        action = ProposedActionFactory(
            domain=domain, risk_level=risk, matched_rule=rule, model_version=model, ticket=None
        )
        ProposedAction.objects.filter(pk=action.pk).update(
            status="pending_approval", approver_group=group, sla_due_at=now + due if due else None
        )
    facets = actions_queue_facets(user=user, now=now)
    for filters in [
        {},
        {"domain": "sales"},
        {"risk": "low"},
        {"domain": "support", "risk": "medium"},
        {"matched_rule": "hot"},
        {"model_version_id": version.pk},
        {"sla": "overdue"},
        {"sla": "1h", "domain": "sales"},
        {"sla": "4h"},
    ]:
        assert facets.count(**filters) == actions_queue(user=user, now=now, **filters).count(), filters
    assert facets.counts.total == 8 and facets.counts.overdue == 2 and facets.counts.due_soon == 2
    assert facets.choices.rules == ["handoff", "hot"]
    assert [pk for pk, _ in facets.choices.model_versions] == [version.pk]
    assert facets.count(min_confidence=0.5) is None  # the items themselves must be counted


def test_a_queue_slice_is_the_same_items_in_the_same_order_as_slicing_the_sorted_queue():
    import random

    from approvals.models import ProposedAction
    from approvals.selectors import actions_queue_slice

    rng = random.Random(3)
    now = timezone.now().replace(microsecond=0)
    accounts = [AccountFactory(account_value=Decimal(v)) for v in (0, 5000, 90000)]
    for _ in range(60):
        action = ProposedActionFactory(
            lead=LeadFactory(
                deal_value=Decimal(rng.choice([0, 100, 5000])) if rng.random() < 0.7 else None,
                account=rng.choice([*accounts, None]),
            ),
            confidence=rng.choice([0.1, 0.5, 0.55, 0.9]),
        )
        # Few distinct due times, so many ties across the page boundaries; some without an SLA.
        due = now + timedelta(minutes=rng.choice([-30, 0, 10, 10, 60])) if rng.random() < 0.8 else None
        ProposedAction.objects.filter(pk=action.pk).update(status="pending_approval", sla_due_at=due)
    queue = actions_queue(now=now)
    everything = [a.pk for a in queue]
    assert len(everything) == 60
    for offset, limit in [(0, 7), (7, 7), (5, 10), (40, 20), (45, 20), (59, 5), (60, 5), (0, 60)]:
        got = [a.pk for a in actions_queue_slice(queue, offset=offset, limit=limit)]
        assert got == everything[offset : offset + limit], (offset, limit)
    low = actions_queue(now=now, risk="medium", sla="1h")
    assert [a.pk for a in actions_queue_slice(low, offset=3, limit=4)] == [a.pk for a in low][3:7]


def test_cached_queue_counts_are_reused_until_an_action_changes(settings):
    from approvals.selectors import actions_queue_facets_cached

    settings.APPROVAL_QUEUE_FACETS_SECONDS = 600
    group = Group.objects.get_or_create(name="SDR managers")[0]
    manager, other = UserFactory(), UserFactory()
    manager.groups.add(group)
    other.groups.add(group)
    first, _ = _pending(), _pending()
    assert actions_queue_facets_cached(user=manager).counts.total == 2
    with CaptureQueriesContext(connection) as queries:
        assert actions_queue_facets_cached(user=manager).counts.total == 2
    assert len(queries) == 1  # the newest change (the user's scope is read once per user); no counting
    action_approve(action_id=first.pk, user=other, seen_payload_sha256=payload_seen(first.pk))
    assert actions_queue_facets_cached(user=manager).counts.total == 1
    settings.APPROVAL_QUEUE_FACETS_SECONDS = 0
    _pending()
    assert actions_queue_facets_cached(user=manager).counts.total == 2
