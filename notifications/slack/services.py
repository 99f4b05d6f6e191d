"""Deciding in Slack: cards for pending items, kept up to date, and the buttons and modals behind them.

- ``slack_cards_post_pending``: a Block Kit card for each pending item routed to a group that has a
  Slack route (``SlackChannelRoute``): in its channel, or as a direct message to each member with a
  linked Slack account. Each card is claimed in the database before it is posted (at most once).
- ``slack_cards_refresh``: the ``actions.decided`` subscriber; after any decision — in Slack, on the
  web, over the API or by email — each card of the item is updated in place (``chat.update``) to
  show who decided what, so nobody acts on a stale card.
- ``slack_interaction_handle``: a button press or a modal submission (already verified as Slack's by
  the view). Decisions go through ``action_approve`` / ``action_reject`` with channel ``slack``:
  four-eyes, quorum, role scope, the payload-hash check and the decision-log entry as on the web.
  Approving (or editing, which approves) an item whose risk needs re-authentication is refused:
  a button cannot prove a password; the card says so and links to the page.

A Slack user acts as the AgentOps user mapped to them (``SlackUserLink``); on first use the mapping
is made, or verified, by matching the Slack profile's email (``users.info``) with the user's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.utils import timezone
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from approvals.changes import payload_rows
from approvals.choices import ActionKind, ActionStatus, ConfidenceSource, DecisionOutcome, RejectionReason
from approvals.models import Decision, ProposedAction
from approvals.schemas import SCHEMAS
from approvals.scoping import actions_decidable
from approvals.selectors import actions_queue
from approvals.services import DecisionError, PayloadNotSeen, action_approve, action_reject, payload_sha256
from notifications.messages import action_link
from notifications.models import SlackCard, SlackChannelRoute, SlackUserLink
from notifications.selectors import action_decider, notification_settings_get
from notifications.slack.blocks import (
    EDIT_CALLBACK,
    EDIT_PREFIX,
    REJECT_CALLBACK,
    CardFacts,
    EditField,
    EditValueError,
    ModalContext,
    card_blocks,
    card_text,
    edit_modal,
    edits_from_modal,
    field_text,
    modal_values,
    read_button_value,
    read_metadata,
    reject_modal,
)
from security.masking import PERSONAL_KEYS, mask_mapping, mask_mentions, may_view_personal_data

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5
LONG_TEXT_LENGTH = 80


def slack_client() -> WebClient | None:
    """The Web API client (``SLACK_BOT_TOKEN`` against ``SLACK_API_URL``); None when Slack is not set up."""
    if not settings.SLACK_BOT_TOKEN:
        return None
    base = settings.SLACK_API_URL if settings.SLACK_API_URL.endswith("/") else settings.SLACK_API_URL + "/"
    return WebClient(token=settings.SLACK_BOT_TOKEN, base_url=base, timeout=TIMEOUT_SECONDS)


def reauth_required(risk_level: str) -> bool:
    """Whether approving this risk needs a freshly proved password (``REAUTH_RISK_LEVELS``)."""
    return risk_level in settings.REAUTH_RISK_LEVELS


# Cards ----------------------------------------------------------------------------------------------
def cards_facts(actions: Iterable[ProposedAction], *, base_url: str) -> dict[int, CardFacts]:
    """What each action's card shows, personal values masked (a channel is shared); one query for
    the decisions of all of them."""
    actions = list(actions)
    decisions: dict[int, list[Decision]] = {}
    rows = (
        Decision.objects.filter(action_id__in=[a.pk for a in actions])
        .exclude(outcome=DecisionOutcome.DEFER)
        .select_related("decided_by")
        .order_by("created_at", "id")
    )
    for decision in rows:
        decisions.setdefault(decision.action_id, []).append(decision)
    sources = dict(ConfidenceSource.choices)
    facts = {}
    for action in actions:
        current = payload_sha256(action.payload)
        mine = decisions.get(action.pk, [])
        names = [d.decided_by.get_username() if d.decided_by else "the policy" for d in mine]
        approved_by = tuple(
            n
            for n, d in zip(names, mine, strict=True)
            if d.outcome in (DecisionOutcome.APPROVE, DecisionOutcome.EDIT_APPROVE)
            and d.payload_sha256 == current
        )
        status, label = action.status, action.get_status_display()
        if status != ActionStatus.PENDING_APPROVAL and mine:
            # Approved items move on (executing, executed): the card says what the person decided.
            status = (
                ActionStatus.REJECTED if mine[-1].outcome == DecisionOutcome.REJECT else ActionStatus.APPROVED
            )
            label = ActionStatus(status).label
        facts[action.pk] = CardFacts(
            action_id=action.pk,
            kind_label=action.get_kind_display(),
            domain_label=action.get_domain_display(),
            rationale=mask_mentions(action.rationale),
            confidence=action.confidence,
            confidence_source=sources.get(action.confidence_source, "").lower(),
            risk_level=action.risk_level,
            payload_sha256=current,
            link=action_link(base_url=base_url, action_id=action.pk),
            status=status,
            status_label=label,
            reasons=tuple(str(r) for r in action.policy_reasons or ()),
            change=tuple((k, field_text(v)) for k, v in payload_rows(mask_mapping(action.payload))),
            decided_by=names[-1] if mine and action.status != ActionStatus.PENDING_APPROVAL else "",
            approved_by=approved_by if action.status == ActionStatus.PENDING_APPROVAL else (),
            required_approvals=max(action.required_approvals, 1),
            reauth_required=reauth_required(action.risk_level),
        )
    return facts


@dataclass
class CardSummary:
    posted: int = 0
    failed: int = 0
    updated: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"posted": self.posted, "failed": self.failed, "updated": self.updated}


def _error(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return f"slack: {exc.response.get('error', 'error')}"[:500]
    return f"slack: {exc.__class__.__name__}: {exc}"[:500]


def _dm_destinations(client: WebClient, group_ids: Iterable[int]) -> dict[int, list[str]]:
    """The Slack user ids of each group's active members, linking by email those not linked yet."""
    membership = get_user_model().groups.through.objects
    rows = list(
        membership.filter(group_id__in=list(group_ids), user__is_active=True)
        .exclude(user__email="")
        .values_list("group_id", "user_id", "user__email")
    )
    links = dict(
        SlackUserLink.objects.filter(
            user_id__in={u for _, u, _ in rows}, verified_at__isnull=False
        ).values_list("user_id", "slack_user_id")
    )
    result: dict[int, list[str]] = {}
    for group_id, user_id, email in rows:
        if user_id not in links:
            try:
                found = client.users_lookupByEmail(email=email)
            except (SlackApiError, SlackClientError, OSError):
                continue  # no Slack account with this address: no direct message
            slack_id = found["user"]["id"]
            SlackUserLink.objects.update_or_create(
                slack_user_id=slack_id, defaults={"user_id": user_id, "verified_at": timezone.now()}
            )
            links[user_id] = slack_id
        result.setdefault(group_id, []).append(links[user_id])
    return result


