"""Playbook runs: proposals from the demo playbook's rules, stored once, logged and routed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import OrmQ

from approvals.models import ApprovalPolicy, Decision, ProposedAction
from approvals.services import action_route, actions_route_many
from audit.models import DecisionLogEntry
from sales.demo_playbook import DEMO_RULES, demo_playbook_ensure
from sales.models import PlaybookRule
from sales.selectors import playbook_rule_preview
from sales.services import playbooks_run
from scoring.models import LeadScore
from tests.factories import LeadFactory, ModelVersionFactory, ProposedActionFactory

pytestmark = pytest.mark.django_db

HOT, NURTURE, DROP = (r["name"] for r in DEMO_RULES)


def score(lead, value, *, days_ago=0.0, version, role="champion"):
    tier = "hot" if value >= 80 else "warm" if value >= 50 else "cold"
    return LeadScore.objects.create(
        lead=lead,
        model_version=version,
        role=role,
        probability=value / 100,
        score=value,
        tier=tier,
        reasons=[{"feature": "visits", "text": f"Pricing page visits {value // 10}: +8 points"}],
        features_hash=f"h{value}",
        scored_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.fixture
def version():
    return ModelVersionFactory(status="champion", name="demo-b2b")


@pytest.fixture
def leads(version):
    """One lead for each seed rule, and two that no rule is about."""
    demo_playbook_ensure()
    made = {
        "hot": LeadFactory(status="new"),
        "warm": LeadFactory(status="contacted", has_open_opportunity=True),
        "dropped": LeadFactory(status="contacted"),
        "cold": LeadFactory(status="new"),
        "hot_contacted": LeadFactory(status="contacted"),
    }
    score(made["hot"], 86, version=version)
    score(made["warm"], 62, version=version)
    score(made["dropped"], 82, days_ago=5, version=version)  # hot five days ago...
    score(made["dropped"], 50, days_ago=1, version=version)  # ...39% lower now
    score(made["cold"], 20, version=version)
    score(made["hot_contacted"], 90, version=version)
    return made


def proposals():
    return {
        (a.lead_id, a.kind): a
        for a in ProposedAction.objects.select_related("model_version", "approver_group").order_by("pk")
    }


def test_it_proposes_what_the_three_seed_rules_say(leads, version):
    summary = playbooks_run(actor="test")

    assert summary.leads == 5 and summary.rules == 3 and summary.created == 4
    made = proposals()
    assert set(made) == {
        (leads["hot"].pk, "assign_owner"),
        (leads["hot"].pk, "enrol_cadence"),
        (leads["warm"].pk, "add_to_nurture"),
        (leads["dropped"].pk, "flag_for_review"),
    }
    enrol = made[(leads["hot"].pk, "enrol_cadence")]
    assert enrol.payload == {"cadence": "Inbound hot – 7 steps", "steps": 7, "queue": "Inbound SDR queue"}
    assert enrol.matched_rule == HOT and enrol.model_version == version and enrol.confidence == 0.9
    assert enrol.rationale.startswith(f"Playbook rule “{HOT}” matched: score 86 (≥ 80), not yet contacted")
    assert "Pricing page visits 8: +8 points" in enrol.rationale
    assert made[(leads["warm"].pk, "add_to_nurture")].matched_rule == NURTURE
    flag = made[(leads["dropped"].pk, "flag_for_review")]
    assert flag.matched_rule == DROP
    assert flag.rationale.startswith("Score fell from 82 to 50 (39% drop within 7 days)")
    # Routed by the default policy: writes wait for one approval, the read-only flag goes through.
    assert enrol.status == "pending_approval" and enrol.required_approvals == 1
    assert flag.status == "approved" and flag.approved_payload_sha256
    # Each proposal has its "proposed" and its "routed" entry, with the score it came from.
    logged = DecisionLogEntry.objects.filter(subject_type="proposed_action", subject_id=str(enrol.pk))
    assert sorted(logged.values_list("event_type", flat=True)) == ["action.proposed", "action.transitioned"]
    proposed = logged.get(event_type="action.proposed")
    assert proposed.model_version == version.label and proposed.prediction["score"] == 86
    assert proposed.action_taken["rule"] == HOT and proposed.prediction["reasons"]


def test_running_again_proposes_nothing_new(leads):
    playbooks_run(actor="test")
    before = (ProposedAction.objects.count(), DecisionLogEntry.objects.count())

    again = playbooks_run(actor="test")

    assert again.created == 0 and again.already_proposed == 4
    assert (ProposedAction.objects.count(), DecisionLogEntry.objects.count()) == before


def test_a_new_model_version_proposes_again_but_a_moved_score_does_not(leads, version):
    playbooks_run(actor="test")
    score(leads["hot"], 91, version=version)
    assert playbooks_run(actor="test").created == 0

    retrained = ModelVersionFactory(status="candidate", name="demo-b2b")
    score(leads["hot"], 88, version=retrained)
    assert playbooks_run(actor="test", lead_ids=[leads["hot"].pk]).created == 2


def test_an_edited_rule_proposes_again(leads):
    playbooks_run(actor="test")
    rule = PlaybookRule.objects.get(name=NURTURE)
    rule.actions[0]["payload"]["content"] = "Customer stories"
    rule.save()
    assert playbooks_run(actor="test").created == 1
    assert rule.history.count() == 2


def test_it_runs_in_the_same_number_of_queries_for_10_and_100_leads(version):
    demo_playbook_ensure()

    def run(n: int) -> int:
        batch = [LeadFactory(status="new") for _ in range(n)]
        for i, lead in enumerate(batch):
            score(lead, 80 + i % 20, version=version)
        with CaptureQueriesContext(connection) as queries:
            summary = playbooks_run(actor="test", lead_ids=[lead.pk for lead in batch])
        assert summary.created == 2 * n
        return len(queries)

    assert run(10) == run(100)


def test_the_preview_counts_what_a_run_would_propose_and_creates_nothing(leads):
    rule = PlaybookRule.objects.get(name=HOT)

    preview = playbook_rule_preview(rule=rule)

    assert (preview.leads, preview.proposals) == (1, 2)
    assert preview.sample == [(leads["hot"].pk, str(leads["hot"]))]
    assert not ProposedAction.objects.exists()


def test_it_refuses_a_rule_whose_spec_is_wrong_naming_the_field():
    playbook = demo_playbook_ensure()
    rule = PlaybookRule(
        playbook=playbook,
        name="Bad",
        conditions={"score_at_least": 80, "uncontacted": "yes"},
        actions=[{"kind": "enrol_cadence", "payload": {"steps": 7}}],
    )
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert error.value.message_dict == {
        "conditions": ["conditions.uncontacted: must be true or false, got 'yes'"],
        "actions": ["actions[0].payload.cadence: is required"],
    }


def test_the_command_reports_and_is_safe_to_run_twice(leads):
    out = StringIO()
    call_command("run_playbooks", stdout=out)
    call_command("run_playbooks", stdout=out)
    first, second = out.getvalue().splitlines()
    assert "4 new proposals" in first and "0 new proposals (4 already proposed)" in second


def test_the_batched_router_decides_exactly_like_the_one_by_one_router(version):
    sdr = Group.objects.get_or_create(name="SDR managers")[0]
    ApprovalPolicy.objects.create(
        name="Sales writes",
        outcome="one_approval",
        kinds=["enrol_cadence"],
        approver_group=sdr,
        sla_minutes=240,
    )
    ApprovalPolicy.objects.create(
        name="Big deal", outcome="two_approvals", score_at_least=90, deal_value_at_least=Decimal(50000)
    )
    ApprovalPolicy.objects.create(name="Low confidence", outcome="one_approval", confidence_below=0.6)
    ApprovalPolicy.objects.create(name="Tasks run", outcome="auto", kinds=["create_task"], priority=5)
    ApprovalPolicy.objects.create(name="No emails", outcome="block", kinds=["send_email"], priority=5)
    cases = [
        ("enrol_cadence", {"cadence": "c"}, 0.9, 95, Decimal(60000)),
        ("enrol_cadence", {"cadence": "c"}, 0.5, 40, None),
        ("flag_for_review", {"reason": "r"}, 0.9, 70, None),
        ("create_task", {"subject": "s"}, 0.9, 70, None),
        ("send_email", {"to": "a@b.co", "subject": "s", "body": "b"}, 0.9, 70, None),
    ]
    pairs = []
    for kind, payload, confidence, value, deal in cases:
        lead = LeadFactory(deal_value=deal)
        score(lead, value, version=version)
        pairs.append(
            [
                # A playbook's proposals: the rule's confidence, which the policy takes at face value.
                ProposedActionFactory(
                    kind=kind,
                    payload=payload,
                    confidence=confidence,
                    confidence_source="rule",
                    lead=lead,
                    model_version=version,
                )
                for _ in range(2)
            ]
        )
    for one, _ in pairs:
        action_route(action_id=one.pk)
    actions_route_many(action_ids=[many.pk for _, many in pairs])

    fields = ["status", "required_approvals", "approver_group_id", "policy_reasons", "timeout_action",
              "approved_payload_sha256"]  # fmt: skip
    for one, many in pairs:
        one.refresh_from_db()
        many.refresh_from_db()
        assert [getattr(one, f) for f in fields] == [getattr(many, f) for f in fields]
        assert (one.sla_due_at is None) == (many.sla_due_at is None)
        decided = [
            list(
                Decision.objects.filter(action=a).values_list(
                    "outcome", "reason_code", "comment", "payload_sha256"
                )
            )
            for a in (one, many)
        ]
        assert decided[0] == decided[1]
        logged = [
            list(
                DecisionLogEntry.objects.filter(
                    subject_id=str(a.pk), event_type="action.transitioned"
                ).values_list("action_taken", "approval")
            )
            for a in (one, many)
        ]
        assert logged[0] == logged[1] and len(logged[0]) == 1
    assert [one.status for one, _ in pairs] == [
        "pending_approval",
        "pending_approval",
        "approved",
        "approved",
        "rejected",
    ]
    assert pairs[0][0].required_approvals == 2


@pytest.mark.parametrize(
    ("written", "queued"),
    [({"champion": 3, "canary": 0, "shadow": 0}, True), ({"champion": 0, "canary": 0, "shadow": 5}, False)],
)
def test_scoring_queues_playbooks_only_when_acting_scores_changed(
    monkeypatch, django_capture_on_commit_callbacks, written, queued
):
    from scoring import runner, tasks
    from scoring.runner import ScoringSummary

    monkeypatch.setattr(runner, "leads_score", lambda **kw: ScoringSummary(leads=3, written=written))

    with django_capture_on_commit_callbacks(execute=True):
        tasks.score_leads_task([1, 2, 3])

    # scoring publishes leads.scored; sales' subscriber queues the playbook run over those leads
    assert [(q.task["func"].ledger_path, q.task["args"]) for q in OrmQ.objects.all()] == (
        [("sales.tasks.playbooks_run_task", ([1, 2, 3], "task:playbooks (after scoring)"))] if queued else []
    )


def test_the_admin_change_form_shows_the_dry_run(leads, admin_client):
    rule = PlaybookRule.objects.get(name=HOT)
    page = admin_client.get(f"/admin/sales/playbookrule/{rule.pk}/change/")
    assert page.status_code == 200
    assert "would fire for 1 leads now (2 proposals)" in page.content.decode()
    assert not ProposedAction.objects.exists()
