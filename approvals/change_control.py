"""Change control as approvals sees it: a controlled configuration change is a ``config_change``
proposed action, and the admin (``approvals.admin_mixins``) proposes one instead of saving.

Which configurations are controlled, and how a change is checked and proposed, is operations'
(``operations.change_control``, registered in ``OperationsConfig.ready``): the admins of lower apps
ask this module, never operations. With nothing registered, nothing is under change control.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models


class ChangeRefused(ValueError):
    """A change proposal that cannot be made; ``field`` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class ChangeController:
    """``is_controlled(model_label)``: whether a change to that model needs a second person now;
    ``propose(*, model_label, object_id, before, after, risk_note, user, object_repr)``: propose the
    change as a routed ``config_change`` action, or raise ``ChangeRefused``."""

    is_controlled: Callable[[str], bool]
    propose: Callable[..., Any]


_CONTROLLER: list[ChangeController] = []


def change_controller_register(controller: ChangeController) -> ChangeController:
    _CONTROLLER[:] = [controller]
    return controller


def config_controlled(model_label: str) -> bool:
    """Whether saving a ``model_label`` row in the admin proposes the change instead."""
    return bool(_CONTROLLER) and _CONTROLLER[0].is_controlled(model_label)


def config_change_propose(**change: Any) -> Any:
    """Propose a controlled change (the registered controller's ``propose``)."""
    if not _CONTROLLER:
        raise ImproperlyConfigured("no change control is registered (OperationsConfig.ready registers it)")
    return _CONTROLLER[0].propose(**change)


def _plain(value: Any) -> Any:
    """A field value as JSON: model instances by primary key, dates as ISO text, decimals as text."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def field_values(instance: models.Model, names: list[str]) -> dict[str, Any]:
    values = {}
    for name in names:
        field = instance._meta.get_field(name)
        attname = getattr(field, "attname", name) if field.is_relation else name
        values[name] = _plain(getattr(instance, attname))
    return values
