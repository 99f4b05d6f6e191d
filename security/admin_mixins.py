"""Admin pages hide personal data from staff without ``security.view_personal_data``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest

from security.masking import may_view_personal_data


class PersonalDataAdminMixin:
    """Leaves ``personal_fields`` out of the change form (and so out of reach) for staff who may
    not see personal data; list columns that show personal data call ``masked``."""

    personal_fields: Sequence[str] = ()

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        excluded = list(super().get_exclude(request, obj) or [])  # type: ignore[misc]
        if not may_view_personal_data(request.user):
            excluded += [name for name in self.personal_fields if name not in excluded]
        return excluded

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)  # type: ignore[misc]
        if may_view_personal_data(request.user):
            return fields
        return [name for name in fields if name not in self.personal_fields]
