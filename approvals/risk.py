"""The server-side floor of a proposal's risk, from its kind and payload. Pure (no ORM).

An agent declares a risk level with its proposal; it may raise it, never lower it below what the
action is: reading is low, writing to a system of record is medium, a message a person receives is
medium, a controlled configuration change is high, and money in any text of a write or a message
(a refund, a discount, a price, an amount in a currency…) makes it high. The stored risk is the
higher of the two (``risk_with_floor``), so policies keyed on risk and bulk approval (low risk
only) see at least the floor.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from approvals.choices import OUTBOUND_MESSAGE_KINDS, READ_ONLY_KINDS, ActionKind, RiskLevel
from approvals.schemas import SCHEMAS

RISK_ORDER = {RiskLevel.LOW: 0, RiskLevel.MEDIUM: 1, RiskLevel.HIGH: 2, RiskLevel.CRITICAL: 3}

#: The floor of each kind before its payload is read; a kind not listed is high (fail closed).
KIND_FLOORS: dict[str, str] = {
    **{str(kind): RiskLevel.LOW for kind in READ_ONLY_KINDS},
    **{str(kind): RiskLevel.MEDIUM for kind in OUTBOUND_MESSAGE_KINDS},
    ActionKind.ASSIGN_OWNER: RiskLevel.MEDIUM,
    ActionKind.ENROL_CADENCE: RiskLevel.MEDIUM,
    ActionKind.ADD_TO_NURTURE: RiskLevel.MEDIUM,
    ActionKind.CREATE_TASK: RiskLevel.MEDIUM,
    ActionKind.UPDATE_CRM_FIELDS: RiskLevel.MEDIUM,
    # Only the agents see a note: low by default, as is a handoff (a group change and a note).
    ActionKind.ADD_INTERNAL_NOTE: RiskLevel.LOW,
    ActionKind.SET_TICKET_STATUS: RiskLevel.MEDIUM,
    ActionKind.HANDOFF_TO_HUMAN: RiskLevel.LOW,
    ActionKind.CONFIG_CHANGE: RiskLevel.HIGH,
}
#: Kinds whose text only our own agents read (a note, a handoff's summary): money talk in them
#: promises the customer nothing, so it does not raise their risk.
AGENTS_ONLY_KINDS = frozenset({ActionKind.ADD_INTERNAL_NOTE, ActionKind.HANDOFF_TO_HUMAN})

#: Words (whole words, any case, with their usual endings) that put money in a text.
MONEY_WORDS = (
    "refund", "discount", "credit", "price", "pricing", "invoice", "payment", "pay", "paid", "charge",
    "chargeback", "fee", "cost", "free", "waive", "coupon", "rebate", "voucher", "compensation",
    "compensate", "billing", "reimburse", "reimbursement",
)  # fmt: skip
_WORDS = re.compile(
    r"\b(?:" + "|".join(re.escape(w) for w in MONEY_WORDS) + r")(?:s|es|d|ed|ing|r)?\b", re.IGNORECASE
)
# An amount in a currency: a symbol or an ISO code before or after a number, or "20% off".
_CODES = r"(?:usd|eur|gbp|chf|jpy|cad|aud|sek|nok|dkk|pln|inr)\b"
_AMOUNT = re.compile(
    rf"(?:[$€£¥₹]|\b{_CODES})\s?\d|\d(?:[\d.,]*\d)?\s?(?:[$€£¥₹]|{_CODES})|\b\d{{1,3}}\s?%\s?off\b",
    re.IGNORECASE,
)
#: Field formats that hold an address, not text a person reads.
_NOT_TEXT = ("email", "phone", "datetime")


def money_words(text: str) -> list[str]:
    """The money words and amounts found in ``text``, in order (empty if none). A field name's
    underscores separate words (``discount_pct``)."""
    text = text.replace("_", " ")
    found = [m.group(0) for m in _WORDS.finditer(text)]
    found += [m.group(0) for m in _AMOUNT.finditer(text)]
    return found


def risk_floor(kind: str, payload: Mapping[str, Any]) -> str:
    """The lowest risk ``kind`` may carry with ``payload``; a write or a message that talks money is
    high, unless only our agents read it."""
    floor = KIND_FLOORS.get(kind, RiskLevel.HIGH)
    if kind in READ_ONLY_KINDS or kind in AGENTS_ONLY_KINDS or floor == RiskLevel.HIGH:
        return str(floor)
    if any(money_words(text) for text in _texts(kind, payload)):
        return RiskLevel.HIGH
    return str(floor)


def risk_with_floor(declared: str, kind: str, payload: Mapping[str, Any]) -> str:
    """The risk to store: the declared one unless the floor is higher. An unknown declared level is high."""
    floor = risk_floor(kind, payload)
    if declared not in RISK_ORDER:
        declared = RiskLevel.HIGH
    return str(max(declared, floor, key=lambda level: RISK_ORDER[RiskLevel(level)]))


def _texts(kind: str, payload: Mapping[str, Any]) -> Iterator[str]:
    """Every text of the payload a person reads: string values and map keys, not addresses."""
    schema = SCHEMAS.get(kind)
    for name, value in payload.items():
        spec = schema.fields.get(name) if schema is not None else None
        if spec is not None and spec.format in _NOT_TEXT:
            continue
        yield from _strings(value)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
