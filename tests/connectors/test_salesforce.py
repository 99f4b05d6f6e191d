"""simple-salesforce, through our connector, against the Salesforce sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree

import pytest
import requests

from connectors import signatures
from connectors.base import ConnectionConfig, ConnectorError
from connectors.registry import connector_for
from connectors.salesforce.connector import SalesforceConnector
from connectors.sandbox.salesforce import SalesforceSandbox, parse_soql
from connectors.sandbox.server import FaultConfig

EXT = "AgentOps_External_Id__c"
TOKEN = "sandbox-session"


@pytest.fixture
def sandbox(serve_sandbox):
    running = serve_sandbox(SalesforceSandbox())
    running.app.add_record("User", {"Username": "rep@example.com", "LastName": "Rep"})
    running.app.add_record("ActionCadence", {"Name": "Inbound follow-up", "State": "Active"})
    return running


def connector(sandbox, *, token: str = TOKEN, timeout: float = 2.0) -> SalesforceConnector:
    config = ConnectionConfig(
        vendor="salesforce",
        base_url=sandbox.url,
        credentials={"access_token": token},
        timeout_seconds=timeout,
    )
    built = connector_for(config)
    assert isinstance(built, SalesforceConnector)
    return built


@pytest.fixture
def sf(sandbox):
    return connector(sandbox)


def lead(n: int, **extra) -> dict:
    return {EXT: f"lead-{n}", "LastName": f"Lovelace {n}", "Company": "Analytical Engines", **extra}


def test_it_upserts_a_lead_by_external_id_once_however_often_it_is_sent(sf, sandbox):
    first = sf.upsert("lead", id_property=EXT, records=[lead(1)])
    again = sf.upsert("lead", id_property=EXT, records=[lead(1, Email="ada@example.com")])

    assert first[0].created and not again[0].created
    assert first[0].vendor_id == again[0].vendor_id
    assert first[0].marker == "lead-1"
    assert len(sandbox.app.tables["Lead"]) == 1
    assert sandbox.app.effects == {("create", "Lead"): 1, ("update", "Lead"): 1}
    assert sf.read("lead", first[0].vendor_id).fields["Email"] == "ada@example.com"


def test_it_reads_a_lead_with_its_external_id_and_modification_time(sf):
    [written] = sf.upsert("lead", id_property=EXT, records=[lead(1, Email="ada@example.com")])

    record = sf.read("lead", written.vendor_id)

    assert (record.kind, record.vendor_id, record.external_id) == ("lead", written.vendor_id, "lead-1")
    assert record.fields["Company"] == "Analytical Engines"
    assert "attributes" not in record.fields
    assert record.modified_at is not None and record.modified_at.tzinfo is not None


def test_it_reads_contacts_and_accounts(sf):
    [account] = sf.upsert("account", id_property=EXT, records=[{EXT: "acc-1", "Name": "Engines Ltd"}])
    [contact] = sf.upsert(
        "contact",
        id_property=EXT,
        records=[{EXT: "con-1", "LastName": "Babbage", "AccountId": account.vendor_id}],
    )

    assert sf.read("account", account.vendor_id).fields["Name"] == "Engines Ltd"
    assert sf.read("contact", contact.vendor_id).fields["AccountId"] == account.vendor_id


def test_it_upserts_many_leads_through_collections_of_200(sf, sandbox):
    sf.upsert("lead", id_property=EXT, records=[lead(n) for n in range(10)])
    before = sandbox.app.request_count

    results = sf.upsert("lead", id_property=EXT, records=[lead(n) for n in range(250)])

    assert sandbox.app.request_count - before == 2
    assert [r.marker for r in results] == [f"lead-{n}" for n in range(250)]
    assert [r.created for r in results] == [False] * 10 + [True] * 240
    assert len(sandbox.app.tables["Lead"]) == 250
    assert sandbox.app.effects[("create", "Lead")] == 250


def test_a_collection_with_one_bad_record_applies_none(sf, sandbox):
    records = [lead(1), {EXT: "lead-2", "LastName": "No company"}, lead(3)]

    with pytest.raises(ConnectorError) as caught:
        sf.upsert("lead", id_property=EXT, records=records)

    assert (caught.value.code, caught.value.retryable) == ("invalid", False)
    assert "lead-2: REQUIRED_FIELD_MISSING" in str(caught.value)
    assert sandbox.app.tables["Lead"] == {}
    assert sandbox.app.effects == {}


def test_it_maps_an_invalid_record_to_a_non_retryable_error(sf):
    with pytest.raises(ConnectorError) as caught:
        sf.upsert("lead", id_property=EXT, records=[lead(1, Shoe_Size__c=42)])

    assert (caught.value.status, caught.value.code, caught.value.retryable) == (400, "invalid", False)
    assert "INVALID_FIELD" in str(caught.value)


def test_it_maps_a_missing_record_to_not_found(sf):
    with pytest.raises(ConnectorError) as caught:
        sf.read("lead", "00Q000000000099AAA")

    assert (caught.value.status, caught.value.code, caught.value.retryable) == (404, "not_found", False)


def test_it_maps_a_bad_token_to_unauthorised(sandbox):
    with pytest.raises(ConnectorError) as caught:
        connector(sandbox, token="stolen").read("lead", "00Q000000000001AAA")

    assert (caught.value.status, caught.value.code, caught.value.retryable) == (401, "unauthorised", False)


def test_it_assigns_an_owner(sf, sandbox):
    [written] = sf.upsert("lead", id_property=EXT, records=[lead(1)])
    owner = "005000000000002AAA"

    result = sf.assign_owner("lead", written.vendor_id, owner_id=owner, marker="act-1")
    sf.assign_owner("lead", written.vendor_id, owner_id=owner, marker="act-1")

    assert (result.vendor_id, result.created, result.marker) == (written.vendor_id, False, "act-1")
    assert sf.read("lead", written.vendor_id).fields["OwnerId"] == owner
    assert sandbox.app.effects[("update", "Lead")] == 2  # a plain update: repeating it changes nothing


def test_a_task_sent_twice_is_created_twice_and_found_by_its_marker(sf, sandbox):
    [written] = sf.upsert("lead", id_property=EXT, records=[lead(1)])

    first = sf.create_task(
        about_kind="lead", about_id=written.vendor_id, subject="Call", body="b", marker="act-7"
    )
    second = sf.create_task(
        about_kind="lead", about_id=written.vendor_id, subject="Call", body="b", marker="act-7"
    )
    found = sf.find_by_marker("task", "act-7")

    assert first.created and second.created and first.vendor_id != second.vendor_id
    assert sandbox.app.effects[("create", "Task")] == 2  # the vendor offers no idempotency
    assert found is not None and found.vendor_id == first.vendor_id
    assert found.fields["WhoId"] == written.vendor_id
    assert found.fields["AgentOps_Marker__c"] == "act-7"
    assert sf.find_by_marker("task", "act-8") is None


def test_a_task_about_an_account_is_linked_by_what_id(sf):
    [account] = sf.upsert("account", id_property=EXT, records=[{EXT: "acc-1", "Name": "Engines Ltd"}])

    task = sf.create_task(
        about_kind="account", about_id=account.vendor_id, subject="QBR", body="", marker="m'1"
    )

    assert sf.read("task", task.vendor_id).fields["WhatId"] == account.vendor_id
    found = sf.find_by_marker("task", "m'1")  # quotes are escaped in SOQL
    assert found is not None and found.vendor_id == task.vendor_id


def test_it_finds_a_lead_by_its_external_id(sf):
    [written] = sf.upsert("lead", id_property=EXT, records=[lead(1)])

    found = sf.find_by_marker("lead", "lead-1")

    assert found is not None and found.vendor_id == written.vendor_id
    assert sf.find_by_marker("lead", "lead-2") is None


def test_after_a_timeout_whose_write_took_effect_the_marker_finds_it(sandbox):
    sf = connector(sandbox, timeout=0.2)
    [written] = sf.upsert("lead", id_property=EXT, records=[lead(1)])
    sandbox.app.faults.configure(
        FaultConfig(timeout=1.0, timeout_seconds=0.6, after_effect=1.0, methods=("POST",))
    )

    with pytest.raises(ConnectorError) as caught:
        sf.create_task(about_kind="lead", about_id=written.vendor_id, subject="Call", body="", marker="act-9")

    assert (caught.value.code, caught.value.retryable) == ("timeout", True)
    found = sf.find_by_marker("task", "act-9")
    assert found is not None
    assert sandbox.app.effects[("create", "Task")] == 1


def test_it_enrols_a_lead_in_a_cadence_once(sf, sandbox):
    [written] = sf.upsert("lead", id_property=EXT, records=[lead(1)])
    [cadence_id] = sandbox.app.tables["ActionCadence"]

    first = sf.enrol_in_sequence(
        contact_id=written.vendor_id, sequence_id=cadence_id, sender_id="005000000000001AAA", marker="act-3"
    )
    again = sf.enrol_in_sequence(
        contact_id=written.vendor_id, sequence_id=cadence_id, sender_id="005000000000001AAA", marker="act-3"
    )

    assert first.created and not again.created
    assert first.vendor_id == again.vendor_id
    assert sandbox.app.effects[("create", "ActionCadenceTracker")] == 1
    tracker = sandbox.app.tables["ActionCadenceTracker"][first.vendor_id]
    assert (tracker["TargetId"], tracker["ActionCadenceId"], tracker["State"]) == (
        written.vendor_id,
        cadence_id,
        "Running",
    )


def test_it_refuses_an_enrolment_in_an_unknown_cadence(sf):
    [written] = sf.upsert("lead", id_property=EXT, records=[lead(1)])

    with pytest.raises(ConnectorError) as caught:
        sf.enrol_in_sequence(
            contact_id=written.vendor_id, sequence_id="7cd000000000099AAA", sender_id="x", marker="m"
        )

    assert (caught.value.code, caught.value.retryable) == ("invalid", False)
    assert "No sales cadence" in str(caught.value)


def test_it_reads_changes_since_a_time_oldest_first_across_pages(sf, sandbox):
    sandbox.app.query_batch_size = 2
    written = sf.upsert("lead", id_property=EXT, records=[lead(n) for n in range(6)])
    stamps = [f"2026-01-0{day}T10:00:00.000+0000" for day in (6, 5, 4, 3, 2, 1)]
    for result, stamp in zip(written, stamps, strict=True):
        sandbox.app.tables["Lead"][result.vendor_id]["SystemModstamp"] = stamp

    pages = [sf.changed_since("lead", since=datetime(2026, 1, 1, 12, tzinfo=UTC))]
    while pages[-1].next_cursor:
        pages.append(sf.changed_since("lead", since=None, cursor=pages[-1].next_cursor))

    assert [len(p.records) for p in pages] == [2, 2, 1]
    markers = [r.external_id for p in pages for r in p.records]
    assert markers == ["lead-4", "lead-3", "lead-2", "lead-1", "lead-0"]
    assert pages[0].records[0].modified_at == datetime(2026, 1, 2, 10, tzinfo=UTC)


def test_it_reads_every_record_when_there_is_no_since(sf):
    sf.upsert("lead", id_property=EXT, records=[lead(n) for n in range(3)])

    page = sf.changed_since("lead", since=None)

    assert (len(page.records), page.next_cursor) == (3, None)


@pytest.mark.parametrize(
    ("faults", "status", "code"),
    [
        (FaultConfig(server_error=1.0), 503, "server_error"),
        (FaultConfig(rate_limited=1.0), 403, "rate_limited"),
    ],
)
def test_it_marks_server_errors_and_api_limits_retryable(sf, sandbox, faults, status, code):
    sandbox.app.faults.configure(faults)

    with pytest.raises(ConnectorError) as caught:
        sf.read("lead", "00Q000000000001AAA")

    assert (caught.value.status, caught.value.code, caught.value.retryable) == (status, code, True)


def test_it_times_out_and_says_so(sandbox):
    sandbox.app.faults.configure(FaultConfig(timeout=1.0, timeout_seconds=0.6))

    with pytest.raises(ConnectorError) as caught:
        connector(sandbox, timeout=0.2).read("lead", "00Q000000000001AAA")

    assert (caught.value.code, caught.value.retryable) == ("timeout", True)


def test_a_dropped_connection_is_retryable(sf, sandbox):
    sandbox.app.faults.configure(FaultConfig(drop=1.0))

    with pytest.raises(ConnectorError) as caught:
        sf.read("lead", "00Q000000000001AAA")

    assert (caught.value.code, caught.value.retryable) == ("connection", True)


def test_the_sandbox_reports_api_usage_and_salesforce_style_errors(sandbox):
    answer = requests.get(
        f"{sandbox.url}/services/data/v59.0/sobjects/Lead/00Q000000000001AAA",
        headers={"Authorization": "Bearer sandbox-session"},
        timeout=2,
    )

    assert answer.status_code == 404
    assert answer.json() == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
    assert answer.headers["Sforce-Limit-Info"] == "api-usage=1/100000"


def test_the_sandbox_understands_our_soql_subset_and_rejects_the_rest():
    query = parse_soql(
        "SELECT Id, Name FROM Lead WHERE Email = 'a\\'b' AND SystemModstamp > 2026-01-01T00:00:00+00:00 "
        "ORDER BY SystemModstamp ASC, Id DESC LIMIT 5"
    )

    assert query["object"] == "Lead"
    assert query["fields"] == ["Id", "Name"]
    assert query["conditions"][0] == ("Email", "=", "a'b")
    assert query["conditions"][1][2] == datetime(2026, 1, 1, tzinfo=UTC)
    assert query["order"] == [("SystemModstamp", False), ("Id", True)]
    assert query["limit"] == 5
    with pytest.raises(Exception, match="only AND"):
        parse_soql("SELECT Id FROM Lead WHERE Email = 'a' OR Email = 'b'")


def test_the_sandbox_rejects_an_unknown_column_in_a_query(sf):
    with pytest.raises(ConnectorError) as caught:
        sf._query("SELECT Shoe_Size__c FROM Lead")

    assert (caught.value.code, caught.value.status) == ("invalid", 400)


def test_the_sandbox_sends_outbound_messages_with_the_org_id(sf, sandbox, webhook_inbox):
    sandbox.app.webhooks.configure(url=f"{webhook_inbox.url}/hooks/salesforce?secret=s3cret")

    [written] = sf.upsert("lead", id_property=EXT, records=[lead(1, Email="ada&co@example.com")])
    sf.create_task(about_kind="lead", about_id=written.vendor_id, subject="Call", body="", marker="m")
    assert sandbox.app.webhooks.drain(timeout=5)

    [delivery] = webhook_inbox.app.deliveries()  # tasks are not sent, leads are
    assert delivery["query"] == {"secret": ["s3cret"]}
    assert delivery["headers"]["content-type"].startswith("text/xml")
    ns = {"o": "http://soap.sforce.com/2005/09/outbound", "sf": "urn:sobject.enterprise.soap.sforce.com"}
    envelope = ElementTree.fromstring(delivery["body"])  # noqa: S314 - our own sandbox's output
    notifications = envelope.find(".//o:notifications", ns)
    assert notifications is not None
    assert signatures.salesforce_verify_outbound(
        expected_organization_id="00D000000000001AAA",
        organization_id=notifications.findtext("o:OrganizationId", namespaces=ns),
        shared_secret="s3cret",
        given_secret=delivery["query"]["secret"][0],
    )
    sobject = notifications.find("o:Notification/o:sObject", ns)
    assert sobject.findtext("sf:Id", namespaces=ns) == written.vendor_id
    assert sobject.findtext("sf:Email", namespaces=ns) == "ada&co@example.com"
