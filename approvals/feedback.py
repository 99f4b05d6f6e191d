"""Human decisions as labelled training examples (pure).

Approve = positive; reject = negative with its reason; edit-then-approve = a corrected target
(the final payload is what the agent should have proposed). Defers and policy decisions teach
nothing about the agent's judgement and are left out by the exporter.

The examples leave the application (a file for training), so personal data in them is masked
(``security.masking``) unless whoever exports them may see it in clear.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from security.masking import mask_mapping, mask_mentions

LABELS = {"approve": "positive", "reject": "negative", "edit_approve": "corrected"}
FIELDS = (
    "decision_id", "action_id", "kind", "domain", "matched_rule", "model_version", "confidence", "label",
    "reason_code", "comment", "approver", "decided_at", "seconds_to_decide", "original_payload",
    "final_payload", "payload_diff",
)  # fmt: skip


def decision_example(row: Mapping[str, Any], *, personal_data: bool) -> dict[str, Any]:
    """One example from a decision row (with the action's fields joined in).

    Without ``personal_data`` the payloads, their diff and the comment have their personal values
    (emails, phones, names, notes, and addresses or phone numbers written in text) masked.
    """
    seconds = row["time_to_decide"].total_seconds() if row.get("time_to_decide") is not None else None
    example = {
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
    return example if personal_data else _masked(example)


def _masked(example: dict[str, Any]) -> dict[str, Any]:
    diff = example["payload_diff"] or {}
    return {
        **example,
        "comment": mask_mentions(example["comment"] or ""),
        "original_payload": _mask_json(example["original_payload"]),
        "final_payload": _mask_json(example["final_payload"]),
        # {field: {"from": …, "to": …}}: each side is masked as a value of its field.
        "payload_diff": {
            field: {side: _mask_field(field, value) for side, value in change.items()}
            if isinstance(change, Mapping)
            else _mask_field(field, change)
            for field, change in diff.items()
        },
    }


def _mask_field(field: str, value: Any) -> Any:
    return _mask_json({field: value})[field]


def _mask_json(value: Any) -> Any:
    """Personal keys masked (``mask_mapping`` walks nested dicts and lists), then addresses and phone
    numbers written inside any remaining text."""
    return _mask_text(mask_mapping(value) if isinstance(value, Mapping) else value)


def _mask_text(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _mask_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_text(item) for item in value]
    if isinstance(value, str):
        return mask_mentions(value)
    return value
