"""The scanners registry: who reads the text of an outbound message for compliance flags.

A message a person outside receives (``OUTBOUND_MESSAGE_KINDS``) is scanned when it is proposed,
whoever drafted it: an agent cannot choose its flags, and approval policies route on them. The app
that owns the patterns registers a scanner in its ``AppConfig.ready()`` (sales registers the
admin's compliance patterns); approvals knows none of them.

A ``Scanner``'s ``prepare()`` reads what it needs once per batch and returns ``scan(subject=…,
body=…, channel="email"|"sms"|"reply")`` → flags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from approvals.choices import OUTBOUND_MESSAGE_KINDS, ActionKind

Scan = Callable[..., list[str]]

_CHANNELS = {ActionKind.SEND_EMAIL: "email", ActionKind.SEND_SMS: "sms"}


@dataclass(frozen=True)
class Scanner:
    name: str
    prepare: Callable[[], Scan]


_SCANNERS: dict[str, Scanner] = {}


def scanner_register(scanner: Scanner) -> Scanner:
    _SCANNERS[scanner.name] = scanner
    return scanner


def outbound_flags(items: Sequence[tuple[str, Mapping[str, Any]]]) -> list[list[str]]:
    """The flags of each (kind, payload), sorted: every registered scanner reads each outbound
    message (its patterns read once per call); other kinds get none, with no query."""
    if not any(kind in OUTBOUND_MESSAGE_KINDS for kind, _ in items):
        return [[] for _ in items]
    scans = [scanner.prepare() for scanner in _SCANNERS.values()]
    flags: list[list[str]] = []
    for kind, payload in items:
        if kind not in OUTBOUND_MESSAGE_KINDS:
            flags.append([])
            continue
        found: set[str] = set()
        for scan in scans:
            found.update(
                scan(
                    subject=str(payload.get("subject", "")),
                    body=str(payload.get("body", "")),
                    channel=_CHANNELS.get(ActionKind(kind), "reply"),
                )
            )
        flags.append(sorted(found))
    return flags
