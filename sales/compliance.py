"""The compliance scanner: flags outreach copy that a person should read before it goes out.

It looks for pricing, contractual and regulatory language (patterns are data, edited in the admin
as ``sales.CompliancePattern``) and for the CAN-SPAM / GDPR basics every marketing email needs:
a way to unsubscribe and the sender's postal address. The flags land on the proposed action, and
the approval policy decides what they require (``ApprovalPolicy.compliance_flags_any``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MISSING_UNSUBSCRIBE = "missing_unsubscribe"
MISSING_POSTAL_ADDRESS = "missing_postal_address"

_UNSUBSCRIBE = re.compile(r"unsubscribe|opt[ -]?out|stop receiving|manage (your )?preferences", re.I)
#: SMS carriers expect "reply STOP" wording instead of a link.
_SMS_STOP = re.compile(r"\b(reply|text) stop\b", re.I)


@dataclass(frozen=True)
class Pattern:
    """One phrase pattern: when ``regex`` matches, the copy gets ``flag``."""

    flag: str
    regex: str


@dataclass(frozen=True)
class Finding:
    flag: str
    excerpt: str


def compile_patterns(patterns: Iterable[Pattern]) -> list[tuple[str, re.Pattern[str]]]:
    """Compile once per scan run; a bad regex raises ``re.error`` naming the pattern's flag."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append((pattern.flag, re.compile(pattern.regex, re.I)))
        except re.error as exc:
            raise re.error(f"pattern for {pattern.flag!r}: {exc}") from None
    return compiled


def scan(
    *,
    subject: str,
    body: str,
    channel: str,
    patterns: Sequence[tuple[str, re.Pattern[str]]],
    postal_address: str = "",
) -> list[Finding]:
    """Every finding in the copy, one per flag (the first excerpt), in a stable order."""
    text = f"{subject}\n{body}"
    found: dict[str, Finding] = {}
    for flag, regex in patterns:
        if flag in found:
            continue
        match = regex.search(text)
        if match:
            found[flag] = Finding(flag, _excerpt(text, match.start(), match.end()))
    if channel == "email":
        if not _UNSUBSCRIBE.search(body):
            found[MISSING_UNSUBSCRIBE] = Finding(MISSING_UNSUBSCRIBE, "no unsubscribe text in the body")
        if postal_address and postal_address.strip().lower() not in body.lower():
            found[MISSING_POSTAL_ADDRESS] = Finding(MISSING_POSTAL_ADDRESS, "no postal address in the body")
    elif channel == "sms" and not _SMS_STOP.search(body):
        found[MISSING_UNSUBSCRIBE] = Finding(MISSING_UNSUBSCRIBE, "no 'reply STOP' opt-out wording")
    return sorted(found.values(), key=lambda f: f.flag)


def flags(findings: Iterable[Finding]) -> list[str]:
    return sorted({f.flag for f in findings})


def _excerpt(text: str, start: int, end: int, margin: int = 30) -> str:
    left, right = max(0, start - margin), min(len(text), end + margin)
    snippet = " ".join(text[left:right].split())
    return ("…" if left else "") + snippet + ("…" if right < len(text) else "")
