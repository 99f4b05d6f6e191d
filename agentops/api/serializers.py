from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from approvals.choices import ActionKind, Domain, RejectionReason, RiskLevel
from approvals.models import Decision, ProposedAction
from approvals.schemas import PROPOSABLE_KINDS
from approvals.services import payload_sha256
from sales.models import Lead
from scoring.models import ModelVersion
from security.serializers import PersonalDataSerializerMixin
from support.models import Ticket


class LeadSerializer(PersonalDataSerializerMixin, serializers.ModelSerializer):
    personal_fields = {"email": "email", "phone": "phone"}

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


class TicketSerializer(PersonalDataSerializerMixin, serializers.ModelSerializer):
    personal_fields = {"body": "text", "requester_name": "name", "requester_email": "email"}

    class Meta:
        model = Ticket
        fields = [
            "id", "source", "external_id", "subject", "body", "requester_name", "requester_email",
            "status", "priority", "channel", "assigned_group", "intent_label", "predicted_intent",
            "intent_confidence", "attributes", "source_created_at", "source_modified_at",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class ProposedActionSerializer(PersonalDataSerializerMixin, serializers.ModelSerializer):
    personal_json_fields = ("payload",)
    model_version = serializers.SerializerMethodField()
    payload_sha256 = serializers.SerializerMethodField(
        help_text="Hash of the payload as it is now; an approval sends back the one it read."
    )

    class Meta:
        model = ProposedAction
        fields = [
            "id", "kind", "domain", "lead", "ticket", "target_system", "payload", "rationale",
            "confidence", "risk_level", "status", "idempotency_key", "correlation_id", "model_version",
            "proposed_by", "matched_rule", "sla_due_at", "decided_at", "executed_at", "created_at",
            "updated_at", "required_approvals", "policy_reasons", "approved_payload_sha256",
            "payload_sha256", "confidence_source",
        ]  # fmt: skip
        read_only_fields = fields

    def get_model_version(self, obj: ProposedAction) -> str | None:
        return obj.model_version.label if obj.model_version else None

    def get_payload_sha256(self, obj: ProposedAction) -> str:
        return payload_sha256(obj.payload)


class DecisionSummarySerializer(serializers.ModelSerializer):
    decided_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="Empty when the policy decided."
    )

    class Meta:
        model = Decision
        fields = ["outcome", "decided_by", "reason_code", "comment", "payload_diff", "created_at"]
        read_only_fields = fields


class ProposedActionDetailSerializer(ProposedActionSerializer):
    """One action with its decisions and where to poll it (what integrations wait on)."""

    url = serializers.HyperlinkedIdentityField(view_name="api:action-detail", help_text="Poll this URL.")
    decisions = DecisionSummarySerializer(many=True, read_only=True)

    class Meta(ProposedActionSerializer.Meta):
        fields = [
            *ProposedActionSerializer.Meta.fields,
            "url", "decisions", "callback_attempts", "callback_delivered_at", "callback_last_error",
        ]  # fmt: skip
        read_only_fields = fields


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "description": "AgentOps id"},
            {
                "type": "object",
                "properties": {"source": {"type": "string"}, "external_id": {"type": "string"}},
                "required": ["source", "external_id"],
            },
        ]
    }
)
class TargetField(serializers.Field):
    """A lead or ticket named by its AgentOps id or by ``{"source", "external_id"}`` in its system."""

    default_error_messages = {"invalid": 'must be an id or {{"source": …, "external_id": …}}'}

    def to_internal_value(self, data: Any) -> int | tuple[str, str]:
        if isinstance(data, int) and not isinstance(data, bool) and data > 0:
            return data
        if (
            isinstance(data, dict)
            and set(data) == {"source", "external_id"}
            and all(isinstance(v, str) and v.strip() for v in data.values())
        ):
            return (data["source"], data["external_id"])
        self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field({"type": "string", "enum": list(PROPOSABLE_KINDS)})
class ProposableKindField(serializers.ChoiceField):
    """An action kind, documented as the kinds an integration may propose: a kind only AgentOps
    proposes (``config_change``) passes here so that ``action_submit`` refuses it with its reason."""


class ActionSubmitSerializer(serializers.Serializer):
    """A proposed tool call from an integration; ``payload`` is checked against ``kind``'s schema."""

    kind = ProposableKindField(choices=ActionKind.choices, help_text="An allow-listed action kind.")
    payload = serializers.JSONField(
        help_text="The call's arguments; see the schema of the kind in docs/api.md."
    )
    rationale = serializers.CharField(max_length=5000, help_text="Why the agent proposes this.")
    confidence = serializers.FloatField(
        min_value=0,
        max_value=1,
        help_text="Stored as reported by the agent (confidence_source agent): approval policies do "
        "not take it at face value unless they opt in.",
    )
    idempotency_key = serializers.CharField(
        max_length=128, help_text="Repeating a key answers with the earlier action instead of a new one."
    )
    risk_level = serializers.ChoiceField(
        choices=RiskLevel.choices,
        default=RiskLevel.MEDIUM,
        help_text="May raise, never lower, the kind's and payload's floor (approvals.risk).",
    )
    domain = serializers.ChoiceField(
        choices=Domain.choices,
        required=False,
        help_text="Follows the target, then the kind; another value than that one is refused.",
    )
    lead = TargetField(required=False)
    ticket = TargetField(required=False)
    target_system = serializers.CharField(max_length=20, required=False, allow_blank=True)
    callback_url = serializers.CharField(
        max_length=500, required=False, allow_blank=True, help_text="http(s) URL for the signed decision."
    )

    def to_internal_value(self, data: Any) -> Any:
        # Fail closed on fields the server sets (status, approvals needed, who proposed, flags…): a
        # proposal that carries one expects it to matter, and silently dropping it hides the attempt.
        if isinstance(data, dict):
            unknown = [name for name in data if name not in self.fields]
            if unknown:
                allowed = ", ".join(self.fields)
                raise serializers.ValidationError(
                    {unknown[0]: f"not a field of a proposal; the server sets it (allowed: {allowed})"}
                )
        return super().to_internal_value(data)


SubmissionErrorSerializer = inline_serializer(
    name="SubmissionError",
    fields={
        "code": serializers.CharField(),
        "field": serializers.CharField(help_text="e.g. payload.subject"),
        "detail": serializers.CharField(),
    },
)


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
    payload_sha256 = serializers.RegexField(
        r"^[0-9a-f]{64}$",
        help_text="The `payload_sha256` of the action as you read it: the content you approve. If it "
        "changed since (another approver's edit), the approval is refused with 409 `payload_changed`.",
    )
    edits = serializers.DictField(required=False, help_text="New values for fields of the payload.")
    comment = serializers.CharField(required=False, allow_blank=True)


class RejectRequestSerializer(serializers.Serializer):
    reason_code = serializers.ChoiceField(choices=RejectionReason.choices)
    comment = serializers.CharField(required=False, allow_blank=True)
