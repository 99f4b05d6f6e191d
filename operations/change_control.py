"""Change control: a configuration change that needs a second person before it takes effect.

An ops admin marks a kind of configuration as controlled (``ChangeControl`` rows in the admin:
playbooks, playbook rules, approval policies, auto-pause rules, quotas, model promotions). From then
on, saving such a change in the admin does not apply it: it becomes a ``config_change`` proposed
action carrying the diff (before → after) and the proposer's written risk note, and goes through the
same approval flow as everything else — always to a person (the policy cannot auto-approve it), and
never to the person who proposed it (four-eyes). ``config_changes_apply`` applies approved changes,
validated as the admin would, with the history entry in the approver's name. The change-control log
page lists who proposed, who approved, what changed and when.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from approvals.choices import ActionKind, ActionStatus

CONFIG_AGENT = "change-control"

#: What can be put under change control, with how each change is applied.
CONTROLLED_MODELS = {
    "sales.Playbook": "Playbooks",
    "sales.PlaybookRule": "Playbook rules",
    "approvals.ApprovalPolicy": "Approval policies",
    "operations.AutoPauseRule": "Auto-pause rules",
    "operations.Quota": "Quotas",
    "scoring.ModelVersion": "Model promotions",
}


class ChangeRefused(ValueError):
    """A change proposal that cannot be made; ``field`` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def is_controlled(model_label: str) -> bool:
    from operations.models import ChangeControl

    return ChangeControl.objects.filter(model_label=model_label, requires_second_person=True).exists()


def _plain(value: Any) -> Any:
    """A field value as JSON: model instances by primary key, dates as ISO text, decimals as text."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def field_values(instance: models.Model, names: list[str]) -> dict[str, Any]:
    values = {}
    for name in names:
        field = instance._meta.get_field(name)
        attname = getattr(field, "attname", name) if field.is_relation else name
        values[name] = _plain(getattr(instance, attname))
    return values


@dataclass(frozen=True)
class Diff:
    field: str
    before: Any
    after: Any


def diff_rows(payload: dict[str, Any]) -> list[Diff]:
    before, after = payload.get("before", {}), payload.get("after", {})
    return [Diff(name, before.get(name), after[name]) for name in after]


def change_propose(
    *,
    model_label: str,
    object_id: int | None,
    before: dict[str, Any],
    after: dict[str, Any],
    risk_note: str,
    user: Any,
    object_repr: str = "",
) -> Any:
    """Propose a controlled change; it takes effect only when a second person approves it."""
    from approvals.services import action_propose, action_route, payload_sha256

    if model_label not in CONTROLLED_MODELS:
        raise ChangeRefused("model", f"{model_label} cannot be put under change control")
    if not risk_note.strip():
        raise ChangeRefused("risk_note", "describe the risk of this change for the person who approves it")
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    if not changed:
        raise ChangeRefused("changes", "nothing would change")
    payload = {
        "model": model_label,
        "object_id": object_id,
        "object": object_repr[:200],
        "before": {k: before.get(k) for k in changed},
        "after": changed,
        "risk_note": risk_note.strip(),
    }
    key = payload_sha256({**payload, "by": user.pk, "at": timezone.now().isoformat()})
    action = action_propose(
        kind=ActionKind.CONFIG_CHANGE,
        domain="operations",
        payload=payload,
        rationale=f"{user.get_username()} proposes changing {CONTROLLED_MODELS[model_label].lower()} "
        f"{object_repr or '(new)'}: {', '.join(changed)}. Risk note: {risk_note.strip()}",
        confidence=1.0,
        confidence_source="rule",
        idempotency_key=f"config:{key}",
        proposed_by=f"user:{user.get_username()}",
        proposed_by_user_id=user.pk,
        risk_level="high",
        target_system="agentops",
    )
    return action_route(action_id=action.pk, actor="policy")


def config_changes_apply(*, limit: int = 100) -> dict[str, int]:
    """Apply approved configuration changes, each validated like an admin save; a change that no
    longer validates (the object was deleted or edited meanwhile into a conflict) fails with the
    reason. Safe to run twice: an action is applied once (its status moves on)."""
    from approvals.models import ProposedAction
    from approvals.services import Settled, actions_settle_many

    counts: dict[str, int] = {}
    for action in ProposedAction.objects.filter(
        kind=ActionKind.CONFIG_CHANGE, status=ActionStatus.APPROVED
    ).prefetch_related("decisions__decided_by")[:limit]:
        approver = next((d.decided_by for d in action.decisions.all() if d.decided_by is not None), None)
        try:
            with transaction.atomic():
                detail = _apply(action.payload, approver)
                result = actions_settle_many(
                    outcomes=[Settled(action.pk, ActionStatus.EXECUTED, detail)], actor=CONFIG_AGENT
                )
        except (ValidationError, LookupError, ValueError) as exc:
            reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            result = actions_settle_many(
                outcomes=[Settled(action.pk, ActionStatus.FAILED, f"not applied: {reason}")],
                actor=CONFIG_AGENT,
            )
        for status, n in result.items():
            counts[status] = counts.get(status, 0) + n
    return counts


def _apply(payload: dict[str, Any], approver: Any) -> str:
    label, object_id, after = payload["model"], payload.get("object_id"), payload["after"]
    if label == "scoring.ModelVersion":
        from scoring.services import model_version_promote

        if not isinstance(object_id, int):
            raise ValueError("a promotion names the model version")
        version = model_version_promote(
            version_id=object_id,
            to=after["status"],
            actor=f"user:{approver.get_username()}" if approver else CONFIG_AGENT,
            reason="approved change",
            canary_share=after.get("canary_share"),
        )
        return f"model version {version} is now {version.status}"
    model = apps.get_model(label)
    instance = model.objects.select_for_update().get(pk=object_id) if object_id else model()
    for name, value in after.items():
        field = model._meta.get_field(name)
        if field.is_relation:
            setattr(instance, getattr(field, "attname", name), value)
        else:
            setattr(instance, name, field.to_python(value))
    instance.full_clean()
    if approver is not None:
        # simple_history records the approver as the author of the change.
        instance._history_user = approver
    instance.save()
    return f"applied to {label} #{instance.pk}: {json.dumps(sorted(after))}"
