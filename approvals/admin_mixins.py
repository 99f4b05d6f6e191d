"""The admin side of change control: saving a controlled configuration proposes the change
(``approvals.change_control``; operations decides what is controlled)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import flatten_fieldsets
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from approvals.change_control import ChangeRefused, config_change_propose, config_controlled, field_values

RISK_NOTE_HELP = (
    "This configuration is under change control: your change takes effect only after a second person "
    "approves it in the approval queue. Say what could go wrong and how you would notice."
)


class ChangeControlledAdmin:
    """Mixin for a ``ModelAdmin`` (put it first): while its model is under change control, the form
    asks for a risk note and saving proposes a ``config_change`` action instead of saving."""

    def _controlled(self) -> bool:
        return config_controlled(self.model._meta.label)  # type: ignore[attr-defined]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if not self._controlled():
            return super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        fields = kwargs.pop("fields", None)
        if fields is None:
            fields = flatten_fieldsets(self.get_fieldsets(request, obj))
        # risk_note is a form field of ours, not a model field: keep it out of the model form's fields.
        fields = [f for f in fields if f != "risk_note"]
        base = super().get_form(request, obj, change=change, fields=fields, **kwargs)  # type: ignore[misc]
        return type(
            "ChangeControlledForm",
            (base,),
            {
                "risk_note": forms.CharField(
                    widget=forms.Textarea(attrs={"rows": 3}), help_text=RISK_NOTE_HELP
                )
            },
        )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_fields(request, obj))  # type: ignore[misc]
        if self._controlled() and "risk_note" not in fields:
            fields.append("risk_note")
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)  # type: ignore[misc]
        if self._controlled() and not any("risk_note" in (opts.get("fields") or ()) for _, opts in fieldsets):
            fieldsets = [*fieldsets, ("Change control", {"fields": ["risk_note"]})]
        return fieldsets

    def save_model(self, request: HttpRequest, obj: models.Model, form: Any, change: bool) -> None:
        if not self._controlled():
            super().save_model(request, obj, form, change)  # type: ignore[misc]
            return
        names = [
            n for n in form.changed_data
            if n != "risk_note" and not obj._meta.get_field(n).many_to_many
        ]  # fmt: skip
        original = type(obj)._default_manager.get(pk=obj.pk) if change else None
        before = field_values(original, names) if original is not None else dict.fromkeys(names)
        try:
            action = config_change_propose(
                model_label=obj._meta.label,
                object_id=obj.pk if change else None,
                before=before,
                after=field_values(obj, names),
                risk_note=form.cleaned_data.get("risk_note", ""),
                user=request.user,
                object_repr=str(original or obj),
            )
        except ChangeRefused as exc:
            request._change_refused = str(exc)  # type: ignore[attr-defined]
            return
        request._change_proposed = action  # type: ignore[attr-defined]

    def _proposal(self, request: HttpRequest) -> HttpResponse | None:
        if getattr(request, "_change_refused", None):
            self.message_user(request, f"Nothing proposed: {request._change_refused}", messages.WARNING)  # type: ignore[attr-defined]
        elif (action := getattr(request, "_change_proposed", None)) is not None:
            self.message_user(  # type: ignore[attr-defined]
                request,
                f"Change proposed as #{action.pk}: it takes effect when a second person approves it.",
                messages.SUCCESS,
            )
        else:
            return None
        opts = self.model._meta  # type: ignore[attr-defined]
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if self._held(request):
            return
        super().save_related(request, form, formsets, change)  # type: ignore[misc]

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if self._held(request):
            return None
        return super().log_addition(request, obj, message)  # type: ignore[misc]

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if self._held(request):
            return None
        return super().log_change(request, obj, message)  # type: ignore[misc]

    @staticmethod
    def _held(request: HttpRequest) -> bool:
        return bool(getattr(request, "_change_proposed", None) or getattr(request, "_change_refused", None))

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> HttpResponse:
        return self._proposal(request) or super().response_add(request, obj, post_url_continue)  # type: ignore[misc]

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        return self._proposal(request) or super().response_change(request, obj)  # type: ignore[misc]
