from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from approvals.choices import ActionKind, Domain, RiskLevel
from approvals.models import ApprovalPolicy, EscalationStep
from approvals.services import DuplicateProposal, action_propose, action_route
from connectors.demo_crm import VENDOR as DEMO_CRM_VENDOR
from connectors.demo_crm import DemoCrm, demo_crm_sync
from sales import demo_data
from sales.choices import LeadProducer
from sales.models import Lead, SdrQueue
from sales.services import account_upsert_many, lead_bulk_upsert
from security.role_groups import role_groups_sync
from support.models import Ticket
from support.services import ticket_bulk_upsert

DEMO_PASSWORD = "agentops-demo"  # noqa: S105 - printed by make demo; seed_demo refuses to run unless DEBUG

# (username, full name, group, is_staff); the ops admin configures everything in the admin.
DEMO_USERS = [
    ("sdr.manager", "Sofia Reyes", "SDR managers", False),
    ("support.lead", "Liam Carter", "Support leads", False),
    ("ops.admin", "Olivia Brandt", "Ops admins", True),
    # Staff so that the read-only decision log and configuration can be browsed in the admin.
    ("auditor", "Ava Novak", "Auditors", True),
    ("integrator", "Ivy Chen", "Integration accounts", False),
]
# The groups and their permissions come from the security app's migration (security.roles).


