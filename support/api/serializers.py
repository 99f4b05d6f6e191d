"""The support API's request and answer shapes (OpenAPI through drf-spectacular)."""

from __future__ import annotations

from rest_framework import serializers

from sales.choices import SourceSystem


class SurveyAnswerSerializer(serializers.Serializer):
    """One survey answer for a ticket, named by the helpdesk's id of it."""

    # A field named "source" shadows ``Field.source`` for the type checker only; DRF collects it.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=SourceSystem.choices, help_text="Where the ticket lives, e.g. zendesk."
    )
    external_id = serializers.CharField(max_length=100, help_text="The ticket's id in that system.")
    survey_id = serializers.CharField(
        max_length=100, help_text="The survey tool's id of the survey sent for this ticket (idempotency key)."
    )
    score = serializers.IntegerField(
        min_value=1, max_value=5, help_text="1 (very unhappy) to 5 (very happy)."
    )
    responded_at = serializers.DateTimeField(
        help_text="When the customer answered (ISO 8601 with its offset)."
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class SurveyRecordedSerializer(serializers.Serializer):
    """The answer as held for the ticket."""

    id = serializers.IntegerField()
    ticket = serializers.IntegerField(help_text="Our ticket id.")
    source = serializers.CharField()  # type: ignore[assignment]
    external_id = serializers.CharField()
    survey_id = serializers.CharField()
    score = serializers.IntegerField()
    comment = serializers.CharField()
    responded_at = serializers.DateTimeField()
    changed = serializers.BooleanField(help_text="False when this request changed nothing (a repeat).")


class SurveyErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="invalid, not_found or conflict.")
    field = serializers.CharField(help_text="The field at fault.")
    detail = serializers.CharField(help_text="The field and the reason, e.g. `score: …`.")
