"""The approval pages: the queue, one item's detail with its decisions, and the feedback page.

Views stay thin: reads through ``approvals.selectors``, decisions through ``approvals.services``.
A refused decision (already decided, four-eyes, an invalid edit) is shown as a message, never a 500.
Only members of an approver group use these pages; an item routed to a group is seen and decided by
that group's members only (items routed to no group by any approver).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from approvals import selectors, services
from approvals.changes import edit_changes, payload_diff_masked, payload_rows, proposed_changes
from approvals.choices import OUTBOUND_MESSAGE_KINDS, ActionStatus, DecisionOutcome, Domain, RiskLevel
from approvals.forms import DeferForm, PayloadEditForm, RejectForm
from approvals.models import ProposedAction
from approvals.scoping import actions_decidable
from approvals.subjects import Subject, panels_render, subject_of
from security import signin
from security.masking import PERSONAL_KEYS, mask_mapping, may_view_personal_data
from security.scoping import scoped_object_or_404
from security.selectors import user_access, user_signed_in
from security.views import confirm_password_url

QUEUE_PAGE_SIZE = 50
SLA_FILTERS = [("overdue", "Overdue"), ("1h", "Due within 1 h"), ("4h", "Due within 4 h")]


def approver_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in with a role that sees proposed actions (``security.roles``); a POST (a decision)
    also needs a role that decides something: auditors read, they do not decide."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        access = user_access(user=request.user)
        if not access.see_domains:
            raise PermissionDenied("Your role sees no proposed actions.")
        if request.method == "POST" and not access.decides_anything:
            raise PermissionDenied("Your role is read-only: it decides nothing.")
        return view(request, *args, **kwargs)

    return wrapped


def _action_or_404(request: HttpRequest, pk: int) -> ProposedAction:
    """The action if the user may see it (and, for a POST, decide it); else 404, the attempt recorded."""
    scoped = selectors.actions_for_detail(user=request.user)
    if request.method == "POST":
        scoped = actions_decidable(user=request.user, queryset=scoped)
    return scoped_object_or_404(request=request, scoped=scoped, pk=pk)


def _float(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0 <= number <= 1 else None


def _queue_filters(request: HttpRequest) -> dict[str, Any]:
    """The queue's filters from the query string; unknown or malformed values are ignored."""
    get = request.GET
    model = get.get("model", "")
    return {
        "domain": get.get("domain", "") if get.get("domain") in Domain.values else "",
        "risk": get.get("risk", "") if get.get("risk") in RiskLevel.values else "",
        "sla": get.get("sla", "") if get.get("sla") in selectors.SLA_WINDOWS else "",
        "min_confidence": _float(get.get("min_conf", "")),
        "max_confidence": _float(get.get("max_conf", "")),
        "matched_rule": get.get("rule", "")[:200],
        "model_version_id": int(model) if model.isdigit() else None,
    }


@require_GET
@approver_required
def queue(request: HttpRequest) -> HttpResponse:
    """The user's approval queue, most urgent first, with filters, counts, SLA badges and bulk approval."""
    filters = _queue_filters(request)
    now = timezone.now()
    facets = selectors.actions_queue_facets_cached(user=request.user, now=now)
    queue = selectors.actions_queue(user=request.user, now=now, **filters)
    paginator = Paginator(queue, QUEUE_PAGE_SIZE)
    # The facets have counted most filtered views already; SLA windows move with the clock, so a
    # view filtered on them is counted afresh.
    known = facets.count(**filters) if not filters["sla"] else None
    if known is not None:
        paginator.count = known
    page = paginator.get_page(request.GET.get("page"))
    page.object_list = selectors.actions_queue_slice(
        queue, offset=page.start_index() - 1 if paginator.count else 0, limit=QUEUE_PAGE_SIZE
    )
    for item in page.object_list:
        # What a row's Approve (or a bulk approval) approves: the payload as this page read it.
        item.seen_payload_sha256 = services.payload_sha256(item.payload)  # type: ignore[attr-defined]
    query = request.GET.copy()
    query.pop("page", None)
    counts = facets.counts
    return render(
        request,
        "approvals/queue.html",
        {
            "page": page,
            "filters": filters,
            "filtered": any(v not in ("", None) for v in filters.values()),
            "counts": counts,
            "domain_counts": [(v, label, counts.by_domain[v]) for v, label in Domain.choices],
            "risk_counts": [(v, label, counts.by_risk[v]) for v, label in RiskLevel.choices],
            "choices": facets.choices,
            "escalated_away": selectors.actions_escalated_from(user=request.user),
            "domains": Domain.choices,
            "risks": RiskLevel.choices,
            "sla_filters": SLA_FILTERS,
            "querystring": query.urlencode() + "&" if query else "",
            "here": request.get_full_path(),
        },
    )


def _record(action: ProposedAction) -> tuple[Subject | None, dict[str, Any]]:
    """The action's subject and its record as it is now, as field → value (``approvals.subjects``)."""
    subject = subject_of(action)
    if subject is None:
        return None, {}
    return subject, subject.fields(subject.record_of(action))