def slack_cards_post_pending(*, now: datetime | None = None) -> CardSummary:
    """Post a card for each pending item routed to a group with a Slack route, once per destination."""
    client = slack_client()
    summary = CardSummary()
    routes = list(SlackChannelRoute.objects.filter(is_active=True)) if client is not None else []
    if client is None or not routes:
        return summary
    pending = list(
        actions_queue(now=now or timezone.now()).filter(approver_group_id__in=[r.group_id for r in routes])
    )
    if not pending:
        return summary
    existing = set(
        SlackCard.objects.filter(action_id__in=[a.pk for a in pending]).values_list(
            "action_id", "destination"
        )
    )
    destinations = {r.group_id: [r.channel_id] for r in routes if r.channel_id}
    # Direct messages go out when an item is new (no card yet): its group's members are looked up
    # then, not again every minute for a member who has no Slack account.
    carded = {action_id for action_id, _ in existing}
    dm_groups = {r.group_id for r in routes if not r.channel_id} & {
        a.approver_group_id for a in pending if a.pk not in carded
    }
    if dm_groups:
        destinations.update(_dm_destinations(client, dm_groups))
    batch = uuid.uuid4()
    SlackCard.objects.bulk_create(
        [
            SlackCard(action_id=a.pk, destination=d, batch=batch)
            for a in pending
            for d in destinations.get(a.approver_group_id or 0, [])
            if (a.pk, d) not in existing
        ],
        ignore_conflicts=True,
    )
    claimed = list(SlackCard.objects.filter(batch=batch).order_by("id"))
    if not claimed:
        return summary
    facts = cards_facts(pending, base_url=notification_settings_get().link_base)
    for card in claimed:
        shown = facts[card.action_id]
        try:
            answer = client.chat_postMessage(
                channel=card.destination, text=card_text(shown), blocks=card_blocks(shown)
            )
        except (SlackApiError, SlackClientError, OSError) as exc:
            SlackCard.objects.filter(pk=card.pk).update(error=_error(exc))
            summary.failed += 1
            continue
        SlackCard.objects.filter(pk=card.pk).update(channel=answer["channel"], ts=answer["ts"], error="")
        summary.posted += 1
    return summary


def _update_cards(client: WebClient, cards: Iterable[SlackCard], shown: CardFacts) -> int:
    updated = 0
    for card in cards:
        try:
            client.chat_update(
                channel=card.channel, ts=card.ts, text=card_text(shown), blocks=card_blocks(shown)
            )
        except (SlackApiError, SlackClientError, OSError) as exc:
            logger.warning("slack card %s of action %s not updated: %s", card.pk, card.action_id, _error(exc))
            continue
        SlackCard.objects.filter(pk=card.pk).update(decided=shown.status != ActionStatus.PENDING_APPROVAL)
        updated += 1
    return updated


