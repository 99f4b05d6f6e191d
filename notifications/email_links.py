"""One-click Approve / Reject links in approvers' email: issued with each message, checked on every
open, and used once to decide through the very services the approval pages use.

A link is a signed token (``notifications.link_tokens``) naming a stored ``ApprovalLink`` row. It
decides only for the approver it was sent to, only the decision it names, only while the item still
holds the payload the email showed, only before it expires, and only once: the row is marked used in
the transaction that decides, so a second use (or a second request racing the first) is refused.
Opening a link (GET) decides nothing — mail scanners follow links; only the confirming POST does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from approvals.choices import ActionStatus
from approvals.models import ProposedAction
from approvals.scoping import actions_decidable
from approvals.services import action_approve, action_reject, payload_changes_since
from core.errors import CONFLICT, FORBIDDEN, AppError
from notifications.choices import LinkDecision
from notifications.link_tokens import LinkClaims, LinkTokenError, new_nonce, token_read, token_sign
from notifications.models import ApprovalLink
from notifications.selectors import action_decider

#: Where the links point: ``<base URL>/notifications/decide/<token>/``.
LINK_PATH = "/notifications/decide/"


class LinkRefused(AppError):
    """A link that cannot decide (any more); ``code`` says why, ``changes`` what changed in the payload."""

    default_status = 410
    statuses = {
        "invalid": 404,
        "not_allowed": FORBIDDEN,
        "wrong_user": FORBIDDEN,
        "already_decided": CONFLICT,
        "payload_changed": CONFLICT,
    }

    def __init__(self, code: str, message: str, *, changes: dict[str, Any] | None = None) -> None:
        super().__init__(code, message)
        self.changes = changes


@dataclass(frozen=True)
class LinkRequest:
    """Links wanted for one approver about one action, as the email shows its payload."""

    user_id: int
    action_id: int
    payload_sha256: str


@dataclass(frozen=True)
class LinkPair:
    approve_url: str
    reject_url: str


def link_secret() -> bytes:
    """The key that signs links: ``AGENTOPS_APPROVAL_LINK_SECRET``, or one derived from SECRET_KEY."""
    configured: str = settings.AGENTOPS_APPROVAL_LINK_SECRET
    if configured:
        return configured.encode()
    return hashlib.sha256(b"agentops.approval-links:" + settings.SECRET_KEY.encode()).digest()


def approval_links_issue(
    *, requests: Sequence[LinkRequest], base_url: str, expires_at: datetime
) -> dict[tuple[int, int], LinkPair]:
    """An Approve and a Reject link per request, stored in one multi-row insert; by (user, action)."""
    secret = link_secret()
    rows: list[ApprovalLink] = []
    pairs: dict[tuple[int, int], LinkPair] = {}
    base = base_url.rstrip("/") + LINK_PATH
    for request in requests:
        urls = []
        for decision in (LinkDecision.APPROVE, LinkDecision.REJECT):
            claims = LinkClaims(
                nonce=new_nonce(),
                user_id=request.user_id,
                action_id=request.action_id,
                decision=decision.value,
                payload_sha256=request.payload_sha256,
                expires_at=int(expires_at.timestamp()),
            )
            rows.append(
                ApprovalLink(
                    nonce=claims.nonce,
                    user_id=claims.user_id,
                    action_id=claims.action_id,
                    decision=claims.decision,
                    payload_sha256=claims.payload_sha256,
                    expires_at=expires_at,
                )
            )
            urls.append(f"{base}{token_sign(claims, secret=secret)}/")
        pairs[(request.user_id, request.action_id)] = LinkPair(*urls)
    ApprovalLink.objects.bulk_create(rows, batch_size=500)
    return pairs


def _claims(token: str, now: datetime) -> LinkClaims:
    try:
        return token_read(token, secret=link_secret(), now=now.timestamp())
    except LinkTokenError as exc:
        raise LinkRefused(exc.code, str(exc)) from None


def _check(link: ApprovalLink | None, claims: LinkClaims, now: datetime) -> ApprovalLink:
    """Raise ``LinkRefused`` unless ``link`` may decide now; the refusals in the order a person reads them."""
    bound = (claims.user_id, claims.action_id, claims.decision, claims.payload_sha256)
    if link is None or (link.user_id, link.action_id, link.decision, link.payload_sha256) != bound:
        raise LinkRefused("invalid", "This link is not one we sent, or it was changed.")
    if link.used_at is not None:
        raise LinkRefused(
            "used", f"This link was used already ({link.used_at:%Y-%m-%d %H:%M} UTC); each link works once."
        )
    if link.expires_at <= now:
        raise LinkRefused("expired", "This link has expired; open the item in AgentOps to decide it.")
    action = ProposedAction.objects.only("status", "payload").get(pk=link.action_id)
    if action.status != ActionStatus.PENDING_APPROVAL:
        who = action_decider(action_id=action.pk)
        raise LinkRefused(
            "already_decided", f"Item #{action.pk} is already {action.status} (decided by {who})."
        )
    user = link.user
    if not user.is_active or not actions_decidable(user=user).filter(pk=action.pk).exists():
        raise LinkRefused(
            "not_allowed", f"You may no longer decide item #{action.pk}: your role or its routing changed."
        )
    changes = payload_changes_since(action=action, seen_sha256=link.payload_sha256)
    if changes != {}:
        what = f" ({', '.join(changes)})" if changes else ""
        raise LinkRefused(
            "payload_changed",
            f"Item #{action.pk} changed since this email was sent{what}; open it in AgentOps to decide "
            "what it holds now.",
            changes=changes,
        )
    return link


def approval_link_open(*, token: str, now: datetime) -> ApprovalLink:
    """The link's row (with its user and action) if it may still decide; reads only, decides nothing."""
    claims = _claims(token, now)
    link = (
        ApprovalLink.objects.select_related("user", "action", "action__approver_group")
        .filter(nonce=claims.nonce)
        .first()
    )
    return _check(link, claims, now)


def approval_link_use(
    *, token: str, now: datetime, reason_code: str = "", comment: str = ""
) -> ProposedAction:
    """Take the link's decision, once: the link is checked again under a row lock and marked used in
    the same transaction as the decision (``action_approve`` / ``action_reject`` with channel
    ``email``: four-eyes, quorum and the decision-log entry as on the web). A refused decision
    (``DecisionError``) leaves the link unused."""
    claims = _claims(token, now)
    with transaction.atomic():
        link = (
            ApprovalLink.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(nonce=claims.nonce)
            .first()
        )
        link = _check(link, claims, now)
        # The conditional update is the claim: of two requests racing past the check, one wins.
        if not ApprovalLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=now):
            raise LinkRefused("used", "This link was used already; each link works once.")
        if link.decision == LinkDecision.APPROVE:
            return action_approve(
                action_id=link.action_id,
                user=link.user,
                seen_payload_sha256=link.payload_sha256,
                comment=comment,
                channel="email",
            )
        return action_reject(
            action_id=link.action_id,
            user=link.user,
            reason_code=reason_code,
            comment=comment,
            channel="email",
        )
