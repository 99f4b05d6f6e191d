"""The hash that ties an approval to the content approved. Pure (no ORM).

An approval records ``payload_sha256`` of what its approver read; the executor refuses a payload
that no longer hashes to it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def payload_sha256(payload: Mapping[str, Any]) -> str:
    """Hash of a payload in canonical JSON (sorted keys), so key order never changes it."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
