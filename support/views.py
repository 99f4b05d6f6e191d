from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from approvals import services as approvals_services
from approvals.choices import ActionKind, ActionStatus
from approvals.models import ProposedAction
from sales.choices import SourceSystem
from scoring.intent import what_if
from security import signin
from security.masking import mask_name, mask_text
from security.roles import SUPPORT
from security.selectors import user_access, user_sees_personal_data, user_signed_in
from security.views import confirm_password_url
from support.choices import TicketState
from support.forms import IntentForm, ReplyForm
from support.metrics import METRICS
from support.selectors import (
    TicketWorkspace,
    action_decidable_by,
    intent_policies,
    intent_version_holdout,
    support_metrics_page,
    ticket_workspace,
    tickets_workspace,
    tickets_workspace_facets,
)
from support.workspace_services import WorkspaceError, intent_correction_record, ticket_reply_propose


class ThresholdWhatIfForm(forms.Form):
    intent = forms.ChoiceField(choices=())
    threshold = forms.FloatField(min_value=0.0, max_value=1.0)

    def __init__(self, *args: object, intents: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["intent"].choices = [(i, i) for i in intents]  # type: ignore[attr-defined]


@login_required
def threshold_whatif(request: HttpRequest) -> HttpResponse:
    """For a proposed threshold of one intent: what coverage and precision it would have had on the
    labelled hold-out of the champion intent model (else the newest), from its stored predictions;
    nothing is retrained."""
    if not request.user.is_staff:
        raise PermissionDenied("Staff only.")
    policies = intent_policies()
    version = intent_version_holdout()
    form = ThresholdWhatIfForm(request.GET or None, intents=[p.intent for p in policies])
    current = {p.intent: p.threshold for p in policies}
    result = baseline = None
    if version is not None and form.is_valid():
        holdout = version.reference.get("holdout", {})
        intent = form.cleaned_data["intent"]
        common = {
            "labels": holdout.get("labels", []),
            "predicted": holdout.get("predicted", []),
            "confidence": holdout.get("confidence", []),
            "intent": intent,
            "default": float(version.preprocessing.get("default_threshold", 0.0)),
            "thresholds": current,
        }
        result = what_if(threshold=form.cleaned_data["threshold"], **common)
        if intent in current:
            baseline = what_if(threshold=current[intent], **common)
    return render(
        request,
        "support/threshold_whatif.html",
        {"form": form, "version": version, "result": result, "baseline": baseline, "policies": policies},
    )


PERIODS = (7, 30, 90)


@login_required
def support_metrics(request: HttpRequest) -> HttpResponse:
    """Containment, FCR, CSAT, escalation rate and handle times over a period, by intent and by day,
    against the pre-automation baseline (dates in the admin: Support › Support settings)."""
    if not request.user.has_perm("support.view_ticket"):
        raise PermissionDenied("Support leads and staff only.")
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    days = days if days in PERIODS else 30
    page = support_metrics_page(days=days)
    headers = [label for _, label, _, _, _ in METRICS]
    return render(
        request, "support/metrics.html", {"page": page, "days": days, "periods": PERIODS, "headers": headers}
    )


# --- The support lead's workspace --------------------------------------------------------------------

TICKETS_PAGE_SIZE = 50


def _acts_on_tickets(request: HttpRequest) -> bool:
    """Whether the user's role acts on support work (replies, corrections), not only reads it."""
    access = user_access(user=request.user)
    return access.superuser or SUPPORT in access.decide_domains


def tickets_reader_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in with a role that reads tickets (``security.roles``: support leads, Ops admins,
    auditors); a POST also needs a role that acts on support work (auditors read only)."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not user_access(user=request.user).tickets:
            raise PermissionDenied("Your role reads no tickets.")
        if request.method == "POST" and not _acts_on_tickets(request):
            raise PermissionDenied("Your role reads tickets; it does not act on them.")
        return view(request, *args, **kwargs)

    return wrapped


def _ticket_filters(request: HttpRequest) -> dict[str, str]:
    """The list's filters from the query string; unknown values are ignored."""
    get = request.GET
    return {
        "state": get.get("state", "") if get.get("state") in TicketState.values else "",
        "intent": get.get("intent", "")[:80],
        "source": get.get("source", "") if get.get("source") in SourceSystem.values else "",
        "search": " ".join(get.get("q", "").split())[:200],
    }


@require_GET
@tickets_reader_required
def ticket_list(request: HttpRequest) -> HttpResponse:
    """The support tickets by where they stand with the bot (answered, waiting for approval, handed
    off, reopened), newest first, with counts, filters and a search on the subject."""
    filters = _ticket_filters(request)
    facets = tickets_workspace_facets(user=request.user)
    paginator = Paginator(tickets_workspace(user=request.user, **filters), TICKETS_PAGE_SIZE)
    if not (filters["intent"] or filters["source"] or filters["search"]):
        # The facets have counted these already.
        paginator.count = facets.by_state[filters["state"]] if filters["state"] else facets.total
    page = paginator.get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    for ticket in page.object_list:
        ticket.state_label = TicketState(ticket.state).label  # type: ignore[attr-defined]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "support/tickets.html",
        {
            "page": page,
            "filters": filters,
            "filtered": any(filters.values()),
            "facets": facets,
            "state_counts": [(v, label, facets.by_state[v]) for v, label in TicketState.choices],
            "acts": _acts_on_tickets(request),
            "sources": [(v, label) for v, label in SourceSystem.choices if v in facets.sources],
            "querystring": query.urlencode() + "&" if query else "",
        },
    )