class Command(BaseCommand):
    help = "Load the synthetic B2B SaaS demo data set and demo users (idempotent; DEBUG only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--leads", type=int, default=1500)
        parser.add_argument("--tickets", type=int, default=300)
        parser.add_argument(
            "--no-model", action="store_true", help="Do not train or score a demo lead model."
        )
        parser.add_argument(
            "--no-intent-model",
            action="store_true",
            help="Do not train the demo intent model (about 20–50 s, once); the support bot then stays idle.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo: refuses to run when DEBUG is false (it creates users with known passwords)."
            )
        # A fixed "now" per day: re-running the same day writes nothing new.
        today = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        data = demo_data.generate(anchor=today, leads=options["leads"], tickets=options["tickets"])
        with transaction.atomic():
            users = self._users()
        # Imported by staff: the accounts' firmographics (their value is the CRM's), the leads (no
        # outcome: that is the CRM's too) and the tickets.
        firmographics = [{k: v for k, v in row.items() if k != "account_value"} for row in data.accounts]
        account_ids = account_upsert_many(source=DEMO_CRM_VENDOR, rows=firmographics)
        leads = lead_bulk_upsert(rows=data.leads, actor="seed_demo", producer=LeadProducer.IMPORT)
        if not leads.ok or leads.result is None:
            raise CommandError(f"demo leads rejected: {[e.as_dict() for e in leads.errors[:5]]}")
        tickets = ticket_bulk_upsert(rows=data.tickets, actor="seed_demo")
        if not tickets.ok or tickets.result is None:
            raise CommandError(f"demo tickets rejected: {[e.as_dict() for e in tickets.errors[:5]]}")
        # What the leads did, their deals and their accounts come from the demo CRM, through the
        # inbound path a real CRM's records take (connectors.demo_crm): no lead event, outcome or
        # account link is written here.
        crm = demo_crm_sync(
            crm=DemoCrm(
                accounts=data.accounts,
                leads=data.leads,
                lead_accounts=data.lead_accounts,
                events=data.events,
                deals=data.deals,
                opt_outs=data.opt_outs,
            ),
            now=today,
        )
        self._queue(users)
        self._policies()
        # With a model, the demo playbook proposes the sales actions (below); without, a few by hand.
        actions = self._actions(today, sales=options["no_model"])
        self.stdout.write(
            f"accounts {len(account_ids)}; leads {leads.result.summary}; tickets {tickets.result.summary}; "
            f"demo CRM records {crm.as_dict()}; new actions {actions}"
        )
        if not options["no_model"]:
            self._model()
        self._support(today, train=not (options["no_model"] or options["no_intent_model"]))

    def _support(self, today: datetime, *, train: bool) -> None:
        """Demo queries and metrics history; the intent model (trained once, unless --no-model, with the
        demo's gate floors printed); then the support bot over the demo queries."""
        from support.demo import demo_support_ensure

        demo_support_ensure(today=today, train=train, say=self.stdout.write)

    def _model(self) -> None:
        """Train and promote a demo lead model once, then score the demo leads (unchanged ones are skipped)."""
        from scoring.models import FeatureSet
        from scoring.runner import leads_score
        from scoring.selectors import champion
        from scoring.services import GateFailed, model_version_promote
        from scoring.training import TrainingError, train_lead_model

        if champion() is None:
            try:
                version = train_lead_model(
                    feature_set=FeatureSet.objects.get(name="demo-b2b"), actor="seed_demo"
                )
                model_version_promote(
                    version_id=version.pk, to="champion", actor="seed_demo", reason="demo model"
                )
                self.stdout.write(f"trained and promoted {version.label}")
            except (TrainingError, GateFailed) as exc:
                self.stdout.write(f"no demo model: {exc}")
                return
        summary = leads_score(actor="seed_demo", source="demo")
        self.stdout.write(f"scored demo leads: new scores {summary.written}, unchanged {summary.unchanged}")
        self._playbook()

    def _playbook(self) -> None:
        """Install the demo playbook (the seed's three rules) and run it over the scored demo leads."""
        from connectors.execution import ExecutionSettings, actions_execute
        from sales.cadence_services import cadences_advance
        from sales.demo_cadence import demo_cadence_ensure
        from sales.demo_playbook import demo_playbook_ensure
        from sales.services import playbooks_run

        demo_cadence_ensure()
        demo_playbook_ensure()
        run = playbooks_run(actor="seed_demo")
        self.stdout.write(
            f"demo playbook: {run.created} new proposals ({run.already_proposed} already proposed), routed {run.routed}"
        )
        self._approve_some_enrolments()
        # Through the outbox, like every approved action (only the enrolments: the demo has no CRM).
        settings = ExecutionSettings(kinds=frozenset({"enrol_cadence"}), idle_seconds=0.0)
        enrolled = actions_execute(settings=settings).counts.get("executed", 0)
        steps = cadences_advance()
        self.stdout.write(
            f"demo cadence: {enrolled} enrolled; first steps: {steps.proposed} proposed, "
            f"{steps.skipped} skipped (no consent), {steps.deferred} waiting for pacing or quiet hours"
        )

    def _approve_some_enrolments(self, count: int = 12) -> None:
        """The demo SDR manager approves a few cadence enrolments, so the cadence page has data."""
        from approvals.models import ProposedAction
        from approvals.services import DecisionError, action_approve, payload_sha256

        manager = get_user_model().objects.get(username="sdr.manager")
        enrolments = ProposedAction.objects.filter(kind="enrol_cadence")
        pending = enrolments.filter(status="pending_approval").order_by("pk")
        # A few in all, not a few more each run: seeding again decides nothing new.
        left = max(0, count - enrolments.exclude(status="pending_approval").count())
        # The seed approves each enrolment as it reads it here, like an approver with the page open.
        for action_id, payload in pending.values_list("pk", "payload")[:left]:
            try:
                action_approve(
                    action_id=action_id,
                    user=manager,
                    seen_payload_sha256=payload_sha256(payload),
                    comment="demo: approved by the seed",
                )
            except DecisionError as exc:
                self.stdout.write(f"  enrolment #{action_id} not approved: {exc}")

    def _users(self) -> dict[str, Any]:
        User = get_user_model()
        users = {}
        role_groups_sync(apps=django_apps)
        for username, full_name, group_name, is_staff in DEMO_USERS:
            first, last = full_name.split(" ", 1)
            user, _ = User.objects.get_or_create(username=username)
            user.first_name, user.last_name, user.is_staff, user.is_active = first, last, is_staff, True
            user.email = f"{username}@agentops.example"
            user.set_password(DEMO_PASSWORD)
            user.save()
            user.groups.set([Group.objects.get(name=group_name)])
            users[username] = user
        return users

    def _queue(self, users: dict[str, Any]) -> None:
        queue, _ = SdrQueue.objects.get_or_create(
            name="Inbound SDR queue", defaults={"description": "Hot inbound leads, worked within 1 hour."}
        )
        queue.members.add(users["sdr.manager"])

    def _policies(self) -> None:
        """Demo approval policies and an escalation ladder (created once; edit them in the admin)."""
        groups = {
            name: Group.objects.get(name=name) for name in ("SDR managers", "Support leads", "Ops admins")
        }
        policies: list[dict[str, Any]] = [
            dict(name="Sales writes go to SDR managers", outcome="one_approval", domains=["sales"],
                 approver_group=groups["SDR managers"], sla_minutes=240, priority=50),
            dict(name="Support handoffs go to support leads", outcome="one_approval", domains=["support"],
                 approver_group=groups["Support leads"], sla_minutes=120, priority=50),
            dict(name="Hot lead with a big deal needs two approvers", outcome="two_approvals", score_at_least=90,
                 deal_value_at_least=Decimal(50000), approver_group=groups["SDR managers"], sla_minutes=120),
            dict(name="Pricing, contract or regulatory language needs approval", outcome="one_approval",
                 compliance_flags_any=["pricing", "contract", "regulatory"]),
            dict(name="Low-confidence proposals need a human", outcome="one_approval", confidence_below=0.6),
            dict(name="Hold sales automation while the model drifts", outcome="block", domains=["sales"],
                 drift_states=["alert"], priority=10),
        ]  # fmt: skip
        for spec in policies:
            ApprovalPolicy.objects.get_or_create(name=spec.pop("name"), defaults=spec)
        for group in ("SDR managers", "Support leads"):
            EscalationStep.objects.get_or_create(
                group=groups[group], defaults={"escalate_to": groups["Ops admins"], "sla_minutes": 60}
            )

    def _actions(self, today: datetime, *, sales: bool) -> int:
        """A few proposals of each kind so the queue has work in it (real proposals come from playbooks:
        the sales ones are made by hand only when there is no model, hence no scores for the playbook)."""
        hot = list(
            Lead.objects.filter(source="demo", status="new", consent_state="granted").order_by("external_id")[
                :12
            ]
        )
        nurture = list(
            Lead.objects.filter(source="demo", has_open_opportunity=True).order_by("external_id")[:6]
        )
        open_tickets = list(
            # The sales data set's tickets; the support bot handles its own demo queries (support.demo).
            Ticket.objects.filter(
                source="demo", external_id__startswith="demo-tkt-", status__in=["new", "open"]
            ).order_by("external_id")[:10]
        )
        if not sales:
            hot, nurture = [], []
        specs: list[dict[str, Any]] = []
        for i, lead in enumerate(hot):
            specs.append(
                dict(
                    kind=ActionKind.ENROL_CADENCE,
                    domain=Domain.SALES,
                    lead_id=lead.pk,
                    target_system="hubspot",
                    payload={"cadence": "Inbound hot – 7 steps", "queue": "Inbound SDR queue"},
                    rationale=f"{lead.company_name} is uncontacted and engaged this week; assign to the SDR queue and start the 7-step cadence.",
                    confidence=round(0.55 + (i % 5) * 0.09, 2),
                    risk_level=RiskLevel.MEDIUM,
                    matched_rule="Hot and uncontacted → SDR queue + 7-step cadence",
                    idempotency_key=f"demo:enrol:{lead.external_id}",
                    sla_offset=timedelta(hours=4 - i),
                )
            )
        for lead in nurture:
            specs.append(
                dict(
                    kind=ActionKind.ADD_TO_NURTURE,
                    domain=Domain.SALES,
                    lead_id=lead.pk,
                    target_system="hubspot",
                    payload={"track": "Mid-funnel nurture", "content": "ROI calculator"},
                    rationale="Warm lead with an open opportunity; nurture with relevant content.",
                    confidence=0.81,
                    risk_level=RiskLevel.LOW,
                    matched_rule="Warm with open opportunity → nurture",
                    idempotency_key=f"demo:nurture:{lead.external_id}",
                    sla_offset=timedelta(hours=24),
                )
            )
        for ticket in open_tickets:
            sensitive = ticket.attributes.get("topic") in ("account", "billing")
            specs.append(
                dict(
                    kind=ActionKind.HANDOFF_TO_HUMAN if sensitive else ActionKind.POST_PUBLIC_REPLY,
                    domain=Domain.SUPPORT,
                    ticket_id=ticket.pk,
                    target_system="zendesk",
                    payload={"ticket": ticket.external_id, "summary": ticket.subject}
                    if sensitive
                    else {
                        "ticket": ticket.external_id,
                        "body": f"Hi {ticket.requester_name or 'there'}, thanks for writing about "
                        f"“{ticket.subject}”. Our how-to article walks through it step by step; "
                        "reply here if it does not solve it.",
                    },
                    rationale=(
                        "Touches billing or account ownership: a person must confirm."
                        if sensitive
                        else "Matches a published how-to article."
                    ),
                    confidence=0.62 if sensitive else 0.91,
                    risk_level=RiskLevel.HIGH if sensitive else RiskLevel.LOW,
                    idempotency_key=f"demo:ticket:{ticket.external_id}",
                    sla_offset=timedelta(hours=2),
                )
            )
        created = 0
        for spec in specs:
            offset = spec.pop("sla_offset")
            try:
                action = action_propose(
                    proposed_by="demo-agent", sla_due_at=today + timedelta(hours=9) + offset, **spec
                )
            except DuplicateProposal:
                continue
            action_route(action_id=action.pk, actor="policy:demo")
            created += 1
        return created
