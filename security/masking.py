"""Masking personal data for people whose role does not need it (pure: no ORM).

Who sees personal data in clear is one permission, ``security.view_personal_data``; everybody
else sees enough to recognise a record (``j***@e***.com``, ``+44 *** *** 123``) and nothing to
contact or identify the person with. Pages use the ``{% personal %}`` tag
(``security/templatetags/personal_data.py``), serializers and the admin call ``personal_value``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, Protocol

PERMISSION = "security.view_personal_data"
HIDDEN = "***"

Kind = Literal["email", "phone", "name", "text"]

# Keys of JSON payloads and record views whose values are personal (an action's "to" is an email
# address or a phone number). A message's "body" is not among them: it is what an approver judges.
PERSONAL_KEYS: Mapping[str, Kind] = {
    "email": "email",
    "requester_email": "email",
    "to": "email",
    "phone": "phone",
    "mobile": "phone",
    "name": "name",
    "first_name": "name",
    "last_name": "name",
    "requester_name": "name",
    "notes": "text",
}


class _User(Protocol):
    def has_perm(self, perm: str, obj: Any = None) -> bool: ...


def may_view_personal_data(user: _User | None) -> bool:
    """Whether ``user`` sees personal data in clear."""
    return user is not None and bool(user.has_perm(PERMISSION))


def mask_email(value: str) -> str:
    """``john.smith@example.co.uk`` → ``j***@e***.uk``: first letters and the top-level domain."""
    value = value.strip()
    if not value:
        return ""
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return mask_text(value)
    labels = domain.split(".")
    masked_domain = f"{labels[0][:1]}{HIDDEN}"
    if len(labels) > 1 and labels[-1]:
        masked_domain += f".{labels[-1]}"
    return f"{local[:1]}{HIDDEN}@{masked_domain}"


_DIGIT = re.compile(r"\d")
_COUNTRY = re.compile(r"^\s*\+\s*(\d{1,3})(?=[\s\-.()/]|$)")


def mask_phone(value: str) -> str:
    """``+44 20 7946 0123`` → ``+44 *** *** 123``: the country code and the last three digits.

    The country code is shown only when written apart (``+44 …``, ``+1-…``); otherwise the first
    two digits after ``+``. A number of fewer than seven digits shows nothing but ``***``.
    """
    digits = "".join(_DIGIT.findall(value))
    if not digits:
        return HIDDEN if value.strip() else ""
    if len(digits) < 7:
        return HIDDEN
    prefix = ""
    if value.strip().startswith("+"):
        found = _COUNTRY.match(value)
        prefix = "+" + (found.group(1) if found else digits[:2]) + " "
    return f"{prefix}{HIDDEN} {HIDDEN} {digits[-3:]}"


def mask_name(value: str) -> str:
    """``Ana María López`` → ``A*** M*** L***``: initials only."""
    return " ".join(f"{part[:1]}{HIDDEN}" for part in value.split())


def mask_text(value: str) -> str:
    """Free text becomes ``[hidden: N characters]``: its length says whether there is anything."""
    if not value:
        return ""
    return f"[hidden: {len(value)} characters]"


_MASKERS = {"email": mask_email, "phone": mask_phone, "name": mask_name, "text": mask_text}


def mask(value: Any, kind: Kind) -> Any:
    """``value`` masked as a ``kind``; ``None`` stays ``None`` and non-text is masked as text."""
    if value is None:
        return None
    if kind not in _MASKERS:
        raise ValueError(f"kind must be one of {sorted(_MASKERS)}, got {kind!r}")
    return _MASKERS[kind](str(value))


def mask_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with the values of personal keys masked, through nested dicts and lists.

    A ``to`` that is not an email address (an SMS recipient) is masked as a phone number.
    """
    masked: dict[str, Any] = {}
    for key, value in data.items():
        kind = PERSONAL_KEYS.get(str(key).lower())
        if isinstance(value, Mapping):
            masked[key] = mask_mapping(value)
        elif isinstance(value, list):
            masked[key] = [
                mask_mapping(v) if isinstance(v, Mapping) else (mask(v, kind) if kind else v) for v in value
            ]
        elif kind is not None and isinstance(value, str):
            if kind == "email" and "@" not in value:
                kind = "phone" if _DIGIT.search(value) else "text"
            masked[key] = mask(value, kind)
        else:
            masked[key] = value
    return masked


# An address or a phone number written inside free text (a comment, an email body). Phones are
# international (+ and 7 or more digits) or grouped national numbers; bare digit runs (ids) are not.
EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
PHONE_IN_TEXT = re.compile(
    r"(?<![\w+])\+\d[\d\s().-]{5,}\d(?!\w)|(?<![\w-])\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}(?![\w-])"
)


def mask_mentions(text: str) -> str:
    """``text`` with every email address and phone number in it masked (the rest stays readable)."""
    if not text:
        return text
    text = EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group()), text)
    return PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group()), text)


def personal_value(user: _User | None, value: Any, kind: Kind) -> Any:
    """``value`` as ``user`` may see it: in clear with the permission, else masked."""
    return value if may_view_personal_data(user) else mask(value, kind)


def personal_mapping(user: _User | None, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as ``user`` may see it (personal keys masked without the permission)."""
    return dict(data) if may_view_personal_data(user) else mask_mapping(data)
