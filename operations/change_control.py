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
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models, transaction
from django.utils import timezone

from approvals.change_control import ChangeRefused, field_values
from approvals.changes import FieldChange, proposed_changes
from approvals.choices import ActionKind, ActionStatus
from approvals.executors import Outcome
from approvals.subjects import Subject

CONFIG_AGENT = "change-control"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Controlled:
    """A configuration that can be put under change control: its name on the pages, and the only
    fields a change may set (the business settings its admin form edits)."""

    name: str
    fields: frozenset[str]


#: What can be put under change control, and the fields a change may set on each. Never keys,
#: timestamps, authorship or anything outside the model's admin form: ``change_propose`` and again
#: ``config_changes_apply`` refuse any other model or field, whatever the payload says.
CONTROLLED_MODELS: dict[str, Controlled] = {
    "sales.Playbook": Controlled("Playbooks", frozenset("name description is_active control_share".split())),
    "sales.PlaybookRule": Controlled(
        "Playbook rules",
        frozenset(
            "playbook name priority is_active stop_processing conditions actions mode canary_of "
            "canary_share".split()
        ),
    ),
    "approvals.ApprovalPolicy": Controlled(
        "Approval policies",
        frozenset(
            "name description is_active priority outcome kinds domains risk_at_least confidence_below "
            "score_at_least deal_value_at_least account_value_at_least bulk_size_at_least "
            "compliance_flags_any drift_states ownership_change approver_group sla_minutes "
            "timeout_action confidence_sources".split()
        ),
    ),
    "operations.AutoPauseRule": Controlled(
        "Auto-pause rules",
        frozenset(
            "name metric action_kind window_minutes baseline_days threshold min_samples switch_scope "
            "switch_target runbook_url is_active".split()
        ),
    ),
    "operations.Quota": Controlled("Quotas", frozenset("name scope target window limit is_active".split())),
    "scoring.ModelVersion": Controlled("Model promotions", frozenset({"status", "canary_share"})),
}

#: Apps whose rows change control never reaches, even if someone adds one of their models above:
#: users, groups and permissions, API keys, the decision log, admin history and sessions.
NEVER_CONTROLLED_APPS = frozenset({"auth", "contenttypes", "security", "audit", "admin", "sessions"})

#: The only domain a configuration change is decided in (ops admins decide it, not sales or support).
CONFIG_DOMAIN = "operations"


def controlled_change_check(*, model_label: object, fields: object) -> Controlled:
    """What ``model_label`` is under change control; ``ChangeRefused`` naming the model or the first
    field if it is not a controllable model, or ``fields`` are not all fields a change may set."""
    if not isinstance(model_label, str) or model_label.partition(".")[0] in NEVER_CONTROLLED_APPS:
        raise ChangeRefused("model", f"{model_label} can never be changed through change control")
    controlled = CONTROLLED_MODELS.get(model_label)
    if controlled is None:
        raise ChangeRefused("model", f"{model_label} cannot be put under change control")
    if not isinstance(fields, dict | list | tuple | set | frozenset):
        raise ChangeRefused("changes", "must name the fields to change")
    for name in sorted(map(str, fields)):
        if name not in controlled.fields:
            allowed = ", ".join(sorted(controlled.fields))
            raise ChangeRefused(
                f"changes.{name}",
                f"not a field change control may set on {controlled.name.lower()} (allowed: {allowed})",
            )
    return controlled


def is_controlled(model_label: str) -> bool:
    from operations.models import ChangeControl

    return ChangeControl.objects.filter(model_label=model_label, requires_second_person=True).exists()


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

    controlled = controlled_change_check(model_label=model_label, fields=after)
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
        domain=CONFIG_DOMAIN,
        payload=payload,
        rationale=f"{user.get_username()} proposes changing {controlled.name.lower()} "
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


