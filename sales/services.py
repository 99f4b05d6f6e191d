from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.bulk import LogEntry, decision_log_append_many
from audit.choices import EventType
from audit.services import decision_log_append
from consent.keys import email_key
from consent.selectors import suppressed_email_keys
from core import events
from core.bulk import insert_many
from core.upsert import (
    BatchOutcome,
    BatchRowError,
    UpsertResult,
    UpsertRow,
    natural_key_upsert,
    validate_batch,
)
from sales.choices import ConsentState, LeadProducer
from sales.lead_rows import (
    LEAD_FIELDS,
    OVERSIGHT_COLUMNS,
    WRITABLE_FIELDS,
    consent_raise_refusal,
    producer_refusals,
)
from sales.models import Account, Lead, PlaybookRule
from sales.playbook import LeadFacts, Match, evaluate_rules, idempotency_key, longest_window_days
from sales.selectors import iter_lead_id_batches, playbook_lead_facts, playbook_rules_active


class BatchTooLarge(ValueError):
    """More rows than one batch may hold."""


def _resolve_owners(rows: list[UpsertRow]) -> list[BatchRowError]:
    """Replace owner user names by user ids, one query for the batch; unknown names are errors."""
    names = {row.values["owner"] for row in rows if row.values.get("owner")}
    User = get_user_model()
    ids = dict(User.objects.filter(username__in=names, is_active=True).values_list("username", "pk"))
    errors = []
    for position, row in enumerate(rows):
        if "owner" not in row.values:
            continue
        values = dict(row.values)
        name = values.pop("owner")
        if name and name not in ids:
            errors.append(BatchRowError(row.index, row.key[1], "owner", f"no active user named '{name}'"))
        values["owner_id"] = ids.get(name) if name else None
        rows[position] = UpsertRow(key=row.key, values=values, index=row.index)
    return errors


def _without_refused(clean: list[Any], errors: list[Any], refused: list[Any]) -> tuple[list[Any], list[Any]]:
    """The rows left once the ``refused`` ones are dropped, and every error so far in row order."""
    bad = {e.index for e in refused}
    return [row for row in clean if row.index not in bad], sorted([*errors, *refused], key=lambda e: e.index)


def lead_bulk_upsert(
    *,
    rows: Sequence[Any],
    actor: str,
    producer: str = LeadProducer.API,
    max_rows: int | None = None,
    atomic: bool = True,
) -> BatchOutcome:
    """Upsert leads by ``(source, external_id)``.

    With ``atomic`` (the API), any bad row rejects the whole batch and nothing is written; the
    outcome lists every bad row with its field and reason. Without it (file imports), the good
    rows are written and the bad ones reported. Re-sending a batch changes nothing.

    ``producer`` says who sends the batch; the default is the least trusted, the bulk API, which
    may not set the fields oversight decides on (``sales.lead_rows.OVERSIGHT_FIELDS``: owner, deal
    value, open opportunity, outcome, consent). No producer raises a stored lead's consent (an
    opt-out is lifted only through the consent API, with evidence). Every change to one of those
    fields on a stored lead gets its own decision-log entry, before and after, with the producer,
    in the same transaction.
    """
    if max_rows is not None and len(rows) > max_rows:
        raise BatchTooLarge(f"leads: at most {max_rows} rows per batch, got {len(rows)}")
    clean, errors = validate_batch(rows, LEAD_FIELDS)
    refused = _producer_refusals(rows, producer)
    if refused:
        fields = {(e.index, e.field) for e in refused}
        errors = sorted(
            [*refused, *(e for e in errors if (e.index, e.field) not in fields)], key=lambda e: e.index
        )
        bad = {e.index for e in refused}
        clean = [row for row in clean if row.index not in bad]
    if errors and atomic:
        return BatchOutcome(errors=errors)
    owner_errors = _resolve_owners(clean)
    if owner_errors:
        clean, errors = _without_refused(clean, errors, owner_errors)
        if atomic:
            return BatchOutcome(errors=errors)
    clean = _suppressed_arrive_opted_out(clean)
    with transaction.atomic():
        consent_errors = _consent_raises(clean)
        if consent_errors:
            clean, errors = _without_refused(clean, errors, consent_errors)
            if atomic:
                return BatchOutcome(errors=errors)
        result = natural_key_upsert(
            model=Lead, rows=clean, writable_fields=WRITABLE_FIELDS, watched=OVERSIGHT_COLUMNS
        )
        summary = result.summary
        if summary["created"] or summary["updated"]:
            decision_log_append(
                event_type=EventType.LEADS_UPSERTED,
                actor=actor,
                subject_type="lead_batch",
                input_context={
                    "rows": len(rows),
                    "sources": sorted({r.key[0] for r in clean}),
                    "producer": producer,
                },
                action_taken={**summary, "rejected": len(errors)},
            )
        _log_oversight_changes(clean, result, actor=actor, producer=producer)
    _publish_changed(result)
    return BatchOutcome(errors=errors, result=result)


