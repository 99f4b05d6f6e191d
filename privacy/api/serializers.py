from __future__ import annotations

from rest_framework import serializers

from consent.choices import Channel, ConsentStatus, LawfulBasis
from consent.models import ConsentRecord


class ConsentChangeSerializer(serializers.Serializer):
    """A consent statement for one lead and channel, as an integration sends it."""

    lead = serializers.IntegerField(min_value=1)
    channel = serializers.ChoiceField(choices=Channel.choices)
    status = serializers.ChoiceField(choices=ConsentStatus.choices)
    lawful_basis = serializers.ChoiceField(choices=LawfulBasis.choices, default=LawfulBasis.CONSENT)
    source = serializers.CharField(max_length=60, default="api")  # type: ignore[assignment]
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    evidence = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text=(
            "Required for a grant that lifts a withdrawal (an opt-out, or this channel withdrawn): a "
            "reference to what the person signed or said, where and when. No personal data."
        ),
    )


class ConsentRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsentRecord
        fields = (
            "id",
            "channel",
            "status",
            "lawful_basis",
            "source",
            "recorded_at",
            "recorded_by",
            "note",
            "evidence",
        )
        read_only_fields = fields


class ConsentStateSerializer(serializers.Serializer):
    lead = serializers.IntegerField()
    consent_state = serializers.CharField(
        help_text="The lead's overall state (opted_out covers every channel)."
    )
    channels = serializers.DictField(
        child=serializers.CharField(),
        help_text="What may be done per channel: granted, withdrawn, opted_out, unknown.",
    )
    history = ConsentRecordSerializer(many=True)
