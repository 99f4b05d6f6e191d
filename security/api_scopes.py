"""Every API view checks the key's scope, including actions that name their own permission classes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from security.permissions import HasScope


class ScopedViewSetMixin:
    """Adds ``HasScope`` to whatever permissions an action declares; the view's ``required_scopes``
    maps action names (or ``"*"``) to the scopes of which a key needs one."""

    required_scopes: dict[str, tuple[str, ...]] = {}

    def get_permissions(self) -> Sequence[Any]:
        chosen = list(super().get_permissions())  # type: ignore[misc]
        if not any(isinstance(p, HasScope) for p in chosen):
            chosen.append(HasScope())
        return chosen
