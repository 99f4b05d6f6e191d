"""hubspot-api-client, through our connector, against the HubSpot sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import requests

from connectors import signatures
from connectors.base import ConnectionConfig, ConnectorError
from connectors.hubspot.connector import HubSpotConnector
from connectors.registry import connector_for
from connectors.sandbox.hubspot import HubSpotSandbox
from connectors.sandbox.server import FaultConfig, RateLimiter

EXT = "agentops_external_id"
TOKEN = "sandbox-token"


@pytest.fixture
def sandbox(serve_sandbox):
    return serve_sandbox(HubSpotSandbox())


def connector(sandbox, *, token: str = TOKEN, timeout: float = 2.0, **options) -> HubSpotConnector:
    config = ConnectionConfig(
        vendor="hubspot",
        base_url=sandbox.url,
        credentials={"access_token": token},
        timeout_seconds=timeout,
        options=options,
    )
    built = connector_for(config)
    assert isinstance(built, HubSpotConnector)
    return built


@pytest.fixture
def hs(sandbox):
    return connector(sandbox)


def contact(n: int, **extra) -> dict:
    return {EXT: f"lead-{n}", "email": f"ada{n}@example.com", "lastname": f"Lovelace {n}", **extra}


def test_it_batch_upserts_contacts_once_however_often_they_are_sent(hs, sandbox):
    first = hs.upsert("contact", id_property=EXT, records=[contact(1), contact(2)])
    again = hs.upsert("contact", id_property=EXT, records=[contact(2, jobtitle="CTO"), contact(1)])

    assert [(r.marker, r.created) for r in first] == [("lead-1", True), ("lead-2", True)]
    assert [(r.marker, r.created) for r in again] == [("lead-2", False), ("lead-1", False)]
    assert again[0].vendor_id == first[1].vendor_id
    assert len(sandbox.app.tables["contacts"]) == 2
    assert sandbox.app.effects == {("create", "contacts"): 2, ("update", "contacts"): 2}
    assert hs.read("contact", first[1].vendor_id).fields["jobtitle"] == "CTO"


def test_it_sends_100_inputs_per_batch_request(hs, sandbox):
    results = hs.upsert("lead", id_property=EXT, records=[contact(n) for n in range(250)])

    assert sandbox.app.request_count == 3
    assert [r.marker for r in results] == [f"lead-{n}" for n in range(250)]
    assert len(sandbox.app.tables["contacts"]) == 250


def test_a_batch_with_an_unknown_property_is_refused_whole(hs, sandbox):
    with pytest.raises(ConnectorError) as caught:
        hs.upsert("contact", id_property=EXT, records=[contact(1), contact(2, shoe_size=42)])

    assert (caught.value.status, caught.value.code, caught.value.retryable) == (400, "invalid", False)
    assert 'Property "shoe_size" does not exist' in str(caught.value)
    assert "correlation id" in str(caught.value)
    assert sandbox.app.effects == {}


def test_it_reads_a_contact_with_its_external_id_and_modification_time(hs):
    [written] = hs.upsert("contact", id_property=EXT, records=[contact(1, company="Engines")])

    record = hs.read("contact", written.vendor_id)

    assert (record.kind, record.vendor_id, record.external_id) == ("contact", written.vendor_id, "lead-1")
    assert record.fields["company"] == "Engines"
    assert record.modified_at is not None and record.modified_at.tzinfo is not None


def test_it_reads_companies(hs):
    [written] = hs.upsert("account", id_property=EXT, records=[{EXT: "acc-1", "name": "Engines Ltd"}])

    record = hs.read("account", written.vendor_id)

    assert (record.fields["name"], record.external_id) == ("Engines Ltd", "acc-1")


def test_it_maps_a_missing_record_to_not_found(hs):
    with pytest.raises(ConnectorError) as caught:
        hs.read("contact", "999999")

    assert (caught.value.status, caught.value.code, caught.value.retryable) == (404, "not_found", False)


def test_it_maps_a_bad_token_to_unauthorised(sandbox):
    with pytest.raises(ConnectorError) as caught:
        connector(sandbox, token="stolen").read("contact", "1")

    assert (caught.value.status, caught.value.code, caught.value.retryable) == (401, "unauthorised", False)


def test_it_assigns_an_owner(hs, sandbox):
    [written] = hs.upsert("contact", id_property=EXT, records=[contact(1)])

    result = hs.assign_owner("contact", written.vendor_id, owner_id="101", marker="act-1")

    assert (result.vendor_id, result.created, result.marker) == (written.vendor_id, False, "act-1")
    assert hs.read("contact", written.vendor_id).fields["hubspot_owner_id"] == "101"
    assert sandbox.app.effects[("update", "contacts")] == 1


def test_a_task_sent_twice_is_created_twice_and_found_by_its_marker(hs, sandbox):
    [written] = hs.upsert("contact", id_property=EXT, records=[contact(1)])

    first = hs.create_task(
        about_kind="contact", about_id=written.vendor_id, subject="Call", body="b", marker="act-7"
    )
    second = hs.create_task(
        about_kind="contact", about_id=written.vendor_id, subject="Call", body="b", marker="act-7"
    )
    found = hs.find_by_marker("task", "act-7")

    assert first.created and second.created and first.vendor_id != second.vendor_id
    assert sandbox.app.effects[("create", "tasks")] == 2  # the vendor offers no idempotency
    assert found is not None and found.vendor_id == first.vendor_id
    assert found.fields["hs_task_subject"] == "Call"
    assert sandbox.app.tables["tasks"][first.vendor_id]["associations"] == {"contacts": [written.vendor_id]}
    assert hs.find_by_marker("task", "act-8") is None


def test_a_task_about_a_company_is_associated_with_it(hs, sandbox):
    [company] = hs.upsert("account", id_property=EXT, records=[{EXT: "acc-1", "name": "Engines Ltd"}])

    task = hs.create_task(
        about_kind="account", about_id=company.vendor_id, subject="QBR", body="", marker="m1"
    )

    assert sandbox.app.tables["tasks"][task.vendor_id]["associations"] == {"companies": [company.vendor_id]}


def test_a_task_about_a_missing_contact_is_refused(hs, sandbox):
    with pytest.raises(ConnectorError) as caught:
        hs.create_task(about_kind="contact", about_id="424242", subject="Call", body="", marker="m")

    assert (caught.value.code, caught.value.status) == ("invalid", 400)
    assert sandbox.app.effects == {}


def test_it_finds_a_contact_by_its_external_id(hs):
    [written] = hs.upsert("contact", id_property=EXT, records=[contact(1)])

    found = hs.find_by_marker("lead", "lead-1")

    assert found is not None and found.vendor_id == written.vendor_id
    assert hs.find_by_marker("lead", "lead-2") is None


def test_after_a_dropped_answer_whose_write_took_effect_the_marker_finds_it(hs, sandbox):
    [written] = hs.upsert("contact", id_property=EXT, records=[contact(1)])
    sandbox.app.faults.configure(FaultConfig(drop=1.0, after_effect=1.0, path_pattern=r"/objects/tasks$"))

    with pytest.raises(ConnectorError) as caught:
        hs.create_task(
            about_kind="contact", about_id=written.vendor_id, subject="Call", body="", marker="act-9"
        )

    assert (caught.value.code, caught.value.retryable) == ("connection", True)
    assert hs.find_by_marker("task", "act-9") is not None
    assert sandbox.app.effects[("create", "tasks")] == 1


def test_it_enrols_a_contact_in_a_sequence_once(hs, sandbox):
    sandbox.app.add_owner(email="rep@example.com", user_id=77)
    sequence_id = sandbox.app.add_sequence("Inbound follow-up")
    [written] = hs.upsert("contact", id_property=EXT, records=[contact(1)])

    first = hs.enrol_in_sequence(
        contact_id=written.vendor_id, sequence_id=sequence_id, sender_id="77", marker="a"
    )
    again = hs.enrol_in_sequence(
        contact_id=written.vendor_id, sequence_id=sequence_id, sender_id="77", marker="a"
    )

    assert first.created and not again.created
    assert first.vendor_id == again.vendor_id
    assert sandbox.app.effects[("create", "enrollment")] == 1
    enrolment = sandbox.app.tables["enrollments"][first.vendor_id]
    assert (enrolment["contactId"], enrolment["sequenceId"], enrolment["enrolledByEmail"]) == (
        written.vendor_id,
        sequence_id,
        "rep@example.com",
    )


def test_a_contact_in_another_sequence_is_not_enrolled(hs, sandbox):
    sandbox.app.add_owner(email="rep@example.com", user_id=77)
    first_sequence = sandbox.app.add_sequence("One")
    second_sequence = sandbox.app.add_sequence("Two")
    [written] = hs.upsert("contact", id_property=EXT, records=[contact(1)])
    hs.enrol_in_sequence(contact_id=written.vendor_id, sequence_id=first_sequence, sender_id="77", marker="a")

    with pytest.raises(ConnectorError) as caught:
        hs.enrol_in_sequence(
            contact_id=written.vendor_id, sequence_id=second_sequence, sender_id="77", marker="b"
        )

    assert (caught.value.code, caught.value.retryable) == ("invalid", False)
    assert "already enrolled" in str(caught.value)


def test_it_reads_changes_since_a_time_oldest_first_across_pages(hs, sandbox):
    written = hs.upsert("contact", id_property=EXT, records=[contact(n) for n in range(150)])
    for n, result in enumerate(written):
        # Newest first in creation order, so sorting is visible; contact 149 is the oldest.
        stamp = (
            datetime.fromtimestamp(1_767_225_600 + 60 * (150 - n), tz=UTC).isoformat().replace("+00:00", "Z")
        )
        sandbox.app.tables["contacts"][result.vendor_id]["properties"]["lastmodifieddate"] = stamp
    since = datetime.fromtimestamp(1_767_225_600 + 60 * 10, tz=UTC)

    pages = [hs.changed_since("contact", since=since)]
    while pages[-1].next_cursor:
        pages.append(hs.changed_since("contact", since=None, cursor=pages[-1].next_cursor))

    assert [len(p.records) for p in pages] == [100, 40]
    markers = [r.external_id for p in pages for r in p.records]
    assert markers == [f"lead-{n}" for n in range(139, -1, -1)]  # modified after 10 minutes: 140 of them
    times = [r.modified_at for p in pages for r in p.records]
    assert times == sorted(times)


def test_past_the_search_depth_limit_it_starts_a_new_search_from_the_last_time(sandbox):
    sandbox.app.search_result_limit = 150
    hs = connector(sandbox, search_result_limit=150)
    written = hs.upsert("contact", id_property=EXT, records=[contact(n) for n in range(250)])
    for n, result in enumerate(written):
        stamp = datetime.fromtimestamp(1_767_225_600 + n, tz=UTC).isoformat().replace("+00:00", "Z")
        sandbox.app.tables["contacts"][result.vendor_id]["properties"]["lastmodifieddate"] = stamp

    pages = [hs.changed_since("contact", since=None)]
    while pages[-1].next_cursor:
        pages.append(hs.changed_since("contact", since=None, cursor=pages[-1].next_cursor))

    seen = [r.external_id for p in pages for r in p.records]
    restarts = [p.next_cursor for p in pages if p.next_cursor and p.next_cursor.startswith("GTE:")]
    assert len(restarts) == 2  # 100 + 100 would pass the depth of 150, so each page starts afresh
    assert set(seen) == {f"lead-{n}" for n in range(250)}
    assert len(seen) - len(set(seen)) == len(restarts)  # only the record at each restart time comes twice


@pytest.mark.parametrize(
    ("faults", "status", "code"),
    [
        (FaultConfig(server_error=1.0), 503, "server_error"),
        (FaultConfig(server_error=1.0, server_error_status=502), 502, "server_error"),
    ],
)
def test_it_marks_server_errors_retryable(hs, sandbox, faults, status, code):
    sandbox.app.faults.configure(faults)

    with pytest.raises(ConnectorError) as caught:
        hs.read("contact", "1")

    assert (caught.value.status, caught.value.code, caught.value.retryable) == (status, code, True)


def test_it_reports_429_with_the_vendors_retry_after(hs, sandbox):
    sandbox.app.rate_limit = RateLimiter(1, 10.0)
    hs.upsert("contact", id_property=EXT, records=[contact(1)])

    with pytest.raises(ConnectorError) as caught:
        hs.upsert("contact", id_property=EXT, records=[contact(2)])

    assert (caught.value.status, caught.value.code, caught.value.retryable) == (429, "rate_limited", True)
    assert caught.value.retry_after is not None and 9 <= caught.value.retry_after <= 10
    assert sandbox.app.effects == {("create", "contacts"): 1}


def test_it_times_out_and_says_so(sandbox):
    sandbox.app.faults.configure(FaultConfig(timeout=1.0, timeout_seconds=0.6))

    with pytest.raises(ConnectorError) as caught:
        connector(sandbox, timeout=0.2).read("contact", "1")

    assert (caught.value.code, caught.value.retryable) == ("timeout", True)


def test_a_refused_connection_is_retryable():
    config = ConnectionConfig(
        vendor="hubspot", base_url="http://127.0.0.1:9", credentials={"access_token": "x"}
    )

    with pytest.raises(ConnectorError) as caught:
        connector_for(config).read("contact", "1")

    assert (caught.value.code, caught.value.retryable) == ("connection", True)


def test_the_sandbox_sends_hubspots_rate_limit_headers_and_error_shape(sandbox):
    answer = requests.get(
        f"{sandbox.url}/crm/v3/objects/contacts/1", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=2
    )

    assert answer.status_code == 404
    body = answer.json()
    assert (body["status"], body["category"]) == ("error", "OBJECT_NOT_FOUND")
    assert body["correlationId"]
    assert answer.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert answer.headers["X-HubSpot-RateLimit-Remaining"] == "189"
    assert answer.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"


def test_the_sandbox_refuses_more_than_100_inputs_per_batch(sandbox):
    inputs = [{"idProperty": EXT, "id": str(n), "properties": {}} for n in range(101)]

    answer = requests.post(
        f"{sandbox.url}/crm/v3/objects/contacts/batch/upsert",
        json={"inputs": inputs},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=2,
    )

    assert (answer.status_code, answer.json()["category"]) == (400, "VALIDATION_ERROR")


def test_the_sandbox_sends_signed_webhooks_for_creations_and_property_changes(hs, sandbox, webhook_inbox):
    hook_url = f"{webhook_inbox.url}/hooks/hubspot"
    sandbox.app.webhooks.configure(url=hook_url)

    [written] = hs.upsert("contact", id_property=EXT, records=[contact(1)])
    hs.assign_owner("contact", written.vendor_id, owner_id="101", marker="a")
    hs.create_task(about_kind="contact", about_id=written.vendor_id, subject="Call", body="", marker="m")
    assert sandbox.app.webhooks.drain(timeout=5)

    deliveries = webhook_inbox.app.deliveries()
    events = [json.loads(d["body"])[0] for d in deliveries]
    assert [(e["subscriptionType"], e.get("propertyName")) for e in events] == [
        ("contact.creation", None),
        ("contact.propertyChange", "hubspot_owner_id"),
    ]  # no task webhooks, as HubSpot
    assert {e["objectId"] for e in events} == {int(written.vendor_id)}
    assert len({e["eventId"] for e in events}) == 2
    for delivery in deliveries:
        headers = delivery["headers"]
        assert signatures.hubspot_verify_v3(
            client_secret="sandbox-client-secret",
            method="POST",
            uri=hook_url,
            body=delivery["body"],
            signature=headers[signatures.HUBSPOT_SIGNATURE_HEADER.lower()],
            timestamp=headers[signatures.HUBSPOT_TIMESTAMP_HEADER.lower()],
            now=time.time(),
        )
