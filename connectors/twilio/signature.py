"""Twilio's webhook signature, ``X-Twilio-Signature`` (pure; the sandbox signs with it).

Twilio signs every webhook with the account's auth token: the base64 HMAC-SHA1 of the full URL it
called (scheme, host, path and query, as configured at Twilio) followed by each POST parameter's
name and value, names in sorted order (several values of one name sorted too). Our endpoints check
it with the official client's ``twilio.request_validator.RequestValidator``; the tests check that
this and that agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence

SIGNATURE_HEADER = "X-Twilio-Signature"


def twilio_sign(*, auth_token: str, url: str, params: Mapping[str, str | Sequence[str]]) -> str:
    """The ``X-Twilio-Signature`` of a form POST of ``params`` to ``url``."""
    message = url
    for name in sorted(params):
        values = params[name]
        for value in sorted({values} if isinstance(values, str) else set(values)):
            message += name + value
    digest = hmac.new(auth_token.encode(), message.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
