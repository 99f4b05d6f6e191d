from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from core.json_columns import objects_from_texts
from sales.experiments import Effect
from sales.models import Lead, PlaybookRule
from sales.playbook import (
    LeadFacts,
    RuleSpec,
    RuleSpecError,
    evaluate_rules,
    longest_window_days,
    parse_actions,
    parse_conditions,
    rule_version,
)
from sales.scores import lead_score_facts, leads_with_acting_score


def leads_with_email(*, email: str) -> QuerySet[Lead]:
    """Leads whose email is ``email`` (case and surrounding spaces ignored): through the blind index
    when the address is encrypted at rest, else a plain case-insensitive match."""
    address = (email or "").strip()
    if not address:
        return Lead.objects.none()
    if any(f.name == "email_index" for f in Lead._meta.get_fields()):
        from security.crypto import blind_index

        return Lead.objects.filter(email_index=blind_index(address))
    return Lead.objects.filter(email__iexact=address)


def leads_with_emails(*, emails: Iterable[str]) -> QuerySet[Lead]:
    """Leads whose email is one of ``emails`` (as ``leads_with_email``), in one query."""
    addresses = {(e or "").strip() for e in emails} - {""}
    if not addresses:
        return Lead.objects.none()
    if any(f.name == "email_index" for f in Lead._meta.get_fields()):
        from security.crypto import blind_index

        return Lead.objects.filter(email_index__in=sorted({blind_index(a) for a in addresses}))
    match = Q(pk__in=[])
    for address in addresses:
        match |= Q(email__iexact=address)
    return Lead.objects.filter(match)


def leads_for_list(*, status: str = "", source: str = "", search: str = "") -> QuerySet[Lead]:
    """Leads for the list page, newest first, with what the rows show joined in (no per-row queries):
    the acting score and tier come from the score source scoring registers (``sales.scores``)."""
    queryset = leads_with_acting_score(Lead.objects.select_related("owner", "account")).order_by(
        "-updated_at", "-id"
    )
    if status:
        queryset = queryset.filter(status=status)
    if source:
        queryset = queryset.filter(source=source)
    if search:
        queryset = (
            queryset.filter(company_name__icontains=search)
            | queryset.filter(last_name__icontains=search)
            | queryset.filter(external_id=search)
        )
    return queryset


