from __future__ import annotations

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from approvals.choices import RejectionReason
from approvals.models import ProposedAction
from sales.models import Lead
from scoring.models import ModelVersion
from support.models import Ticket


class LeadSerializer(serializers.ModelSerializer):
    owner: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    account: serializers.StringRelatedField[Any] = serializers.StringRelatedField()

    class Meta:
        model = Lead
        fields = [
            "id", "source", "external_id", "salesforce_id", "hubspot_id", "account", "first_name",
            "last_name", "email", "phone", "title", "company_name", "country", "timezone", "owner",
            "status", "consent_state", "has_open_opportunity", "deal_value", "outcome", "outcome_at",
            "attributes", "source_modified_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class TicketSerializer(serializers.ModelSerializer):
    class Meta:
        model = Ticket
        fields = [
            "id", "source", "external_id", "subject", "body", "requester_name", "requester_email",
            "status", "priority", "channel", "assigned_group", "intent_label", "predicted_intent",
            "intent_confidence", "attributes", "source_created_at", "source_modified_at",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class ProposedActionSerializer(serializers.ModelSerializer):
    model_version = serializers.SerializerMethodField()

    class Meta:
        model = ProposedAction
        fields = [
            "id", "kind", "domain", "lead", "ticket", "target_system", "payload", "rationale",
            "confidence", "risk_level", "status", "idempotency_key", "correlation_id", "model_version",
            "proposed_by", "matched_rule", "sla_due_at", "decided_at", "executed_at", "created_at",
            "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_model_version(self, obj: ProposedAction) -> str | None:
        return obj.model_version.label if obj.model_version else None


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [
            "id", "kind", "name", "version", "status", "artifact_sha256", "training_data_hash",
            "training_data_from", "training_data_to", "training_rows", "feature_spec",
            "hyperparameters", "metrics", "library_versions", "canary_share", "created_at",
            "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class BulkLeadRequestSerializer(serializers.Serializer):
    """Documents the bulk body for the schema; rows are validated by ``sales.lead_rows``."""

    leads = serializers.ListField(child=serializers.DictField(), max_length=10_000)


class BulkRowErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    external_id = serializers.CharField()
    field = serializers.CharField()
    message = serializers.CharField()


class BulkLeadResponseSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    stale = serializers.IntegerField()
    results = serializers.ListField(child=serializers.DictField())


# "errors" would shadow Serializer.errors on a declared class, so this one is built for the schema only.
BulkLeadErrorSerializer = inline_serializer(
    name="BulkLeadError",
    fields={
        "detail": serializers.CharField(),
        "rejected": serializers.IntegerField(),
        "errors": BulkRowErrorSerializer(many=True),
    },
)


class ApproveRequestSerializer(serializers.Serializer):
    edits = serializers.DictField(required=False, help_text="New values for fields of the payload.")
    comment = serializers.CharField(required=False, allow_blank=True)


class RejectRequestSerializer(serializers.Serializer):
    reason_code = serializers.ChoiceField(choices=RejectionReason.choices)
    comment = serializers.CharField(required=False, allow_blank=True)
