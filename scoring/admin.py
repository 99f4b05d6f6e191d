from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from scoring.models import ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(SimpleHistoryAdmin):
    """Registry entries are produced by training; status changes go through the promotion service."""

    list_display = ["name", "kind", "version", "status", "training_rows", "created_at"]
    list_filter = ["kind", "status"]
    search_fields = ["name"]
    readonly_fields = [
        "kind", "name", "version", "status", "artifact_sha256", "training_data_hash",
        "training_data_from", "training_data_to", "training_rows", "feature_spec",
        "hyperparameters", "metrics", "library_versions", "created_by", "created_at", "updated_at",
    ]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).defer("artifact")