def slack_cards_refresh(*, action_id: int) -> CardSummary:
    """Update every posted card of the action to show it as it is now (who decided what)."""
    client = slack_client()
    cards = list(SlackCard.objects.filter(action_id=action_id).exclude(ts="")) if client is not None else []
    if client is None or not cards:
        return CardSummary()
    action = ProposedAction.objects.get(pk=action_id)
    shown = cards_facts([action], base_url=notification_settings_get().link_base)[action_id]
    return CardSummary(updated=_update_cards(client, cards, shown))


def slack_cards_after_decision(*, action_id: int) -> None:
    """``actions.decided`` subscriber (after the decision commits): refresh the item's cards."""
    slack_cards_refresh(action_id=action_id)


# People ---------------------------------------------------------------------------------------------
class SlackRefused(Exception):
    """An interaction that decides nothing; ``message`` is what the person is told, ``block`` the
    modal input it is about (for a modal's error)."""

    def __init__(self, message: str, *, block: str = "comment") -> None:
        self.message = message
        self.block = block
        super().__init__(message)


def slack_user_resolve(*, client: WebClient, slack_user_id: str) -> User:
    """The active AgentOps user this Slack user acts as, linking or verifying by email on first use."""
    link = SlackUserLink.objects.select_related("user").filter(slack_user_id=slack_user_id).first()
    if link is not None and link.verified_at is not None:
        if not link.user.is_active:
            raise SlackRefused("Your AgentOps account is deactivated.")
        return link.user
    try:
        profile = client.users_info(user=slack_user_id)["user"].get("profile", {})
    except (SlackApiError, SlackClientError, OSError) as exc:
        raise SlackRefused(f"Could not read your Slack profile ({_error(exc)}); try again.") from None
    email = str(profile.get("email", "")).strip().lower()
    if link is None:
        matches = (
            list(get_user_model().objects.filter(email__iexact=email, is_active=True)[:2]) if email else []
        )
        if len(matches) != 1:
            raise SlackRefused(
                "Your Slack account is not linked to an AgentOps user (no single active user has your "
                "Slack profile's email); ask an admin to link it."
            )
        link = SlackUserLink.objects.create(
            slack_user_id=slack_user_id, user=matches[0], verified_at=timezone.now()
        )
        return matches[0]
    if not email or link.user.email.strip().lower() != email or not link.user.is_active:
        raise SlackRefused(
            "Your Slack profile's email does not match the AgentOps user it is linked to; ask an admin."
        )
    SlackUserLink.objects.filter(pk=link.pk).update(verified_at=timezone.now())
    return link.user


# Interactions ---------------------------------------------------------------------------------------
def _decidable(user: User, action_id: int) -> ProposedAction:
    action = actions_decidable(user=user).filter(pk=action_id).first()
    if action is None:
        raise SlackRefused(f"You may not decide item #{action_id}.")
    if action.status != ActionStatus.PENDING_APPROVAL:
        raise SlackRefused(
            f"Item #{action.pk} was already {action.status} by {action_decider(action_id=action.pk)}."
        )
    return action


def _reauth_refusal(action: ProposedAction) -> SlackRefused:
    link = action_link(base_url=notification_settings_get().link_base, action_id=action.pk)
    return SlackRefused(
        f"Approving a {action.risk_level}-risk item needs your password, which a Slack button cannot ask: "
        f"approve it in AgentOps: {link}"
    )


def _edit_fields(action: ProposedAction, user: User) -> list[EditField]:
    schema = SCHEMAS.get(action.kind)
    hidden = set() if may_view_personal_data(user) else set(PERSONAL_KEYS)
    fields = []
    for key, value in action.payload.items():
        if key in hidden:
            continue  # personal data the approver may not see: not shown, so not editable
        spec = schema.fields.get(key) if schema else None
        text = field_text(value)
        fields.append(
            EditField(
                key=key,
                text=text,
                multiline="\n" in text or len(text) > LONG_TEXT_LENGTH or isinstance(value, dict | list),
                help=spec.help if spec else "",
                optional=not (spec and spec.required),
            )
        )
    return fields


def _ephemeral(client: WebClient, payload: Mapping[str, Any], text: str) -> None:
    channel = (payload.get("container") or {}).get("channel_id") or (payload.get("channel") or {}).get("id")
    user = (payload.get("user") or {}).get("id")
    if not channel or not user:
        return
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=text)
    except (SlackApiError, SlackClientError, OSError) as exc:
        logger.warning("slack ephemeral answer not sent: %s", _error(exc))


