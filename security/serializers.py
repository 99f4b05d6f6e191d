"""API responses mask personal data for callers without ``security.view_personal_data``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from security.masking import Kind, mask, mask_mapping
from security.selectors import user_sees_personal_data


class PersonalDataSerializerMixin:
    """Masks ``personal_fields`` (field → kind) and the personal keys of ``personal_json_fields``
    unless the request's user (an integration's user, for an API key) has the permission, asked once
    per request (``user_sees_personal_data``) however many items are serialised."""

    personal_fields: ClassVar[Mapping[str, Kind]] = {}
    personal_json_fields: ClassVar[tuple[str, ...]] = ()

    def to_representation(self, instance: Any) -> Any:
        data = super().to_representation(instance)  # type: ignore[misc]
        request = self.context.get("request")  # type: ignore[attr-defined]
        if user_sees_personal_data(user=getattr(request, "user", None)):
            return data
        for name, kind in self.personal_fields.items():
            if name in data:
                data[name] = mask(data[name], kind)
        for name in self.personal_json_fields:
            if isinstance(data.get(name), Mapping):
                data[name] = mask_mapping(data[name])
        return data
