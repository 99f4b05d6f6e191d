"""Forms of the approval pages. They only parse and check input; decisions go through the services."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django import forms

from approvals.choices import RejectionReason
from approvals.services.decisions import OTHER_NEEDS_A_COMMENT

PAYLOAD_PREFIX = "p__"
# String fields holding message copy get a text area rather than a one-line input.
LONG_TEXT_FIELDS = frozenset({"body", "message", "reply", "text", "description", "summary", "note", "reason"})
LONG_TEXT_LENGTH = 80


class _Text(forms.CharField):
    """Text exactly as typed, except that browsers' CRLF line ends become LF again, so an untouched
    message compares equal to the original."""

    def to_python(self, value: Any) -> str:
        text = super().to_python(value)
        return (text or "").replace("\r\n", "\n")


def _field_for(key: str, value: Any) -> forms.Field:
    attrs = {"data-key": key, "data-original": json.dumps(value), "autocomplete": "off"}
    if isinstance(value, bool):
        attrs["data-type"] = "bool"
        return forms.BooleanField(required=False, label=key, widget=forms.CheckboxInput(attrs=attrs))
    if isinstance(value, int):
        attrs["data-type"] = "number"
        return forms.IntegerField(label=key, widget=forms.NumberInput(attrs=attrs))
    if isinstance(value, float):
        attrs["data-type"] = "number"
        return forms.FloatField(label=key, widget=forms.NumberInput(attrs={**attrs, "step": "any"}))
    if isinstance(value, dict | list):
        attrs["data-type"] = "json"
        return forms.JSONField(label=key, widget=forms.Textarea(attrs={**attrs, "rows": 4}))
    attrs["data-type"] = "text" if value is not None else "nullable-text"
    long = key in LONG_TEXT_FIELDS or "\n" in str(value or "") or len(str(value or "")) > LONG_TEXT_LENGTH
    widget = forms.Textarea(attrs={**attrs, "rows": 6}) if long else forms.TextInput(attrs=attrs)
    return _Text(required=False, strip=False, label=key, widget=widget)


class PayloadEditForm(forms.Form):
    """One input per payload field, typed like the original value, and an optional comment.

    ``edits()`` returns only the fields that changed; whether the change is allowed (same fields,
    same types, the kind's schema) is the approve service's call, not the form's.
    """

    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(
        self, *args: Any, payload: Mapping[str, Any], hidden_keys: frozenset[str] = frozenset(), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.original = dict(payload)
        for key, value in self.original.items():
            if key in hidden_keys:
                continue  # personal data the approver may not see: not shown, so not editable
            self.fields[PAYLOAD_PREFIX + key] = _field_for(key, value)
            self.initial.setdefault(PAYLOAD_PREFIX + key, value)

    def payload_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(PAYLOAD_PREFIX)]

    def edited_payload(self) -> dict[str, Any]:
        """The payload with the form's values (call after ``is_valid()``)."""
        edited = dict(self.original)
        for key, before in self.original.items():
            if PAYLOAD_PREFIX + key not in self.fields:
                continue
            value = self.cleaned_data.get(PAYLOAD_PREFIX + key)
            if before is None and value == "":
                value = None  # an empty optional field stays empty
            edited[key] = value
        return edited

    def edits(self) -> dict[str, Any]:
        edited = self.edited_payload()
        return {key: value for key, value in edited.items() if value != self.original.get(key)}


class RejectForm(forms.Form):
    reason_code = forms.ChoiceField(
        choices=[("", "Choose a reason…"), *RejectionReason.choices], label="Reason"
    )
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Its own ids: the edit form on the same page has a comment too (two "id_comment"s left
        # this one without a label).
        kwargs.setdefault("auto_id", "reject_%s")
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("reason_code") == RejectionReason.OTHER and not cleaned.get("comment", "").strip():
            self.add_error("comment", OTHER_NEEDS_A_COMMENT)
        return cleaned


class DeferForm(forms.Form):
    comment = forms.CharField(required=False, max_length=1000)