def _button_press(client: WebClient, payload: Mapping[str, Any]) -> None:
    pressed = (payload.get("actions") or [{}])[0]
    name = pressed.get("action_id", "")
    if name not in ("approve", "reject", "edit"):
        return  # "Open in AgentOps" is a link; Slack tells us about the press anyway
    container = payload.get("container") or {}
    try:
        value = read_button_value(str(pressed.get("value", "")))
        user = slack_user_resolve(client=client, slack_user_id=str((payload.get("user") or {}).get("id", "")))
        action = _decidable(user, value.action_id)
        if name == "approve":
            if reauth_required(action.risk_level):
                raise _reauth_refusal(action)
            action_approve(
                action_id=action.pk, user=user, seen_payload_sha256=value.payload_sha256, channel="slack"
            )
            return
        context = ModalContext(
            action.pk,
            value.payload_sha256,
            str(container.get("channel_id", "")),
            str(container.get("message_ts", "")),
        )
        title = f"{action.get_kind_display()} #{action.pk}: {mask_mentions(action.rationale)}"
        if name == "reject":
            view = reject_modal(context=context, reasons=RejectionReason.choices, title=title)
        else:
            if reauth_required(action.risk_level):
                raise _reauth_refusal(action)
            if action.kind == ActionKind.CONFIG_CHANGE:
                raise SlackRefused(
                    "A configuration change is approved or rejected as proposed; it cannot be edited."
                )
            view = edit_modal(context=context, fields=_edit_fields(action, user), title=title)
        client.views_open(trigger_id=str(payload.get("trigger_id", "")), view=view)
    except ValueError:
        _ephemeral(client, payload, "That button is not one of AgentOps's.")
    except SlackRefused as refused:
        _ephemeral(client, payload, refused.message)
        slack_cards_refresh(action_id=value.action_id)
    except PayloadNotSeen as changed:
        fields = ", ".join(changed.changes or {}) or "its content"
        _ephemeral(
            client,
            payload,
            f"Not approved: the item changed since this card ({fields}); the card now shows it.",
        )
        slack_cards_refresh(action_id=value.action_id)
    except DecisionError as refused:
        _ephemeral(client, payload, f"Not approved: {refused.message}")
        slack_cards_refresh(action_id=value.action_id)
    except (SlackApiError, SlackClientError, OSError) as exc:
        logger.warning("slack modal not opened: %s", _error(exc))


def _block_of(exc: DecisionError) -> str:
    """The modal input a decision error is about: a payload field's, the reason's, or the comment."""
    if exc.code == "invalid_edit" and exc.message.startswith("payload."):
        return EDIT_PREFIX + exc.message.split(":", 1)[0].removeprefix("payload.")
    return "reason" if exc.code == "reason_required" else "comment"


def _modal_submission(client: WebClient, payload: Mapping[str, Any]) -> dict[str, Any] | None:
    view = payload.get("view") or {}
    callback = view.get("callback_id", "")
    if callback not in (REJECT_CALLBACK, EDIT_CALLBACK):
        return None
    try:
        context = read_metadata(str(view.get("private_metadata", "")))
        values = modal_values(view)
        user = slack_user_resolve(client=client, slack_user_id=str((payload.get("user") or {}).get("id", "")))
        action = _decidable(user, context.action_id)
        comment = str(values.get("comment") or "")
        if callback == REJECT_CALLBACK:
            action_reject(
                action_id=action.pk,
                user=user,
                reason_code=str(values.get("reason") or ""),
                comment=comment,
                channel="slack",
            )
            return None
        if reauth_required(action.risk_level):
            raise _reauth_refusal(action)
        edits = edits_from_modal(values, action.payload)
        action_approve(
            action_id=action.pk,
            user=user,
            seen_payload_sha256=context.payload_sha256,
            edits=edits or None,
            comment=comment,
            channel="slack",
        )
    except ValueError as exc:
        if isinstance(exc, EditValueError):
            return {"response_action": "errors", "errors": {exc.block_id: str(exc)}}
        return {"response_action": "errors", "errors": {"comment": "This form is not one of AgentOps's."}}
    except SlackRefused as refused:
        return {"response_action": "errors", "errors": {refused.block: refused.message}}
    except PayloadNotSeen as changed:
        fields = ", ".join(changed.changes or {}) or "its content"
        message = f"The item changed since you opened this ({fields}); close this and open the card again."
        return {"response_action": "errors", "errors": {"comment": message}}
    except DecisionError as refused:
        return {"response_action": "errors", "errors": {_block_of(refused): refused.message}}
    return None


def slack_interaction_handle(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """Act on one verified interactivity payload; the JSON to answer Slack with, or None (empty 200)."""
    client = slack_client()
    if client is None:
        return None
    kind = payload.get("type")
    if kind == "block_actions":
        _button_press(client, payload)
        return None
    if kind == "view_submission":
        return _modal_submission(client, payload)
    return None