def _producer_refusals(rows: Sequence[Any], producer: str) -> list[BatchRowError]:
    """Every field a row sets that its producer may not (the bulk API and oversight fields)."""
    return [
        BatchRowError(index, str(raw.get("external_id", "")).strip(), name, reason)
        for index, raw in enumerate(rows)
        for name, reason in producer_refusals(raw, producer)
    ]


def _consent_raises(rows: list[UpsertRow]) -> list[BatchRowError]:
    """Rows that would raise a stored lead's consent (lift an opt-out, or grant): refused whoever
    sends them. One locked read for the batch, only when a row carries a consent state."""
    wanted = {row.key: row for row in rows if "consent_state" in row.values}
    if not wanted:
        return []
    stored: dict[tuple[str, str], str] = {}
    for source in {key[0] for key in wanted}:
        ids = [key[1] for key in wanted if key[0] == source]
        stored.update(
            ((source, external_id), state)
            for external_id, state in Lead.objects.select_for_update()
            .filter(source=source, external_id__in=ids)
            .values_list("external_id", "consent_state")
        )
    errors = []
    for key, row in wanted.items():
        reason = consent_raise_refusal(stored[key], row.values["consent_state"]) if key in stored else ""
        if reason:
            errors.append(BatchRowError(row.index, key[1], "consent_state", reason))
    return errors


def _log_oversight_changes(rows: list[UpsertRow], result: UpsertResult, *, actor: str, producer: str) -> None:
    """One decision-log entry per stored lead whose oversight fields changed: each field's value
    before and after, and who produced it. One statement for the batch (plus one read of the user
    names when an owner changed)."""
    if not result.changes:
        return
    owner_ids = {
        pk for change in result.changes.values() for pk in change.get("owner_id", ()) if pk is not None
    }
    User = get_user_model()
    names = dict(User.objects.filter(pk__in=owner_ids).values_list("pk", "username")) if owner_ids else {}

    def shown(name: str, value: Any) -> Any:
        if name == "owner_id":
            return names.get(value) if value is not None else None
        if isinstance(value, datetime):
            return value.isoformat()
        return str(value) if value is not None and not isinstance(value, bool | str) else value

    decision_log_append_many(
        entries=[
            LogEntry(
                event_type=EventType.LEADS_UPSERTED,
                actor=actor,
                subject_type="lead",
                subject_id=result.ids[index] or "",
                input_context={"producer": producer, "source": rows[index].key[0]},
                action_taken={
                    "oversight_fields": {
                        ("owner" if name == "owner_id" else name): {
                            "from": shown(name, before),
                            "to": shown(name, after),
                        }
                        for name, (before, after) in change.items()
                    }
                },
            )
            for index, change in sorted(result.changes.items())
        ]
    )


