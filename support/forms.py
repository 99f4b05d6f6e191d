"""The support lead's forms on a ticket's page: the reply to send (or the bot's reply to approve,
edited) and the intent correction."""

from __future__ import annotations

import json
from typing import Any

from django import forms


class ReplyForm(forms.Form):
    """The reply to the customer. With ``action`` (the bot's reply waiting for approval) it approves
    that reply, with the edits made here, as the page showed it (``payload_sha256``); without, it
    proposes the text as the support lead's own reply."""

    body = forms.CharField(
        label="Reply to the customer",
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 8, "id": "reply_body"}),
        error_messages={"required": "Write the reply first: it is empty."},
    )
    comment = forms.CharField(
        label="Comment (optional)",
        required=False,
        max_length=1000,
        widget=forms.TextInput(attrs={"id": "reply_comment"}),
    )
    action = forms.IntegerField(required=False, widget=forms.HiddenInput)
    payload_sha256 = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args: Any, original: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The live diff (static/js/approvals.js) compares the text with what the page first showed.
        self.fields["body"].widget.attrs.update({"data-key": "body", "data-original": json.dumps(original)})


class IntentForm(forms.Form):
    """The ticket's right intent, one of the intent model's classes."""

    intent = forms.ChoiceField(
        label="The right intent", choices=(), widget=forms.Select(attrs={"id": "intent_choice"})
    )

    def __init__(self, *args: Any, intents: list[str], initial_intent: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["intent"]
        field.choices = [("", "Choose an intent…"), *((i, i) for i in intents)]  # type: ignore[attr-defined]
        field.initial = initial_intent
        field.error_messages["invalid_choice"] = "Choose one of the intents the model knows."