def _render_detail(
    request: HttpRequest,
    action: ProposedAction,
    *,
    edit_form: PayloadEditForm | None = None,
    reject_form: RejectForm | None = None,
    edit_preview: list[Any] | None = None,
    open_panel: str = "",
    changed_since_seen: dict[str, Any] | None = None,
    seen_payload_sha256: str = "",
    status: int = 200,
) -> HttpResponse:
    history = selectors.action_record_history(action=action)
    current = next((a for a in history if a.pk == action.pk), None)
    decisions = list(current.decisions.all()) if current else []
    final = next((d for d in reversed(decisions) if d.outcome != DecisionOutcome.DEFER), None)
    subject, record = _record(action)
    payload = action.payload
    if not may_view_personal_data(request.user):
        record, payload = mask_mapping(record), mask_mapping(payload)
        if changed_since_seen:
            changed_since_seen = payload_diff_masked(changed_since_seen)
    pending = action.status == ActionStatus.PENDING_APPROVAL
    return render(
        request,
        "approvals/detail.html",
        {
            "action": action,
            "pending": pending,
            "payload_rows": payload_rows(payload),
            # Posted back by the decide forms: an approval approves the payload this page shows.
            # A form shown again with the approver's input keeps the hash of what they first read.
            "payload_sha256": seen_payload_sha256 or services.payload_sha256(action.payload),
            "changed_since_seen": changed_since_seen,
            "changes": subject.changes(record, payload)
            if subject
            else proposed_changes(record={}, payload=payload),
            "record_kind": subject.title if subject else "",
            "record": sorted(record.items()),
            "panels": panels_render(action),
            "decisions": decisions,
            "approvals_so_far": sum(
                1 for d in decisions if d.outcome in (DecisionOutcome.APPROVE, DecisionOutcome.EDIT_APPROVE)
            ),
            "final_decision": final if not pending else None,
            "history": [a for a in history if a.pk != action.pk],
            "edit_form": edit_form or _edit_form(request, action),
            "reject_form": reject_form or RejectForm(),
            "defer_form": DeferForm(),
            "edit_preview": edit_preview,
            "open_panel": open_panel,
            "sla_state": _sla_state(action),
        },
        status=status,
    )


def _edit_form(request: HttpRequest, action: ProposedAction, data: Any = None) -> PayloadEditForm:
    """The edit form; without the personal-data permission the personal fields are left out (kept)."""
    hidden = frozenset() if may_view_personal_data(request.user) else frozenset(PERSONAL_KEYS)
    return PayloadEditForm(data, payload=action.payload, hidden_keys=hidden)


def _sla_state(action: ProposedAction) -> str:
    if action.sla_due_at is None:
        return "none"
    left = action.sla_due_at - timezone.now()
    if left.total_seconds() < 0:
        return "overdue"
    return "due_soon" if left < selectors.SLA_DUE_SOON else "ok"


@require_GET
@approver_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One item: what the agent proposes and why, the record now and the change, history, decisions."""
    return _render_detail(request, _action_or_404(request, pk))


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("approval-queue")


def _seen_payload_sha256(request: HttpRequest, pk: int) -> str:
    """The hash of the payload the approver was shown: the detail page's forms post it as
    ``payload_sha256``, the queue's rows (one form for the whole page) as ``payload_sha256_<id>``."""
    return request.POST.get("payload_sha256") or request.POST.get(f"payload_sha256_{pk}", "")


def _approved_message(action: ProposedAction) -> str:
    if action.status == ActionStatus.APPROVED:
        return f"Approved #{action.pk} ({action.get_kind_display()})."
    return (
        f"Your approval of #{action.pk} is recorded; it needs {action.required_approvals} approvals "
        "from different people before it runs."
    )


@require_POST
@approver_required
def approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve as proposed, or (from the edit form) approve with the approver's edits."""
    action = _action_or_404(request, pk)
    if signin.needs_confirmation(request, risk_level=action.risk_level):
        messages.info(
            request, "Approving a high-risk item needs your password again; then approve it once more."
        )
        return redirect(confirm_password_url(reverse("approval-detail", args=[action.pk])))
    edits: dict[str, Any] | None = None
    comment = request.POST.get("comment", "")
    if request.POST.get("edit"):
        form = _edit_form(request, action, request.POST)
        seen = _seen_payload_sha256(request, action.pk)
        if not form.is_valid():
            messages.error(request, "Some values could not be read; see the edit form.")
            return _render_detail(
                request, action, edit_form=form, open_panel="edit", seen_payload_sha256=seen, status=400
            )
        if "preview" in request.POST:
            preview = edit_changes(original=action.payload, edited=form.edited_payload())
            return _render_detail(
                request,
                action,
                edit_form=form,
                edit_preview=preview,
                open_panel="edit",
                seen_payload_sha256=seen,
            )
        edits = form.edits() or None
        comment = form.cleaned_data["comment"]
    try:
        action = services.action_approve(
            action_id=action.pk,
            user=user_signed_in(request.user),
            seen_payload_sha256=_seen_payload_sha256(request, action.pk),
            edits=edits,
            comment=comment,
        )
    except services.PayloadNotSeen as exc:
        # Someone edited it since this approver's page was drawn: show them what changed, with the
        # new content's hash in the forms, so approving again approves what they now see.
        messages.error(request, "Not approved: the payload changed since you opened it; review the changes.")
        action.refresh_from_db()
        return _render_detail(request, action, changed_since_seen=exc.changes or {}, status=409)
    except services.DecisionError as exc:
        messages.error(request, f"Not approved: {exc.message}")
        if exc.code == "invalid_edit":
            form = _edit_form(request, action, request.POST)
            form.is_valid()
            return _render_detail(
                request,
                action,
                edit_form=form,
                open_panel="edit",
                seen_payload_sha256=_seen_payload_sha256(request, action.pk),
                status=400,
            )
        return redirect("approval-detail", pk=action.pk)
    messages.success(request, _approved_message(action) + (" With your edits." if edits else ""))
    return HttpResponseRedirect(_next(request))