def config_changes_execute(actions: Sequence[Any], now: datetime) -> list[Outcome]:
    """The executor of approved configuration changes (registered in ``OperationsConfig.ready``;
    the outbox runs it in its fenced transaction and settles the outcomes): each is validated like
    an admin save; a change that no longer validates (the object was deleted or edited meanwhile
    into a conflict) fails with the reason, and nothing of it is written.

    Applied only as change control proposes them: a controlled model, only its allowed fields
    (``CONTROLLED_MODELS``), decided in the operations domain by a person other than the proposer;
    anything else fails with the reason. While a kill switch holds configuration changes (global,
    configuration changes, or the ``config_change`` kind) nothing is applied: the changes are held
    and looked at again later, and apply after the release."""
    from approvals.models import Decision
    from operations.selectors import kill_switch_hold

    held = kill_switch_hold(activity="config_changes")
    if held:
        logger.warning("%s approved configuration change(s) held: %s", len(actions), held)
        return [Outcome(a.pk, "held", held) for a in actions]
    approvers = {
        d.action_id: d.decided_by
        for d in Decision.objects.filter(action_id__in=[a.pk for a in actions], decided_by__isnull=False)
        .select_related("decided_by")
        .order_by("-pk")
    }
    outcomes = []
    for action in actions:
        approver = approvers.get(action.pk)
        try:
            with transaction.atomic():
                _origin_check(action, approver)
                outcomes.append(Outcome(action.pk, ActionStatus.EXECUTED, _apply(action.payload, approver)))
        except (ValidationError, ObjectDoesNotExist, LookupError, ValueError) as exc:
            reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            outcomes.append(Outcome(action.pk, ActionStatus.FAILED, f"not applied: {reason}"))
    return outcomes


def _origin_check(action: Any, approver: Any) -> None:
    """Refuse a change that did not come the change-control way: proposed by a person in the
    admin, in the operations domain (decided by ops admins), approved by somebody else."""
    if action.domain != CONFIG_DOMAIN:
        raise ChangeRefused(
            "domain", f"a configuration change is decided in the {CONFIG_DOMAIN} domain, not {action.domain}"
        )
    if action.proposed_by_user_id is None or not action.proposed_by.startswith("user:"):
        raise ChangeRefused("proposed_by", "a configuration change is proposed by a person in the admin")
    if approver is None or approver.pk == action.proposed_by_user_id:
        raise ChangeRefused(
            "approval", "a configuration change is approved by a person other than its proposer"
        )


def _apply(payload: Any, approver: Any) -> str:
    if not isinstance(payload, dict) or not isinstance(payload.get("after"), dict) or not payload["after"]:
        raise ChangeRefused("after", "names no field to change")
    label, object_id, after = payload.get("model"), payload.get("object_id"), payload["after"]
    controlled_change_check(model_label=label, fields=after)
    if object_id is not None and (not isinstance(object_id, int) or isinstance(object_id, bool)):
        raise ChangeRefused("object_id", f"must be a row id, got {object_id!r}")
    if label == "scoring.ModelVersion":
        from scoring.services import GateFailed, model_version_promote

        if object_id is None:
            raise ValueError("a promotion names the model version")
        try:
            version = model_version_promote(
                version_id=object_id,
                to=after.get("status", ""),
                actor=f"user:{approver.get_username()}" if approver else CONFIG_AGENT,
                reason="approved change",
                canary_share=after.get("canary_share"),
            )
        except GateFailed as exc:
            raise ValueError(str(exc)) from None
        return f"model version {version} is now {version.status}"
    model = apps.get_model(str(label))
    if model._meta.app_label in NEVER_CONTROLLED_APPS or model._meta.label != label:
        raise ChangeRefused("model", f"{label} can never be changed through change control")
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


# The configuration as a subject of actions (approvals.subjects) ------------------------------------
def _configuration_holds(action: Any) -> bool:
    return action.kind == ActionKind.CONFIG_CHANGE


def configuration_record(action: Any) -> models.Model | None:
    """The controlled row a change would edit, as it is now; None for a new row or one that is gone
    (and for anything change control could never apply)."""
    payload = action.payload if isinstance(action.payload, dict) else {}
    label, object_id = payload.get("model"), payload.get("object_id")
    if label not in CONTROLLED_MODELS or not isinstance(object_id, int) or isinstance(object_id, bool):
        return None
    return apps.get_model(str(label)).objects.filter(pk=object_id).first()


def configuration_fields(instance: models.Model | None) -> dict[str, Any]:
    """The fields change control may set on ``instance``, as they are now."""
    if instance is None:
        return {}
    return field_values(instance, sorted(CONTROLLED_MODELS[instance._meta.label].fields))


def configuration_changes(record: Mapping[str, Any], payload: Mapping[str, Any]) -> list[FieldChange]:
    """The change's ``after`` values against the row as it is now (not the ``before`` it was
    proposed against: an approver sees an edit made meanwhile)."""
    after = payload.get("after") if isinstance(payload, dict) else None
    return proposed_changes(record=record, payload=after if isinstance(after, dict) else {})


CONFIGURATION = Subject(
    name="configuration",
    title="Configuration",
    holds=_configuration_holds,
    record_of=configuration_record,
    fields=configuration_fields,
    changes=configuration_changes,
)
