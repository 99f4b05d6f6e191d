"""Human decisions as labelled training examples (pure).

Approve = positive; reject = negative with its reason; edit-then-approve = a corrected target
(the final payload is what the agent should have proposed). Defers and policy decisions teach
nothing about the agent's judgement and are left out by the exporter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LABELS = {"approve": "positive", "reject": "negative", "edit_approve": "corrected"}
FIELDS = (
    "decision_id", "action_id", "kind", "domain", "matched_rule", "model_version", "confidence", "label",
    "reason_code", "comment", "approver", "decided_at", "seconds_to_decide", "original_payload",
    "final_payload", "payload_diff",
)  # fmt: skip


def decision_example(row: Mapping[str, Any]) -> dict[str, Any]:
    """One example from a decision row (with the action's fields joined in)."""
    seconds = row["time_to_decide"].total_seconds() if row.get("time_to_decide") is not None else None
    return {
        "decision_id": row["id"],
        "action_id": row["action_id"],
        "kind": row["action__kind"],
        "domain": row["action__domain"],
        "matched_rule": row["action__matched_rule"],
        "model_version": row["model_version"],
        "confidence": row["action__confidence"],
        "label": LABELS[row["outcome"]],
        "reason_code": row["reason_code"],
        "comment": row["comment"],
        "approver": row["decided_by__username"],
        "decided_at": row["created_at"].isoformat(),
        "seconds_to_decide": round(seconds, 1) if seconds is not None else None,
        "original_payload": row["original_payload"],
        "final_payload": row["final_payload"],
        "payload_diff": row["payload_diff"],
    }