@require_POST
@approver_required
def reject(request: HttpRequest, pk: int) -> HttpResponse:
    """Reject with a reason code and an optional comment."""
    action = _action_or_404(request, pk)
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, "Not rejected: " + " ".join(str(e) for errors in form.errors.values() for e in errors)
        )
        return _render_detail(request, action, reject_form=form, open_panel="reject", status=400)
    try:
        services.action_reject(
            action_id=action.pk,
            user=user_signed_in(request.user),
            reason_code=form.cleaned_data["reason_code"],
            comment=form.cleaned_data["comment"],
        )
    except services.DecisionError as exc:
        messages.error(request, f"Not rejected: {exc.message}")
        return redirect("approval-detail", pk=action.pk)
    messages.success(request, f"Rejected #{action.pk} ({action.get_kind_display()}).")
    return HttpResponseRedirect(_next(request))


@require_POST
@approver_required
def defer(request: HttpRequest, pk: int) -> HttpResponse:
    """Put the item aside: it stays in the queue, marked as deferred by this user."""
    action = _action_or_404(request, pk)
    form = DeferForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    try:
        services.action_defer(action_id=action.pk, user=user_signed_in(request.user), comment=comment)
    except services.DecisionError as exc:
        messages.error(request, f"Not deferred: {exc.message}")
        return redirect("approval-detail", pk=action.pk)
    messages.info(request, f"Deferred #{action.pk}; it stays in the queue.")
    return HttpResponseRedirect(_next(request))


@require_POST
@approver_required
def bulk_approve(request: HttpRequest) -> HttpResponse:
    """Approve the ticked low-risk items; report what happened to each. The first POST shows what
    would go out (each item, and how many messages people outside would receive) for a second,
    confirming POST (``confirm=1``): "All low-risk on this page" once approved 49 items in a click."""
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()]
    if not ids:
        messages.error(request, "Tick the low-risk items to approve first.")
        return HttpResponseRedirect(_next(request))
    seen = {pk: request.POST.get(f"payload_sha256_{pk}", "") for pk in ids}
    if request.POST.get("confirm") != "1":
        return _bulk_confirm(request, ids, seen)
    try:
        outcomes = services.actions_bulk_approve(
            action_ids=ids, user=user_signed_in(request.user), seen_payload_sha256=seen
        )
    except services.DecisionError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(_next(request))
    approved = [o for o in outcomes if o.approved]
    refused = [o for o in outcomes if not o.approved]
    summary = f"Approved {len(approved)}"
    if refused:
        summary += f", {len(refused)} not approved"
    if approved:
        messages.success(request, summary + ".")
    else:
        messages.error(request, summary + ".")
    for outcome in refused:
        messages.warning(request, outcome.message)
    return HttpResponseRedirect(_next(request))


def _bulk_confirm(request: HttpRequest, ids: list[int], seen: dict[int, str]) -> HttpResponse:
    """The confirmation of a bulk approval: the ticked items the user may approve, and what goes out."""
    items = selectors.actions_for_bulk_confirmation(user=request.user, action_ids=ids)
    if not items:
        messages.error(request, "None of the ticked items is one you may approve.")
        return HttpResponseRedirect(_next(request))
    outbound = [a for a in items if a.kind in OUTBOUND_MESSAGE_KINDS]
    kinds: dict[str, int] = {}
    for item in items:
        kinds[item.get_kind_display()] = kinds.get(item.get_kind_display(), 0) + 1
    return render(
        request,
        "approvals/bulk_confirm.html",
        {
            "items": items,
            "seen": [(a.pk, seen.get(a.pk, "")) for a in items],
            "outbound": outbound,
            "kinds": sorted(kinds.items()),
            "left_out": len(set(ids)) - len(items),
            "next": _next(request),
        },
    )


@require_GET
@approver_required
def feedback(request: HttpRequest) -> HttpResponse:
    """Override rate and top rejection reasons per rule and model version."""
    rows = selectors.feedback_by_rule_and_model()
    totals = {
        "decisions": sum(r.decisions for r in rows),
        "overrides": sum(r.edited + r.rejected for r in rows),
        "bulk": selectors.bulk_approvals_count(),
    }
    return render(request, "approvals/feedback.html", {"rows": rows, "totals": totals})
