"""Proposals from integrations (the REST API): the kind's schema, the target, consent and the callback
URL are checked (fail closed) before the proposal is stored and routed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from approvals.callbacks import CallbackUrlRefused, callback_url_check
from approvals.choices import ConfidenceSource, Domain, RiskLevel
from approvals.executors import vetoes
from approvals.models import ProposedAction
from approvals.payload_hash import payload_sha256
from approvals.risk import risk_with_floor
from approvals.schemas import (
    PayloadError,
    default_domain,
    reserved_kind_refusal,
    validate_payload,
)
from approvals.services.proposals import DuplicateProposal, action_propose
from approvals.services.routing import action_route
from approvals.subjects import TargetRef, subject_named
from approvals.targets import TargetMismatch, target_check
from core.errors import CONFLICT, AppError


class SubmissionRefused(AppError):
    """A submission that is not stored; ``field`` names the culprit, ``code`` the rule that refused it."""

    statuses = {"idempotency_conflict": CONFLICT}


@dataclass(frozen=True)
class Submission:
    action: ProposedAction
    created: bool  # False when the idempotency key matched an earlier submission


def action_submit(
    *,
    user: User,
    kind: str,
    payload: Any,
    rationale: str,
    confidence: float,
    idempotency_key: str,
    domain: str = "",
    risk_level: RiskLevel | str = RiskLevel.MEDIUM,
    lead: TargetRef | None = None,
    ticket: TargetRef | None = None,
    target_system: str = "",
    callback_url: str = "",
    api_key: Any = None,
) -> Submission:
    """An integration's proposed tool call: check it against its kind's schema (fail closed), store it
    once per idempotency key, and route it through the approval policy in the same transaction.

    Repeating a key answers with the earlier action (``created`` False) if the same user proposed the
    same kind and payload; otherwise ``SubmissionRefused("idempotency_conflict")``. ``lead`` and
    ``ticket`` are ids or ``(source, external_id)`` pairs; the domain defaults to the target's, then
    the kind's. The proposer is recorded, so four-eyes keeps them from approving it themselves.
    A ``callback_url`` needs the ``api_key`` the proposal came with: the callback is signed with
    its integration's callback secret (``security.selectors.apikey_callback_secret``).
    """
    reserved = reserved_kind_refusal(kind)
    if reserved is not None:  # e.g. config_change: only the admin's change control proposes it
        raise SubmissionRefused("invalid_kind", str(reserved), field=reserved.field)
    try:
        clean = validate_payload(kind, payload)
    except PayloadError as exc:
        raise SubmissionRefused("invalid_payload", str(exc), field=exc.field) from None
    if lead is not None and ticket is not None:
        raise SubmissionRefused(
            "invalid_target", "ticket: an action targets a lead or a ticket, not both", field="ticket"
        )
    lead_id = _check_target(kind, clean, "lead", lead)
    ticket_id = _check_target(kind, clean, "ticket", ticket)
    if lead is None and ticket is None:
        _check_target(kind, clean, "", None)
    _check_vetoes(kind, clean, lead_id)
    if domain and domain not in Domain.values:
        raise SubmissionRefused(
            "invalid_domain", f"domain: one of {', '.join(Domain.values)}", field="domain"
        )
    # The queue (and so who approves) follows the target, then the kind; the agent may only repeat it.
    belongs = default_domain(kind, has_lead=lead_id is not None, has_ticket=ticket_id is not None)
    if domain and domain != belongs:
        raise SubmissionRefused(
            "invalid_domain", f"domain: follows the target; this action belongs to {belongs}", field="domain"
        )
    if callback_url:
        _check_callback_url(callback_url, api_key=api_key)
    try:
        with transaction.atomic():
            action = action_propose(
                kind=kind,
                domain=belongs,
                payload=clean,
                rationale=rationale,
                confidence=confidence,
                # Stored as the agent's own report: the policy does not take it at face value.
                confidence_source=ConfidenceSource.AGENT,
                idempotency_key=idempotency_key,
                proposed_by=f"api:{user.get_username()}"[:100],
                proposed_by_user_id=user.pk,
                # The agent may raise the risk, never lower it below its kind's and payload's floor.
                risk_level=risk_with_floor(str(risk_level), kind, clean),
                lead_id=lead_id,
                ticket_id=ticket_id,
                target_system=target_system,
                callback_url=callback_url,
            )
            action = action_route(action_id=action.pk, actor="policy")
    except DuplicateProposal as duplicate:
        existing = duplicate.existing
        if (
            existing.proposed_by_user_id != user.pk
            or existing.kind != kind
            or payload_sha256(_proposed_payload(existing)) != payload_sha256(clean)
        ):
            raise SubmissionRefused(
                "idempotency_conflict",
                "idempotency_key: already used for a different proposal; use a new key",
                field="idempotency_key",
            ) from None
        return Submission(existing, created=False)
    return Submission(action, created=True)


def _check_target(kind: str, payload: Mapping[str, Any], name: str, ref: TargetRef | None) -> int | None:
    """The id of the ``name`` record (a lead, a ticket) that ``ref`` names, found by its subject
    (``approvals.subjects``); None when ``ref`` is. Refuses a record that does not exist, a kind
    that does not act on that kind of record, and a payload that names another ticket or recipient
    than it (``approvals.targets``). With no name, checks the payload of an action on no record."""
    try:
        if not name:
            target_check(kind, payload, lead=None, ticket=None)
            return None
        if ref is None:
            return None
        subject = subject_named(name)
        record = subject.find(ref) if subject.find is not None else None
        if record is None:
            raise SubmissionRefused("invalid_target", f"{name}: no {name} {ref!r}", field=name)
        if subject.check is not None:
            subject.check(kind, payload, record)
    except TargetMismatch as exc:
        raise SubmissionRefused("invalid_target", str(exc), field=exc.field) from None
    return int(record.pk)


def _check_vetoes(kind: str, payload: Mapping[str, Any], lead_id: int | None) -> None:
    """A proposal a veto refuses (``approvals.executors.Veto``: privacy's consent, e.g. a message to
    a contact who withdrew it) is refused now, with the veto's code and naming the field (``lead``,
    ``payload.to``, ``payload.cc[1]``); the outbox asks again before it goes out."""
    proposed = ProposedAction(kind=kind, payload=payload, lead_id=lead_id)
    for veto in vetoes():
        refusals = veto.refusals(proposed)
        if refusals:
            field = str(getattr(refusals[0], "field", "") or "")
            raise SubmissionRefused(veto.code, "; ".join(map(str, refusals)), field=field)


def _check_callback_url(url: str, *, api_key: Any) -> None:
    if not settings.AGENTOPS_CALLBACKS:
        raise SubmissionRefused(
            "callbacks_disabled",
            "callback_url: callbacks are not enabled on this server (AGENTOPS_CALLBACKS is off); poll instead",
            field="callback_url",
        )
    try:
        callback_url_check(
            url,
            allowed_hosts=settings.AGENTOPS_CALLBACK_HOSTS,
            require_https=settings.AGENTOPS_CALLBACK_HTTPS_ONLY,
        )
    except CallbackUrlRefused as exc:
        raise SubmissionRefused(
            "invalid_callback_url", f"callback_url: {exc}", field="callback_url"
        ) from None
    if api_key is None:
        raise SubmissionRefused(
            "callback_needs_api_key",
            "callback_url: only a proposal made with an API key can have a callback (it is signed "
            "with that key's callback secret); poll instead",
            field="callback_url",
        )


def _proposed_payload(action: ProposedAction) -> Mapping[str, Any]:
    """The payload as proposed: an approver's edit changes ``payload``, the first decision keeps the original."""
    first = action.decisions.order_by("created_at", "id").first()
    return first.original_payload if first is not None else action.payload