def _suppressed_arrive_opted_out(rows: list[UpsertRow]) -> list[UpsertRow]:
    """Rows whose address is suppressed in the consent registry (an erased person, or one who
    withdrew every channel) arrive opted out, whatever the import says: one query per batch."""
    keys = {row.index: email_key(str(row.values.get("email") or "")) for row in rows}
    suppressed = suppressed_email_keys(keys=keys.values())
    if not suppressed:
        return rows
    return [
        replace(row, values={**row.values, "consent_state": ConsentState.OPTED_OUT})
        if keys[row.index] in suppressed
        else row
        for row in rows
    ]


def _publish_changed(result: UpsertResult) -> None:
    """Tell the other apps which leads were created or changed (scoring re-scores them) once the
    change is committed."""
    changed = [
        pk for pk, st in zip(result.ids, result.statuses, strict=True) if pk and st in ("created", "updated")
    ]
    if changed:
        events.publish("leads.changed", lead_ids=changed)


ACCOUNT_FIELDS = (
    "name", "domain", "industry", "employee_count", "size_band", "annual_revenue", "region",
    "country", "account_value", "attributes",
)  # fmt: skip


def account_upsert_many(*, source: str, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Upsert trusted account rows (demo data, connectors) by external id; return external id -> pk."""
    clean = [
        UpsertRow(
            key=(source, row["external_id"]), values={k: row[k] for k in ACCOUNT_FIELDS if k in row}, index=i
        )
        for i, row in enumerate(rows)
    ]
    with transaction.atomic():
        result = natural_key_upsert(model=Account, rows=clean, writable_fields=ACCOUNT_FIELDS)
    return {row.key[1]: pk for row, pk in zip(clean, result.ids, strict=True) if pk is not None}


# --- Playbooks: proposals from playbook rules ---------------------------------------------------

PLAYBOOK_AGENT = "sdr-agent:playbooks"
PLAYBOOK_BATCH_SIZE = 2000


@dataclass
class PlaybookRunSummary:
    leads: int = 0
    rules: int = 0
    matches: int = 0
    created: int = 0
    already_proposed: int = 0
    held_out: int = 0
    shadow_matches: int = 0
    routed: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "leads": self.leads,
            "rules": self.rules,
            "matches": self.matches,
            "created": self.created,
            "already_proposed": self.already_proposed,
            "held_out": self.held_out,
            "shadow_matches": self.shadow_matches,
            "routed": dict(self.routed),
            "seconds": round(self.seconds, 2),
        }


def playbooks_run(
    *,
    actor: str,
    lead_ids: Sequence[int] | None = None,
    now: datetime | None = None,
    batch_size: int = PLAYBOOK_BATCH_SIZE,
    progress: Callable[[int], object] | None = None,
) -> PlaybookRunSummary:
    """Evaluate the active playbook rules over leads (all, or ``lead_ids``) and store the proposals
    they make, each with its decision-log entry, routed through the approval policy.

    Safe to re-run: a proposal's idempotency key is derived from its content
    (``sales.playbook.idempotency_key``), so a run over unchanged leads and rules creates nothing.
    Each batch is one transaction and costs the same number of queries whatever its size.
    """
    started = time.perf_counter()
    now = now or timezone.now()
    summary = PlaybookRunSummary()
    rules = playbook_rules_active()
    summary.rules = len(rules)
    if not rules:
        return summary
    history_days = longest_window_days(rules)
    for batch in _lead_id_batches(lead_ids, batch_size):
        facts = playbook_lead_facts(lead_ids=batch, now=now, history_days=history_days)
        matches = [(m, f) for f in facts for m in evaluate_rules(f, rules, now=now)]
        summary.leads += len(facts)
        summary.matches += len(matches)
        matches, shadow = _shadow_split(matches, actor=actor, now=now)
        summary.shadow_matches += shadow
        matches, held_out = _experiment_split(matches, now=now, actor=actor)
        summary.held_out += held_out
        try:
            created, routed = _playbook_proposals_store(matches, actor=actor)
        except IntegrityError:
            # A concurrent run stored some of the same proposals first; theirs stand, store the rest.
            created, routed = _playbook_proposals_store(matches, actor=actor)
        summary.created += created
        summary.already_proposed += len(matches) - created
        for status, count in routed.items():
            summary.routed[status] = summary.routed.get(status, 0) + count
        if progress:
            progress(len(batch))
    summary.seconds = time.perf_counter() - started
    return summary


def _shadow_split(
    matches: list[tuple[Match, LeadFacts]], *, actor: str, now: datetime
) -> tuple[list[tuple[Match, LeadFacts]], int]:
    """Record what shadow rules would have proposed (once per lead, rule version and action kind,
    with a log entry) and keep only the live matches for proposing."""
    from sales.models import ShadowMatch

    shadow = {(m.rule.id, f.id, m.rule.version, m.action.kind): (m, f) for m, f in matches if m.rule.shadow}
    if not shadow:
        return matches, 0
    seen = set(
        ShadowMatch.objects.filter(
            rule_id__in={k[0] for k in shadow}, lead_id__in={k[1] for k in shadow}
        ).values_list("rule_id", "lead_id", "rule_version", "kind")
    )
    new = {k: mf for k, mf in shadow.items() if k not in seen}
    with transaction.atomic():
        insert_many(
            ShadowMatch,
            [
                ShadowMatch(
                    rule_id=m.rule.id,
                    lead_id=f.id,
                    rule_version=m.rule.version,
                    kind=m.action.kind,
                    payload=dict(m.action.payload),
                    matched_at=now,
                )
                for m, f in new.values()
            ],
        )
        decision_log_append_many(
            entries=[
                LogEntry(
                    event_type=EventType.PLAYBOOK_SHADOW_MATCH,
                    actor=PLAYBOOK_AGENT,
                    subject_type="lead",
                    subject_id=f.id,
                    model_version=f.model_version,
                    input_context={"triggered_by": actor, "conditions": list(m.conditions)},
                    prediction={"score": f.score, "tier": f.tier},
                    action_taken={
                        "rule": m.rule.name,
                        "rule_version": m.rule.version,
                        "kind": m.action.kind,
                        "proposed": False,
                    },
                )
                for m, f in new.values()
            ]
        )
    return [(m, f) for m, f in matches if not m.rule.shadow], len(shadow)


def _experiment_split(
    matches: list[tuple[Match, LeadFacts]], *, now: datetime, actor: str
) -> tuple[list[tuple[Match, LeadFacts]], int]:
    """Drop the matches of leads in an experimenting playbook's control arm; return the rest and how
    many matches were held out. A lead's arm is fixed the first time one of the playbook's rules
    matches it (stored, with a held-out log entry for control leads), so it never changes later."""
    from sales.experiments import CONTROL, arm_for
    from sales.models import ExperimentAssignment

    pairs = {(m.rule.playbook_id, f.id): m for m, f in matches if m.rule.control_share > 0}
    if not pairs:
        return matches, 0
    arms = {
        (p, lead): arm
        for p, lead, arm in ExperimentAssignment.objects.filter(
            playbook_id__in={p for p, _ in pairs}, lead_id__in={lead for _, lead in pairs}
        ).values_list("playbook_id", "lead_id", "arm")
    }
    new = []
    for (playbook_id, lead_id), match in pairs.items():
        if (playbook_id, lead_id) not in arms:
            arm = arm_for(playbook_id=playbook_id, lead_id=lead_id, control_share=match.rule.control_share)
            arms[(playbook_id, lead_id)] = arm
            new.append(ExperimentAssignment(
                playbook_id=playbook_id, lead_id=lead_id, arm=arm, rule_name=match.rule.name[:150], assigned_at=now
            ))  # fmt: skip
    with transaction.atomic():
        insert_many(ExperimentAssignment, new)
        decision_log_append_many(
            entries=[
                LogEntry(
                    event_type=EventType.EXPERIMENT_HELD_OUT,
                    actor=PLAYBOOK_AGENT,
                    subject_type="lead",
                    subject_id=a.lead_id,
                    input_context={"triggered_by": actor},
                    action_taken={
                        "playbook_id": a.playbook_id,
                        "rule": a.rule_name,
                        "arm": a.arm,
                        "action": "none",
                    },
                )
                for a in new
                if a.arm == CONTROL
            ]
        )
    kept = [(m, f) for m, f in matches if arms.get((m.rule.playbook_id, f.id)) != CONTROL]
    return kept, len(matches) - len(kept)


def _lead_id_batches(lead_ids: Sequence[int] | None, size: int) -> Iterator[list[int]]:
    """Ascending id batches: of every lead, or of the given ids as they are (leads since deleted
    simply yield no facts), so a long list never becomes one oversized ``IN`` clause."""
    if lead_ids is None:
        yield from iter_lead_id_batches(Lead.objects.all(), size)
        return
    ordered = sorted(set(lead_ids))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _playbook_proposals_store(
    matches: list[tuple[Match, LeadFacts]], *, actor: str
) -> tuple[int, dict[str, int]]:
    """Store the batch's new proposals and their log entries, then route them; one transaction."""
    from approvals.services import NewProposal, actions_propose_many

    ids, routed = actions_propose_many(
        proposals=[
            NewProposal(
                kind=m.action.kind,
                domain="sales",
                lead_id=f.id,
                payload=m.action.payload,
                rationale=m.rationale,
                confidence=m.action.confidence,
                confidence_source="rule",  # the rule's constant, not the score model's output
                risk_level=m.action.risk_level,
                idempotency_key=idempotency_key(m, f),
                proposed_by=PLAYBOOK_AGENT,
                model_version_id=f.model_version_id,
                model_version=f.model_version,
                matched_rule=m.rule.name,
                input_context={"lead_id": f.id, "triggered_by": actor, "conditions": list(m.conditions)},
                prediction={
                    "score": f.score,
                    "tier": f.tier,
                    "score_id": f.score_id,
                    "reasons": list(f.reasons[:5]),
                },
                action_taken={"rule_id": m.rule.id, "rule": m.rule.name, "rule_version": m.rule.version},
            )
            for m, f in matches
        ]
    )
    return len(ids), routed


# --- Canary and shadow rules -------------------------------------------------------------------


def rule_rollout_set(*, rule_id: int, to: str, actor: str) -> PlaybookRule:
    """One click for a rule on trial: ``promote`` makes a canary or shadow rule live (a canary
    replaces the rule it tried, which is switched off); ``rollback`` switches the trial rule off,
    so the live rule acts on every lead again. Logged with who did it."""
    from sales.models import PlaybookRule

    if to not in ("promote", "rollback"):
        raise ValueError(f"to must be promote or rollback, got {to!r}")
    with transaction.atomic():
        rule = PlaybookRule.objects.select_for_update().get(pk=rule_id)
        if rule.canary_of_id is None and rule.mode != "shadow":
            raise ValueError(f"rule {rule.name!r} is neither a canary nor a shadow rule")
        replaced = rule.canary_of
        if to == "promote":
            if replaced is not None:
                replaced.is_active = False
                replaced.save(update_fields=["is_active", "updated_at"])
            rule.canary_of, rule.mode, rule.is_active = None, "live", True
        else:
            rule.is_active = False
        rule.save()
        decision_log_append(
            event_type=EventType.PLAYBOOK_RULE_ROLLOUT,
            actor=actor,
            subject_type="playbook_rule",
            subject_id=rule.pk,
            action_taken={
                "rule": rule.name,
                "to": to,
                "replaced": replaced.name if replaced and to == "promote" else "",
            },
        )
    return rule
