"""Webhook signature schemes: each accepts the vendor's own signature and nothing else."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from connectors import signatures

NOW = 1_800_000_000.0
BODY = b'{"id": "evt-1", "ticket": {"id": 7, "status": "solved"}}'
SECRET = "s3cret"


# Zendesk ------------------------------------------------------------------------------------------
ZENDESK_TS = "2027-01-15T08:00:00Z"
ZENDESK_EPOCH = datetime(2027, 1, 15, 8, 0, 0, tzinfo=UTC).timestamp()


def _zendesk_now(offset: float = 0.0) -> float:
    return ZENDESK_EPOCH + offset


def _zendesk_verify(**overrides: object) -> bool:
    args: dict[str, object] = {
        "secret": SECRET,
        "body": BODY,
        "signature": signatures.zendesk_sign(secret=SECRET, body=BODY, timestamp=ZENDESK_TS),
        "timestamp": ZENDESK_TS,
        "now": _zendesk_now(),
    }
    args.update(overrides)
    return signatures.zendesk_verify(**args)  # type: ignore[arg-type]


def test_it_signs_zendesk_as_base64_hmac_sha256_of_timestamp_then_body() -> None:
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), ZENDESK_TS.encode() + BODY, hashlib.sha256).digest()
    )
    assert signatures.zendesk_sign(secret=SECRET, body=BODY, timestamp=ZENDESK_TS) == expected.decode()
    headers = signatures.zendesk_headers(secret=SECRET, body=BODY, timestamp=ZENDESK_TS)
    assert set(headers) == {"X-Zendesk-Webhook-Signature", "X-Zendesk-Webhook-Signature-Timestamp"}


def test_it_accepts_a_good_zendesk_signature_within_the_window() -> None:
    assert _zendesk_verify()
    assert _zendesk_verify(now=_zendesk_now(299))
    assert _zendesk_verify(now=_zendesk_now(-299))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"signature": "bm90IGl0"}, id="bad signature"),
        pytest.param({"signature": ""}, id="empty signature"),
        pytest.param({"now": _zendesk_now(301)}, id="stale timestamp"),
        pytest.param({"now": _zendesk_now(-301)}, id="future timestamp"),
        pytest.param({"body": BODY.replace(b"solved", b"open")}, id="tampered body"),
        pytest.param({"secret": "other"}, id="wrong secret"),
        pytest.param({"timestamp": "2027-01-15T08:00:01Z"}, id="timestamp swapped after signing"),
        pytest.param({"timestamp": "yesterday"}, id="unreadable timestamp"),
    ],
)
def test_it_rejects_a_zendesk_webhook(overrides: dict[str, object]) -> None:
    assert not _zendesk_verify(**overrides)


def test_it_accepts_zendesk_unix_timestamps_too() -> None:
    stamp = str(int(NOW))
    signature = signatures.zendesk_sign(secret=SECRET, body=BODY, timestamp=stamp)
    assert signatures.zendesk_verify(secret=SECRET, body=BODY, signature=signature, timestamp=stamp, now=NOW)
    assert not signatures.zendesk_verify(
        secret=SECRET, body=BODY, signature=signature, timestamp=stamp, now=NOW + 301
    )


# Intercom -----------------------------------------------------------------------------------------
def test_it_signs_intercom_as_sha1_hex_hmac_of_the_body() -> None:
    expected = "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()
    assert signatures.intercom_sign(client_secret=SECRET, body=BODY) == expected
    assert signatures.intercom_verify(client_secret=SECRET, body=BODY, signature=expected)


@pytest.mark.parametrize(
    ("secret", "body", "signature"),
    [
        pytest.param(SECRET, BODY, "sha1=" + "0" * 40, id="bad signature"),
        pytest.param(SECRET, BODY, "", id="empty signature"),
        pytest.param(
            SECRET, BODY, hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest(), id="missing sha1= prefix"
        ),
        pytest.param(SECRET, BODY + b" ", None, id="tampered body"),
        pytest.param("other", BODY, None, id="wrong secret"),
    ],
)
def test_it_rejects_an_intercom_webhook(secret: str, body: bytes, signature: str | None) -> None:
    good = signatures.intercom_sign(client_secret=SECRET, body=BODY)
    assert not signatures.intercom_verify(
        client_secret=secret, body=body, signature=good if signature is None else signature
    )


# HubSpot ------------------------------------------------------------------------------------------
URI = "https://app.example.com/webhooks/hubspot?portal=42"
HUBSPOT_TS = str(int(NOW * 1000))


def _hubspot_verify(**overrides: object) -> bool:
    args: dict[str, object] = {
        "client_secret": SECRET,
        "method": "POST",
        "uri": URI,
        "body": BODY,
        "signature": signatures.hubspot_sign_v3(
            client_secret=SECRET, method="POST", uri=URI, body=BODY, timestamp=HUBSPOT_TS
        ),
        "timestamp": HUBSPOT_TS,
        "now": NOW,
    }
    args.update(overrides)
    return signatures.hubspot_verify_v3(**args)  # type: ignore[arg-type]


def test_it_signs_hubspot_v3_over_method_uri_body_and_timestamp() -> None:
    message = b"POST" + URI.encode() + BODY + HUBSPOT_TS.encode()
    expected = base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()
    assert (
        signatures.hubspot_sign_v3(
            client_secret=SECRET, method="post", uri=URI, body=BODY, timestamp=HUBSPOT_TS
        )
        == expected
    )


def test_it_accepts_a_good_hubspot_signature_within_five_minutes() -> None:
    assert _hubspot_verify()
    assert _hubspot_verify(now=NOW + 299)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"signature": "bm90IGl0"}, id="bad signature"),
        pytest.param({"now": NOW + 301}, id="stale timestamp"),
        pytest.param({"now": NOW - 301}, id="future timestamp"),
        pytest.param({"body": BODY + b"x"}, id="tampered body"),
        pytest.param({"uri": URI + "&x=1"}, id="tampered uri"),
        pytest.param({"method": "GET"}, id="other method"),
        pytest.param({"client_secret": "other"}, id="wrong secret"),
        pytest.param({"timestamp": str(int(NOW * 1000) + 1)}, id="timestamp swapped after signing"),
        pytest.param({"timestamp": "soon"}, id="unreadable timestamp"),
    ],
)
def test_it_rejects_a_hubspot_webhook(overrides: dict[str, object]) -> None:
    assert not _hubspot_verify(**overrides)


# Salesforce ---------------------------------------------------------------------------------------
ORG_18 = "00D5g000004XyZaEAK"


@pytest.mark.parametrize("given_org", [ORG_18, ORG_18[:15]])
def test_it_accepts_a_salesforce_outbound_message_from_our_org_with_the_secret(given_org: str) -> None:
    assert signatures.salesforce_verify_outbound(
        expected_organization_id=ORG_18, organization_id=given_org, shared_secret=SECRET, given_secret=SECRET
    )


@pytest.mark.parametrize(
    ("org", "shared", "given"),
    [
        pytest.param("00D5g000004XyZbEAK", SECRET, SECRET, id="other org"),
        pytest.param(ORG_18.lower(), SECRET, SECRET, id="org id case differs"),
        pytest.param(ORG_18 + "X", SECRET, SECRET, id="org id too long"),
        pytest.param(ORG_18, SECRET, "guess", id="wrong secret"),
        pytest.param(ORG_18, "", "", id="no secret configured"),
    ],
)
def test_it_rejects_a_salesforce_outbound_message(org: str, shared: str, given: str) -> None:
    assert not signatures.salesforce_verify_outbound(
        expected_organization_id=ORG_18, organization_id=org, shared_secret=shared, given_secret=given
    )