def _workspace_or_404(request: HttpRequest, pk: int) -> TicketWorkspace:
    workspace = ticket_workspace(user=request.user, ticket_id=pk)
    if workspace is None:
        raise Http404("No such ticket.")
    return workspace


def _words(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The words that drove the prediction, with bar widths (percent of the strongest)."""
    words = [(str(w), float(v)) for w, v in summary.get("why_words") or []]
    strongest = max((abs(v) for _, v in words), default=0.0) or 1.0
    return [{"word": w, "value": v, "width": round(abs(v) / strongest * 100)} for w, v in words]


def _render_ticket(
    request: HttpRequest,
    workspace: TicketWorkspace,
    *,
    reply_form: ReplyForm | None = None,
    intent_form: IntentForm | None = None,
    open_panel: str = "",
    status: int = 200,
) -> HttpResponse:
    ticket = workspace.ticket
    run = getattr(ticket, "bot_run", None) if hasattr(ticket, "bot_run") else None
    summary: dict[str, Any] = dict(run.summary) if run is not None else {}
    handoff = next((a for a in workspace.actions if a.kind == ActionKind.HANDOFF_TO_HUMAN), None)
    handoff_note = str(handoff.payload.get("summary") or "") if handoff else ""
    diagnostics = {str(k): str(v) for k, v in ((ticket.attributes or {}).get("diagnostics") or {}).items()}
    sees_personal = user_sees_personal_data(user=request.user)
    if not sees_personal:
        # The customer's own words: their message, what the bot read from them (a card's last
        # digits), and the handoff note that quotes them.
        summary["customer_asked"] = mask_text(str(summary.get("customer_asked") or ""))
        summary["diagnostics"] = {}
        diagnostics = {k: mask_text(v) for k, v in diagnostics.items()}
        handoff_note = mask_text(handoff_note)
    replies = [a for a in workspace.actions if a.kind == ActionKind.POST_PUBLIC_REPLY]
    pending = next((a for a in replies if a.status == ActionStatus.PENDING_APPROVAL), None)
    acts = _acts_on_tickets(request)
    may_approve = (
        pending is not None
        and acts
        and action_decidable_by(user=request.user, action=pending)
        and pending.proposed_by_user_id != request.user.pk
    )
    original = str(pending.payload.get("body", "")) if pending else str(summary.get("suggested_reply") or "")
    if reply_form is None:
        reply_form = ReplyForm(
            initial={
                "body": original,
                "action": pending.pk if may_approve and pending else None,
                "payload_sha256": approvals_services.payload_sha256(pending.payload) if pending else "",
            },
            original=original,
        )
    else:  # shown again with the user's text: the diff is still against what the page first showed
        reply_form.fields["body"].widget.attrs["data-original"] = json.dumps(original)
    return render(
        request,
        "support/ticket.html",
        {
            "ticket": ticket,
            "state_label": TicketState(ticket.state).label,  # type: ignore[attr-defined]
            "body": ticket.body if sees_personal else mask_text(ticket.body),
            "requester": ticket.requester_name if sees_personal else mask_name(ticket.requester_name),
            "run": run,
            "summary": summary,
            "words": _words(summary),
            "diagnostics": sorted(diagnostics.items()),
            "replies": sorted(replies, key=lambda a: (a.created_at, a.pk)),
            "handoff": handoff,
            "handoff_note": handoff_note,
            "actions": workspace.actions,
            "pending": pending,
            "may_approve": may_approve,
            "own_pending": pending is not None and pending.proposed_by_user_id == request.user.pk,
            "acts": acts,
            "reply_form": reply_form,
            "intent_form": intent_form
            or IntentForm(
                intents=workspace.intents, initial_intent=ticket.intent_label or ticket.predicted_intent
            ),
            "corrections": workspace.corrections,
            "open_panel": open_panel,
        },
        status=status,
    )


@require_GET
@tickets_reader_required
def ticket_page(request: HttpRequest, pk: int) -> HttpResponse:
    """One ticket: the conversation as stored, the bot's reasoning, the suggested reply to edit and
    send through approval, and the intent correction."""
    return _render_ticket(request, _workspace_or_404(request, pk))


def _reply_action(request: HttpRequest, workspace: TicketWorkspace, action_id: int) -> ProposedAction:
    """The ticket's reply ``action_id`` if the user may see and decide it; else 404."""
    action = next(
        (a for a in workspace.actions if a.pk == action_id and a.kind == ActionKind.POST_PUBLIC_REPLY), None
    )
    if action is None or not action_decidable_by(user=request.user, action=action):
        raise Http404("No such reply to decide.")
    return action


@require_POST
@tickets_reader_required
def ticket_reply(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a reply through the approval path: approve the bot's waiting reply with the edits made
    here (the payload hash the page showed), or propose the support lead's own reply."""
    workspace = _workspace_or_404(request, pk)
    here = reverse("support-ticket", args=[pk])
    form = ReplyForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, "Not sent: " + " ".join(str(e) for errors in form.errors.values() for e in errors)
        )
        return _render_ticket(request, workspace, reply_form=form, open_panel="edit", status=400)
    user = user_signed_in(request.user)
    body, comment = form.cleaned_data["body"], form.cleaned_data["comment"]
    if form.cleaned_data["action"]:
        action = _reply_action(request, workspace, form.cleaned_data["action"])
        if signin.needs_confirmation(request, risk_level=action.risk_level):
            messages.info(
                request, "Approving a high-risk reply needs your password again; then approve it once more."
            )
            return redirect(confirm_password_url(here))
        edits = {"body": body} if body != action.payload.get("body") else None
        try:
            action = approvals_services.action_approve(
                action_id=action.pk,
                user=user,
                seen_payload_sha256=form.cleaned_data["payload_sha256"],
                edits=edits,
                comment=comment,
            )
        except approvals_services.PayloadNotSeen:
            messages.error(
                request, "Not approved: the reply changed since you opened it; read it again below."
            )
            return redirect(here)
        except approvals_services.DecisionError as exc:
            messages.error(request, f"Not approved: {exc.message}")
            if exc.code == "invalid_edit":
                form.add_error("body", exc.message)
                return _render_ticket(request, workspace, reply_form=form, open_panel="edit", status=400)
            return redirect(here)
        done = "Approved" if action.status == ActionStatus.APPROVED else "Your approval is recorded for"
        messages.success(
            request,
            f"{done} reply #{action.pk}{' with your edits' if edits else ''}"
            + (
                "; it goes out to the customer shortly."
                if action.status == ActionStatus.APPROVED
                else f"; it needs {action.required_approvals} approvals from different people."
            ),
        )
        return redirect(here)
    try:
        action = ticket_reply_propose(ticket_id=workspace.ticket.pk, user=user, body=body)
    except WorkspaceError as exc:
        messages.error(request, f"Not sent: {exc.message}")
        form.add_error("body", exc.message.removeprefix("body: "))
        return _render_ticket(request, workspace, reply_form=form, open_panel="edit", status=400)
    if action.status == ActionStatus.APPROVED:
        messages.success(
            request, f"Reply #{action.pk} approved by the policy; it goes out to the customer shortly."
        )
    elif action.status == ActionStatus.PENDING_APPROVAL:
        messages.success(
            request,
            f"Reply #{action.pk} is waiting for approval: you wrote it, so someone else approves it "
            f"({action.approver_group.name if action.approver_group else 'any support approver'}).",
        )
    else:
        messages.error(
            request,
            f"Reply #{action.pk} is {action.get_status_display().lower()}: {'; '.join(action.policy_reasons) or 'by the policy'}.",
        )
    return redirect(here)


@require_POST
@tickets_reader_required
def ticket_intent(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct the ticket's intent: a labelled example for the next intent training run."""
    workspace = _workspace_or_404(request, pk)
    form = IntentForm(request.POST, intents=workspace.intents)
    if not form.is_valid():
        messages.error(request, "Not corrected: " + " ".join(str(e) for e in form.errors.get("intent", [])))
        return _render_ticket(request, workspace, intent_form=form, open_panel="intent", status=400)
    try:
        correction = intent_correction_record(
            ticket_id=workspace.ticket.pk,
            user=user_signed_in(request.user),
            intent=form.cleaned_data["intent"],
        )
    except WorkspaceError as exc:
        messages.error(request, f"Not corrected: {exc.message}")
        form.add_error("intent", exc.message.removeprefix("intent: "))
        return _render_ticket(request, workspace, intent_form=form, open_panel="intent", status=400)
    said = "Confirmed" if correction.corrected == correction.predicted else "Corrected"
    messages.success(
        request,
        f"{said} the intent: {correction.corrected}. The next intent training run learns it from this ticket.",
    )
    return redirect("support-ticket", pk=pk)
