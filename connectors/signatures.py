"""Webhook signature schemes of each vendor: pure functions to sign (the sandbox) and verify (our endpoints).

Every ``verify_*`` compares in constant time and returns a bool; those with a timestamp take ``now``
explicitly (Unix seconds) so the window is testable and never depends on the clock of the caller.
A timestamp further than the window in the past (stale, a replay) or in the future (a forged or
badly skewed clock) is rejected alike.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime

#: HubSpot rejects v3 requests older than five minutes; we apply the same window to Zendesk.
TIMESTAMP_WINDOW_SECONDS = 300

ZENDESK_SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
INTERCOM_SIGNATURE_HEADER = "X-Hub-Signature"
HUBSPOT_SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
HUBSPOT_TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"


def _b64_hmac_sha256(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _within_window(timestamp_seconds: float, now: float, window: float) -> bool:
    return abs(now - timestamp_seconds) <= window


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


# Zendesk ------------------------------------------------------------------------------------------
def zendesk_sign(*, secret: str, body: bytes, timestamp: str) -> str:
    """Zendesk's webhook signature: base64 HMAC-SHA256 of the timestamp header followed by the body."""
    return _b64_hmac_sha256(secret, timestamp.encode() + body)


def zendesk_headers(*, secret: str, body: bytes, timestamp: str) -> dict[str, str]:
    """The two headers Zendesk sends with a signed webhook."""
    return {
        ZENDESK_SIGNATURE_HEADER: zendesk_sign(secret=secret, body=body, timestamp=timestamp),
        ZENDESK_TIMESTAMP_HEADER: timestamp,
    }


def zendesk_verify(
    *,
    secret: str,
    body: bytes,
    signature: str,
    timestamp: str,
    now: float,
    window: float = TIMESTAMP_WINDOW_SECONDS,
) -> bool:
    """True when ``signature`` is Zendesk's for ``body`` and ``timestamp`` lies within ``window`` of ``now``.

    Zendesk sends the timestamp as ISO 8601 (``2026-11-27T12:00:00Z``); Unix seconds are accepted too.
    """
    moment = _zendesk_timestamp_seconds(timestamp)
    if moment is None or not _within_window(moment, now, window):
        return False
    return _same(zendesk_sign(secret=secret, body=body, timestamp=timestamp), signature)


def _zendesk_timestamp_seconds(timestamp: str) -> float | None:
    text = timestamp.strip()
    if text.isdigit():
        return float(text)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# Intercom -----------------------------------------------------------------------------------------
def intercom_sign(*, client_secret: str, body: bytes) -> str:
    """Intercom's ``X-Hub-Signature``: ``sha1=`` and the hex HMAC-SHA1 of the body with the app's client secret."""
    # SHA-1 is Intercom's choice, not ours; as an HMAC it is still unforgeable without the secret.
    digest = hmac.new(client_secret.encode(), body, hashlib.sha1).hexdigest()
    return f"sha1={digest}"


def intercom_verify(*, client_secret: str, body: bytes, signature: str) -> bool:
    """True when ``signature`` is Intercom's for ``body``. Intercom signs no timestamp, so replays are
    caught by event-id deduplication, not here."""
    return _same(intercom_sign(client_secret=client_secret, body=body), signature.strip())


# HubSpot ------------------------------------------------------------------------------------------
#: The percent-encodings HubSpot decodes in the URI before it signs (its "validating requests" guide);
#: every other one (``%20``, ``%26``, ``%3D``, ``%2B``, ``%23``, ``%25`` …) stays as sent.
HUBSPOT_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_HUBSPOT_ENCODED = re.compile("|".join(HUBSPOT_DECODED), re.IGNORECASE)


def hubspot_decoded_uri(uri: str) -> str:
    """``uri`` as HubSpot signs it: the characters it lists decoded (either hex case), in one pass,
    so a decoded ``%`` never starts another escape."""
    return _HUBSPOT_ENCODED.sub(lambda match: HUBSPOT_DECODED[match.group().upper()], uri)


def hubspot_sign_v3(*, client_secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HubSpot's v3 signature: base64 HMAC-SHA256 of method + full URI (``hubspot_decoded_uri``) +
    body + timestamp (milliseconds). ``uri`` is the public URL HubSpot called, scheme and host included."""
    message = f"{method.upper()}{hubspot_decoded_uri(uri)}".encode() + body + timestamp.encode()
    return _b64_hmac_sha256(client_secret, message)


def hubspot_verify_v3(
    *,
    client_secret: str,
    method: str,
    uri: str,
    body: bytes,
    signature: str,
    timestamp: str,
    now: float,
    window: float = TIMESTAMP_WINDOW_SECONDS,
) -> bool:
    """True when ``signature`` is HubSpot's v3 one and ``timestamp`` (Unix milliseconds, as HubSpot
    sends it) lies within ``window`` seconds of ``now`` (Unix seconds)."""
    if not timestamp.strip().isdigit():
        return False
    if not _within_window(int(timestamp) / 1000, now, window):
        return False
    expected = hubspot_sign_v3(
        client_secret=client_secret, method=method, uri=uri, body=body, timestamp=timestamp
    )
    return _same(expected, signature)


# Salesforce ---------------------------------------------------------------------------------------
def salesforce_verify_outbound(
    *, expected_organization_id: str, organization_id: str, shared_secret: str, given_secret: str
) -> bool:
    """Salesforce outbound messages carry no signature: they are checked by the sending organisation's
    id (from the SOAP body, 15 or 18 characters) and a shared secret we put in the endpoint URL."""
    # Salesforce ids compare case-sensitively, and the 15-character id is the prefix of the 18-character one.
    same_org = _same(expected_organization_id[:15], organization_id[:15]) and len(organization_id) in (15, 18)
    same_secret = _same(shared_secret, given_secret) and bool(shared_secret)
    return same_org and same_secret
