from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from approvals.admin_mixins import ChangeControlledAdmin
from privacy.choices import RequestKind, RequestStatus
from privacy.models import DataSubjectRequest, RetentionPolicy
from privacy.services import access_export, data_subject_request_create, erasure_execute


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(ChangeControlledAdmin, SimpleHistoryAdmin):
    list_display = ("kind", "days", "action", "is_active", "updated_at")
    list_editable = ()
    list_filter = ("action", "is_active")


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(admin.ModelAdmin):
    """Ops admins open a request (the address is held only until it completes) and carry it out with
    an action: an erasure after a confirmation page, an access export as a JSON download."""

    list_display = ("id", "kind", "status", "requested_by", "created_at", "completed_at", "completed_by")
    list_filter = ("kind", "status")
    readonly_fields = ("status", "subject_key", "requested_by", "completed_by", "completed_at", "result")
    actions = ("execute_erasure", "download_access_export")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("kind", "subject_email", "notes")
        return (
            "kind",
            "status",
            "subject_key",
            "notes",
            "requested_by",
            "completed_by",
            "completed_at",
            "result",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return self.get_fields(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: DataSubjectRequest, form: Any, change: bool) -> None:
        if change:
            return  # nothing of a request is edited by hand
        created = data_subject_request_create(
            kind=obj.kind, email=obj.subject_email, user=request.user, notes=obj.notes
        )
        obj.pk, obj.subject_key, obj.status = created.pk, created.subject_key, created.status

    @admin.action(description="Erase the person of the selected erasure requests", permissions=["change"])
    def execute_erasure(self, request: HttpRequest, queryset: QuerySet[DataSubjectRequest]) -> Any:
        pending = list(queryset.filter(kind=RequestKind.ERASURE, status=RequestStatus.PENDING))
        if not pending:
            self.message_user(request, "Select pending erasure requests.", messages.WARNING)
            return None
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(
                request,
                "admin/privacy/confirm_erasure.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Erase these people?",
                    "requests": pending,
                    "opts": self.model._meta,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        for item in pending:
            done = erasure_execute(request=item, user=request.user)
            self.message_user(
                request,
                f"Request #{done.pk}: erased {done.result.get('leads', 0)} leads and "
                f"{done.result.get('tickets', 0)} tickets; the address is suppressed.",
                messages.SUCCESS,
            )
        return None

    @admin.action(
        description="Export what is held (JSON download) for one access request", permissions=["change"]
    )
    def download_access_export(self, request: HttpRequest, queryset: QuerySet[DataSubjectRequest]) -> Any:
        pending = list(queryset.filter(kind=RequestKind.ACCESS, status=RequestStatus.PENDING))
        if len(pending) != 1:
            self.message_user(request, "Select exactly one pending access request.", messages.WARNING)
            return None
        document = access_export(request=pending[0], user=request.user)
        response = HttpResponse(json.dumps(document, indent=2, default=str), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="access-request-{pending[0].pk}.json"'
        return response
