"""The signed tokens of one-click email links: pure, no database."""

import pytest

from notifications.link_tokens import LinkClaims, LinkTokenError, new_nonce, token_read, token_sign

SECRET = b"a-secret-for-tests"
HASH = "a" * 64


def _claims(**changes):
    values = {
        "nonce": "0" * 32,
        "user_id": 7,
        "action_id": 42,
        "decision": "approve",
        "payload_sha256": HASH,
        "expires_at": 2_000,
    }
    return LinkClaims(**{**values, **changes})


def test_it_reads_back_what_it_signed_until_it_expires():
    token = token_sign(_claims(), secret=SECRET)
    assert token_read(token, secret=SECRET, now=1_999) == _claims()
    with pytest.raises(LinkTokenError) as expired:
        token_read(token, secret=SECRET, now=2_000)
    assert expired.value.code == "expired"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace(".42.", ".43."),  # another action
        lambda t: t.replace(".7.", ".8.", 1),  # another approver
        lambda t: t.replace(".approve.", ".reject."),  # the other decision
        lambda t: t.replace("a" * 64, "b" * 64),  # other content
        lambda t: t.replace(".2000.", ".9999."),  # a longer life
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # a forged signature
        lambda t: t.rpartition(".")[0],  # no signature
        lambda t: "garbage",
    ],
)
def test_any_change_to_a_token_makes_it_invalid(tamper):
    token = token_sign(_claims(), secret=SECRET)
    with pytest.raises(LinkTokenError) as refused:
        token_read(tamper(token), secret=SECRET, now=1_000)
    assert refused.value.code == "invalid"


def test_a_token_signed_with_another_secret_is_invalid_even_once_expired():
    token = token_sign(_claims(), secret=b"another secret")
    with pytest.raises(LinkTokenError) as refused:
        token_read(token, secret=SECRET, now=5_000)
    assert refused.value.code == "invalid"


def test_claims_refuse_what_a_link_cannot_hold():
    with pytest.raises(ValueError, match="decision"):
        _claims(decision="defer")
    with pytest.raises(ValueError, match="payload_sha256"):
        _claims(payload_sha256="short")
    with pytest.raises(ValueError, match="nonce"):
        _claims(nonce="x")


def test_nonces_are_fresh_and_well_formed():
    nonces = {new_nonce() for _ in range(50)}
    assert len(nonces) == 50
    assert all(_claims(nonce=n).nonce == n for n in nonces)
