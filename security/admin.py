from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from core.admin_readonly import LogAdmin
from security.choices import Scope
from security.forms import LockingAdminAuthenticationForm
from security.models import AccessDenial, ApiKey
from security.services import ApiKeyError, IssuedKey, apikey_create, apikey_revoke, apikey_rotate

admin.site.login_form = LockingAdminAuthenticationForm


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    expires_at = forms.DateTimeField(required=False, help_text="Empty: API_KEY_DEFAULT_DAYS from now.")

    class Meta:
        model = ApiKey
        fields = ["name", "user", "scopes", "expires_at", "rate_per_minute"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are issued here (the plain key shown once), rotated with an overlap, or revoked at once."""

    list_display = [
        "name",
        "prefix",
        "user",
        "scope_list",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "state",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    actions = ["rotate_keys", "revoke_keys"]
    # Once issued, only the name changes here: scopes, expiry and rate change by rotating or by
    # issuing a new key, so every change of what a key may do is in the decision log.
    readonly_fields = [
        "prefix",
        "user",
        "scopes",
        "expires_at",
        "rate_per_minute",
        "rotated_from",
        "last_used_at",
        "revoked_at",
        "created_at",
        "updated_at",
    ]
    fields = [
        "name",
        "user",
        "prefix",
        "scopes",
        "expires_at",
        "rate_per_minute",
        "rotated_from",
        "revoked_at",
        "last_used_at",
        "created_at",
    ]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
            kwargs["fields"] = ApiKeyCreateForm.Meta.fields
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ApiKeyCreateForm.Meta.fields if obj is None else self.fields

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    @admin.display(description="state")
    def state(self, obj: ApiKey) -> str:
        if obj.revoked_at:
            return "revoked"
        return "active" if obj.expires_at > timezone.now() else "expired"

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = apikey_create(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.cleaned_data["expires_at"],
            rate_per_minute=form.cleaned_data["rate_per_minute"],
            actor=f"user:{request.user.get_username()}",
        )
        obj.pk = issued.key.pk
        obj.refresh_from_db()
        _show_once(request, issued)

    @admin.action(
        description="Rotate: issue a successor; the old key works API_KEY_ROTATION_OVERLAP_HOURS more"
    )
    def rotate_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            try:
                issued = apikey_rotate(
                    key_id=key.pk,
                    overlap=timedelta(hours=settings.API_KEY_ROTATION_OVERLAP_HOURS),
                    actor=f"user:{request.user.get_username()}",
                )
            except ApiKeyError as exc:
                messages.error(request, f"{key}: {exc}")
                continue
            _show_once(request, issued, f"Successor of {key.name}")

    @admin.action(description="Revoke now")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            apikey_revoke(key_id=key.pk, actor=f"user:{request.user.get_username()}")
        messages.success(request, f"Revoked {queryset.count()} key(s).")


def _show_once(request: HttpRequest, issued: IssuedKey, label: str = "New key") -> None:
    messages.warning(
        request,
        format_html(
            "{}: <code>{}</code> — copy it now; it is shown only once and stored only as a hash. "
            "Its callback signing secret (verify the decision callbacks of what this key proposes "
            "with it): <code>{}</code> — also shown only once.",
            label,
            issued.plain,
            issued.callback_secret,
        ),
    )


@admin.register(AccessDenial)
class AccessDenialAdmin(LogAdmin):
    """Who asked for an item outside their scope (answered 404): read-only, like a log."""

    list_display = ["created_at", "username", "method", "path", "object_type", "object_id", "reason"]
    list_filter = ["object_type", "method"]
    search_fields = ["username", "=object_id", "path"]
    date_hierarchy = "created_at"
    show_full_result_count = False
