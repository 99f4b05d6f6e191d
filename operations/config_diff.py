"""The before → after rows of a configuration change, as the change-control log shows them. Pure.

Kept apart from ``operations.change_control`` (which proposes and applies changes through the
approval services) so that reading the log does not import the approval services.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Diff:
    field: str
    before: Any
    after: Any


def diff_rows(payload: dict[str, Any]) -> list[Diff]:
    before, after = payload.get("before", {}), payload.get("after", {})
    return [Diff(name, before.get(name), after[name]) for name in after]