def iter_lead_id_batches(leads: QuerySet[Lead], size: int = 5000) -> Iterator[list[int]]:
    """The ids of ``leads`` in ascending batches of ``size`` (one query for the ids)."""
    ids = list(leads.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# --- Playbooks ---------------------------------------------------------------------------------


def playbook_rules_active() -> list[RuleSpec]:
    """The active rules of active playbooks, parsed (one query). A rule whose stored spec no longer
    parses (edited around the admin's validation) is skipped rather than failing the run."""
    from sales.models import PlaybookRule

    specs = []
    for rule in (
        PlaybookRule.objects.filter(is_active=True, playbook__is_active=True)
        .select_related("playbook")
        .order_by("priority", "name", "id")
    ):
        spec = rule_spec(rule)
        if spec is not None:
            specs.append(spec)
    return specs


def rule_spec(rule: PlaybookRule) -> RuleSpec | None:
    try:
        conditions, actions = parse_conditions(rule.conditions), parse_actions(rule.actions)
    except RuleSpecError:
        return None
    return RuleSpec(
        id=rule.pk,
        name=rule.name,
        conditions=conditions,
        actions=actions,
        priority=rule.priority,
        stop_processing=rule.stop_processing,
        version=rule_version(rule.conditions, rule.actions),
        playbook_id=rule.playbook_id,
        control_share=rule.playbook.control_share,
        canary_of=rule.canary_of_id,
        canary_share=rule.canary_share,
        shadow=rule.mode == "shadow",
    )


def playbook_lead_facts(*, lead_ids: Sequence[int], now: datetime, history_days: int) -> list[LeadFacts]:
    """Facts for the rules about a batch of leads (ascending ids), in three queries whatever its size:
    the leads, then their acting-score history and the labels of the model versions behind it (from
    the score source, ``sales.scores``).

    ``history_days`` bounds the score history kept per lead (the longest drop window of the rules).
    """
    if not lead_ids:
        return []
    low, high = min(lead_ids), max(lead_ids)
    wanted = set(lead_ids)
    # An id range is cheaper to send and plan than thousands of ids; extra rows are dropped here.
    leads = [
        row
        for row in Lead.objects.filter(id__gte=low, id__lte=high)
        .annotate(attributes_text=Cast("attributes", output_field=TextField()))
        .order_by("id")
        .values_list("id", "status", "owner_id", "has_open_opportunity", "attributes_text")
        if row[0] in wanted
    ]
    scores = lead_score_facts(
        low=low, high=high, since=now - timedelta(days=history_days) if history_days else None
    )
    attributes = objects_from_texts([row[4] for row in leads])
    facts = []
    for (lead_id, status, owner_id, opportunity, _), attrs in zip(leads, attributes, strict=True):
        score = scores.get(lead_id)
        facts.append(
            LeadFacts(
                id=lead_id,
                status=status,
                owner_id=owner_id,
                has_open_opportunity=opportunity,
                attributes=attrs,
                score=score.score if score else None,
                tier=score.tier if score else "",
                score_id=score.score_id if score else None,
                model_version_id=score.model_version_id if score else None,
                model_version=score.model_version if score else "",
                reasons=score.reasons if score else (),
                history=score.history if score else (),
            )
        )
    return facts


@dataclass(frozen=True)
class RulePreview:
    """How many leads a rule would fire for now, with a few of them (nothing is created)."""

    leads: int
    proposals: int
    sample: list[tuple[int, str]]


def playbook_rule_preview(
    *, rule: PlaybookRule, now: datetime | None = None, sample: int = 10, batch_size: int = 5000
) -> RulePreview:
    """Dry run of one rule over every lead: the count it would fire for, and a sample of them.

    Counts matches of the rule alone (the rules before it in its playbook may stop processing first),
    and counts leads already proposed for, since it shows what the conditions select.
    """
    spec = rule_spec(rule)
    if spec is None:
        return RulePreview(0, 0, [])
    now = now or timezone.now()
    hits: list[int] = []
    proposals = 0
    for batch in iter_lead_id_batches(Lead.objects.all(), batch_size):
        for facts in playbook_lead_facts(lead_ids=batch, now=now, history_days=longest_window_days([spec])):
            matches = evaluate_rules(facts, [spec], now=now)
            if matches:
                hits.append(facts.id)
                proposals += len(matches)
    names = dict((pk, str(lead)) for pk, lead in Lead.objects.in_bulk(hits[:sample]).items())
    return RulePreview(len(hits), proposals, [(pk, names.get(pk, f"#{pk}")) for pk in hits[:sample]])


# --- Cadence and experiment metrics ------------------------------------------------------------


@dataclass(frozen=True)
class StepMetrics:
    position: int
    channel: str
    template: str
    drafted: int
    sent: int
    skipped: int
    failed: int
    replied: int
    meetings: int
    opted_out: int
    bounced: int

    @property
    def reply_rate(self) -> float | None:
        return self.replied / self.drafted if self.drafted else None


@dataclass(frozen=True)
class CadenceMetrics:
    """One cadence's enrolments and its steps' outcomes; rates are ``None`` without data."""

    cadence_id: int
    name: str
    is_active: bool
    enrolled: int
    active: int
    completed: int
    exited: Mapping[str, int]
    touched: int
    replied: int
    meetings: int
    steps: tuple[StepMetrics, ...]

    @property
    def reply_rate(self) -> float | None:
        return self.replied / self.touched if self.touched else None

    @property
    def meeting_conversion(self) -> float | None:
        return self.meetings / self.touched if self.touched else None


def cadence_metrics() -> list[CadenceMetrics]:
    """Per cadence and step: drafted, sent, skipped, failed, replied, meetings, opt-outs, bounces,
    reply rate and meeting conversion (per enrolment that got at least one touch). Four queries."""
    from sales.choices import EnrolmentStatus, TouchStatus
    from sales.models import Cadence, CadenceStep, Enrolment, Touch

    delivered = Q(status__in=[TouchStatus.PROPOSED, TouchStatus.SENT])
    touch_rows = {
        row["step_id"]: row
        for row in Touch.objects.values("step_id").annotate(
            drafted=Count("id", filter=delivered),
            sent=Count("id", filter=Q(status=TouchStatus.SENT) | Q(action__status="executed")),
            skipped=Count("id", filter=Q(status=TouchStatus.SKIPPED)),
            failed=Count("id", filter=Q(status=TouchStatus.FAILED)),
            replied=Count("id", filter=Q(replied_at__isnull=False)),
            meetings=Count("id", filter=Q(meeting_at__isnull=False)),
            opted_out=Count("id", filter=Q(opted_out_at__isnull=False)),
            bounced=Count("id", filter=Q(bounced_at__isnull=False)),
        )
    }
    touched = Touch.objects.filter(delivered).values("enrolment_id")
    enrolment_rows: dict[int, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for cadence_id, status, reason, was_touched, n in (
        Enrolment.objects.annotate(was_touched=Exists(touched.filter(enrolment_id=OuterRef("pk"))))
        .values_list("cadence_id", "status", "exit_reason", "was_touched")
        .annotate(n=Count("id"))
    ):
        row = enrolment_rows[cadence_id]
        row["enrolled"] += n
        row[status] += n
        row["touched"] += n if was_touched else 0
        if reason:
            row.setdefault("exited_by", defaultdict(int))[reason] += n
    steps: dict[int, list[StepMetrics]] = defaultdict(list)
    for step in CadenceStep.objects.select_related("template").order_by("cadence_id", "position"):
        t = touch_rows.get(step.pk, {})
        steps[step.cadence_id].append(
            StepMetrics(
                step.position, step.get_channel_display(), step.template.name,
                *(t.get(k, 0) for k in ("drafted", "sent", "skipped", "failed", "replied", "meetings", "opted_out", "bounced")),
            )
        )  # fmt: skip
    result = []
    for cadence in Cadence.objects.order_by("name"):
        e = enrolment_rows.get(cadence.pk, {})
        own = steps.get(cadence.pk, [])
        result.append(
            CadenceMetrics(
                cadence_id=cadence.pk,
                name=cadence.name,
                is_active=cadence.is_active,
                enrolled=e.get("enrolled", 0),
                active=e.get(EnrolmentStatus.ACTIVE, 0) + e.get(EnrolmentStatus.PAUSED, 0),
                completed=e.get(EnrolmentStatus.COMPLETED, 0),
                exited=dict(e.get("exited_by", {})),
                touched=e.get("touched", 0),
                replied=sum(s.replied for s in own),
                meetings=sum(s.meetings for s in own),
                steps=tuple(own),
            )
        )
    return result


@dataclass(frozen=True)
class ExperimentResult:
    """A playbook's experiment: arm sizes and the effect on each rate, with its 95% interval."""

    playbook: str
    control_share: float
    effects: Mapping[str, Effect]


EXPERIMENT_RATES = ("reply", "meeting", "conversion")


def experiment_results() -> list[ExperimentResult]:
    """Per playbook with assignments: reply, meeting and conversion rates of treatment versus
    control, counting events after each lead's assignment. One query."""
    from sales.choices import LeadEventKind, Outcome
    from sales.experiments import CONTROL, TREATMENT, effect
    from sales.models import ExperimentAssignment, LeadEvent

    def after_assignment(kind: str) -> Exists:
        return Exists(
            LeadEvent.objects.filter(
                lead_id=OuterRef("lead_id"), kind=kind, occurred_at__gte=OuterRef("assigned_at")
            )
        )

    counts: dict[tuple[str, float], dict[str, dict[str, int]]] = defaultdict(dict)
    for name, share, arm, n, reply, meeting, conversion in (
        ExperimentAssignment.objects.values_list("playbook__name", "playbook__control_share", "arm")
        .annotate(
            n=Count("id"),
            reply=Count("id", filter=Q(after_assignment(LeadEventKind.EMAIL_REPLY))),
            meeting=Count("id", filter=Q(after_assignment(LeadEventKind.MEETING_BOOKED))),
            conversion=Count("id", filter=Q(lead__outcome=Outcome.CONVERTED)),
        )
        .order_by("playbook__name", "arm")
    ):
        counts[(name, share)][arm] = {"n": n, "reply": reply, "meeting": meeting, "conversion": conversion}
    results = []
    for (name, share), arms in counts.items():
        t, c = arms.get(TREATMENT, {}), arms.get(CONTROL, {})
        results.append(
            ExperimentResult(
                playbook=name,
                control_share=share,
                effects={
                    rate: effect(t.get(rate, 0), t.get("n", 0), c.get(rate, 0), c.get("n", 0))
                    for rate in EXPERIMENT_RATES
                },
            )
        )
    return results


@dataclass(frozen=True)
class RuleOutcomes:
    """How one rule's proposals fared with people over a period, for a canary/shadow comparison."""

    name: str
    role: str  # live, canary or shadow
    proposals: int
    shadow_matches: int
    human_decisions: int
    approved: int
    overridden: int

    @property
    def approval_rate(self) -> float | None:
        return self.approved / self.human_decisions if self.human_decisions else None

    @property
    def override_rate(self) -> float | None:
        return self.overridden / self.human_decisions if self.human_decisions else None


def rule_rollout_comparison(*, rule: PlaybookRule, days: int = 30) -> list[RuleOutcomes]:
    """The rule side by side with its trial partner (the live rule a canary tries, or the canaries
    of a live rule): proposals, shadow matches and people's decisions over ``days``."""
    from approvals.models import Decision, ProposedAction
    from sales.models import ShadowMatch

    live = rule.canary_of or rule
    group = [live, *live.canaries.all()]
    names = {r.name for r in group}
    since = timezone.now() - timedelta(days=days)
    proposals = dict(
        ProposedAction.objects.filter(matched_rule__in=names, created_at__gte=since)
        .values_list("matched_rule")
        .annotate(n=Count("id"))
        .order_by()
    )
    decided = {
        name: (n, approved, overridden)
        for name, n, approved, overridden in Decision.objects.filter(
            action__matched_rule__in=names, created_at__gte=since, decided_by__isnull=False
        )
        .exclude(outcome="defer")
        .values_list("action__matched_rule")
        .annotate(
            n=Count("id"),
            approved=Count("id", filter=Q(outcome="approve")),
            overridden=Count("id", filter=Q(outcome__in=["edit_approve", "reject"])),
        )
        .values_list("action__matched_rule", "n", "approved", "overridden")
        .order_by()
    }
    shadows = dict(
        ShadowMatch.objects.filter(rule__in=group, matched_at__gte=since)
        .values_list("rule__name")
        .annotate(n=Count("id"))
        .order_by()
    )
    rows = []
    for r in group:
        role = "shadow" if r.mode == "shadow" else "canary" if r.canary_of_id else "live"
        n, approved, overridden = decided.get(r.name, (0, 0, 0))
        rows.append(
            RuleOutcomes(
                r.name, role, proposals.get(r.name, 0), shadows.get(r.name, 0), n, approved, overridden
            )
        )
    return rows


def compliance_scanner() -> Callable[..., list[str]]:
    """A scan of outbound copy with the admin's active compliance patterns and the sender's postal
    address, read once: ``scan(subject=…, body=…, channel="email"|"sms"|"reply")`` → sorted flags.
    For every message a person receives, whoever drafted it (``approvals.services``)."""
    from sales.compliance import Pattern, compile_patterns, flags, scan
    from sales.models import CompliancePattern, SequencingSettings

    patterns = compile_patterns(
        Pattern(p.flag, p.regex)
        for p in CompliancePattern.objects.filter(is_active=True).only("flag", "regex")
    )
    postal = SequencingSettings.objects.values_list("postal_address", flat=True).first() or ""

    def scan_copy(*, subject: str, body: str, channel: str) -> list[str]:
        return flags(
            scan(subject=subject, body=body, channel=channel, patterns=patterns, postal_address=postal)
        )

    return scan_copy
