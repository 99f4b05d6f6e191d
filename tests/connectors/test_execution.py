"""Outbound execution through the official clients against the sandbox over HTTP on 127.0.0.1:
routing and write scopes, attempts and the decision log, exactly once after an unknown outcome,
consent for messages, the approved payload, quotas, and the call log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from approvals.executors import executor_for
from approvals.models import ProposedAction
from approvals.services import payload_sha256
from audit.models import DecisionLogEntry
from connectors.calls import CONNECTOR_CALLS
from connectors.execution import action_execution_retry, actions_execute
from connectors.models import ActionExecution, ActionRoute, ExecutionAttempt
from connectors.sandbox.server import FaultConfig
from operations.models import Quota
from sales.choices import ConsentState
from sales.models import Lead
from tests.connectors.execution_world import approved_tasks, fast_settings, hubspot_world
from tests.factories import LeadFactory, ProposedActionFactory, approved_action

pytestmark = pytest.mark.django_db


def test_it_creates_a_task_once_with_an_attempt_and_a_log_entry(serve_sandbox):
    world = hubspot_world(serve_sandbox, leads=1)
    [action_id] = approved_tasks(1)
    calls_before = CONNECTOR_CALLS.labels("hubspot-sandbox", "hubspot", "201")._value.get()

    summary = actions_execute(settings=fast_settings())

    action = ProposedAction.objects.get(pk=action_id)
    assert (summary.counts, action.status, action.target_system) == (
        {"executed": 1},
        "executed",
        "hubspot-sandbox",
    )
    [attempt] = ExecutionAttempt.objects.filter(action=action)
    assert (attempt.number, attempt.outcome, attempt.operation) == (1, "ok", "create_task")
    assert attempt.correlation_id == action.correlation_id and attempt.latency_ms is not None
    [task] = world.app.tables["tasks"].values()
    assert task["properties"]["agentops_marker"] == action.idempotency_key
    assert ActionExecution.objects.get(action=action).vendor_id == task["id"]
    moves = DecisionLogEntry.objects.filter(subject_type="proposed_action", subject_id=str(action_id))
    assert sorted(e.action_taken["to"] for e in moves) == ["executed", "executing"]
    assert CONNECTOR_CALLS.labels("hubspot-sandbox", "hubspot", "201")._value.get() == calls_before + 1


def test_a_connection_without_the_write_scope_refuses_with_a_clear_failure(serve_sandbox):
    world = hubspot_world(serve_sandbox, leads=1, scopes=())
    [action_id] = approved_tasks(1)

    actions_execute(settings=fast_settings())

    action = ProposedAction.objects.get(pk=action_id)
    execution = ActionExecution.objects.get(action=action)
    assert action.status == "failed"
    assert "no_write_scope" in execution.last_error and "read-only by default" in execution.last_error
    assert not ExecutionAttempt.objects.filter(action=action).exists()
    assert world.tasks_created() == 0


def test_an_action_with_no_route_fails_saying_so():
    lead = LeadFactory(hubspot_id="1")
    payload = {"fields": {"lifecyclestage": "lead"}}
    action = ProposedActionFactory(
        kind="update_crm_fields",
        lead=lead,
        payload=payload,
        status="approved",
        approved_payload_sha256=payload_sha256(payload),
    )

    actions_execute(settings=fast_settings())

    action.refresh_from_db()
    assert action.status == "failed"
    assert "no_route" in ActionExecution.objects.get(action=action).last_error


@pytest.mark.parametrize("kind", ["flag_for_review", "account_lookup"])
def test_kinds_no_executor_carries_out_are_never_picked_up(kind):
    action = ProposedActionFactory(
        kind=kind, status="approved", approved_payload_sha256=payload_sha256({"cadence": "Inbound hot"})
    )
    assert executor_for(kind) is None

    actions_execute(settings=fast_settings())

    action.refresh_from_db()
    assert action.status == "approved" and not ActionExecution.objects.filter(action=action).exists()


def test_every_kind_that_is_carried_out_has_exactly_one_executor():
    assert executor_for("enrol_cadence").name == "cadences"
    assert executor_for("config_change").name == "change control"
    # A handoff moves the ticket in the helpdesk (issue 20): before, it had no executor and an
    # approved one stayed approved forever.
    assert {
        executor_for(k).name for k in ("create_task", "send_email", "post_public_reply", "handoff_to_human")
    } == {"connectors"}


def test_a_timeout_after_the_effect_is_found_by_its_marker_and_not_created_again(serve_sandbox):
    world = hubspot_world(serve_sandbox, leads=1)
    [action_id] = approved_tasks(1)
    # Every task creation times out after taking effect; the search that checks is healthy.
    world.app.faults.configure(
        FaultConfig(
            timeout=1.0,
            after_effect=1.0,
            timeout_seconds=0.4,
            path_pattern=r"/objects/tasks$",
            methods=("POST",),
        )
    )

    actions_execute(settings=fast_settings())

    attempts = list(ExecutionAttempt.objects.filter(action_id=action_id).values_list("outcome", "error_code"))
    assert attempts == [("unknown", "timeout"), ("found", "")]
    assert ProposedAction.objects.get(pk=action_id).status == "executed"
    assert world.tasks_created() == 1


def test_a_retryable_error_is_retried_and_a_permanent_one_fails_with_the_last_error(serve_sandbox):
    world = hubspot_world(serve_sandbox, leads=2)
    ok_id, bad_id = approved_tasks(2)
    ProposedAction.objects.filter(pk=bad_id).update(payload={"subject": "x" * 300})  # over the schema's 255

    world.app.faults.configure(
        FaultConfig(server_error=1.0, path_pattern=r"/objects/tasks$", methods=("POST",))
    )
    summary = actions_execute(settings=fast_settings(max_attempts=3))

    assert summary.counts.get("failed") == 2
    ok = ActionExecution.objects.get(action_id=ok_id)
    assert ok.attempts == 3 and "server_error" in ok.last_error
    bad = ActionExecution.objects.get(action_id=bad_id)
    assert bad.attempts == 0 and "payload.subject" in bad.last_error

    # An operator retries the failed action once the vendor is healthy: it runs exactly once.
    world.app.faults.configure(FaultConfig())
    action_execution_retry(action_id=ok_id, actor="olivia")
    actions_execute(settings=fast_settings())
    assert ProposedAction.objects.get(pk=ok_id).status == "executed"
    assert world.tasks_created() == 1  # 503s before the effect created nothing


def test_a_payload_changed_after_approval_is_refused(serve_sandbox):
    world = hubspot_world(serve_sandbox, leads=1)
    [action_id] = approved_tasks(1)
    ProposedAction.objects.filter(pk=action_id).update(payload={"subject": "Something else"})

    actions_execute(settings=fast_settings())

    assert ProposedAction.objects.get(pk=action_id).status == "failed"
    assert "differs from the approved one" in ActionExecution.objects.get(action_id=action_id).last_error
    assert world.tasks_created() == 0


def _email(lead, key):
    payload = {"to": lead.email, "subject": "Hello", "body": "Hi Ada"}
    return approved_action("send_email", payload, lead=lead, idempotency_key=key)


def test_an_email_goes_out_once_through_the_mail_backend_and_an_opted_out_leads_is_cancelled():
    # An email goes to its lead's own address (approvals.targets), checked again before sending.
    sent = _email(LeadFactory(consent_state=ConsentState.GRANTED, email="ada@example.com"), "mail-1")
    withheld = _email(LeadFactory(consent_state=ConsentState.OPTED_OUT, email="bo@example.com"), "mail-2")

    actions_execute(settings=fast_settings())
    actions_execute(settings=fast_settings())

    sent.refresh_from_db()
    withheld.refresh_from_db()
    assert (sent.status, withheld.status) == ("executed", "cancelled")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].extra_headers["Message-ID"] == "<mail-1@agentops>"
    assert "opted out" in ActionExecution.objects.get(action=withheld).last_error


def test_a_quota_holds_the_excess_visibly_and_releases_it_when_the_window_has_room(serve_sandbox):
    world = hubspot_world(serve_sandbox, leads=3)
    ids = approved_tasks(3)
    Quota.objects.create(
        name="tasks per hour", scope="action_kind", target="create_task", window="hour", limit=2
    )

    actions_execute(settings=fast_settings())

    statuses = dict(ProposedAction.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert sorted(statuses.values()) == ["approved", "executed", "executed"]
    [held] = [pk for pk, status in statuses.items() if status == "approved"]
    execution = ActionExecution.objects.get(action_id=held)
    assert "quota reached" in execution.hold_reason
    assert execution.due_at > timezone.now() + timedelta(minutes=50)
    assert world.tasks_created() == 2

    # An hour later the window has room: the held action runs, once.
    ProposedAction.objects.filter(status="executed").update(
        execution_started_at=timezone.now() - timedelta(hours=2)
    )
    ActionExecution.objects.filter(pk=execution.pk).update(due_at=timezone.now())
    actions_execute(settings=fast_settings())

    assert ProposedAction.objects.get(pk=held).status == "executed"
    assert ActionExecution.objects.get(action_id=held).hold_reason == ""
    assert world.tasks_created() == 3


def test_the_admin_shows_held_and_failed_executions_and_retries_a_failed_one(admin_client, serve_sandbox):
    world = hubspot_world(serve_sandbox, leads=1, scopes=())
    [action_id] = approved_tasks(1)
    actions_execute(settings=fast_settings())
    execution = ActionExecution.objects.get(action_id=action_id)

    page = admin_client.get("/admin/connectors/actionexecution/")
    assert page.status_code == 200
    assert admin_client.get("/admin/connectors/actionroute/").status_code == 200
    assert admin_client.get("/admin/connectors/executionattempt/").status_code == 200

    world.connection.write_scopes = ["create_task"]
    world.connection.save()
    admin_client.post(
        "/admin/connectors/actionexecution/",
        {"action": "retry_failed", "_selected_action": [execution.pk]},
    )
    actions_execute(settings=fast_settings())

    assert ProposedAction.objects.get(pk=action_id).status == "executed"
    assert world.tasks_created() == 1


def _field_updates(count: int, *, bad: int | None = None) -> list[int]:
    actions = []
    for n, lead in enumerate(Lead.objects.order_by("pk")[:count]):
        payload = {"fields": {"shoe_size" if n == bad else "lifecyclestage": "salesqualifiedlead"}}
        actions.append(
            ProposedAction(
                kind="update_crm_fields", domain="sales", lead=lead, payload=payload, rationale="Qualified.",
                confidence=0.9, status="approved", approved_payload_sha256=payload_sha256(payload),
                idempotency_key=f"fields-{n}", proposed_by="sdr-agent",
            )
        )  # fmt: skip
    return [a.pk for a in ProposedAction.objects.bulk_create(actions)]


def test_field_updates_go_out_through_the_batch_upsert_100_records_a_request(serve_sandbox):
    world = hubspot_world(serve_sandbox, leads=250, scopes=("update_crm_fields",))
    ActionRoute.objects.create(kind="update_crm_fields", connection=world.connection)
    ids = _field_updates(250)
    before = world.app.request_count

    actions_execute(settings=fast_settings(batch_size=250))

    assert world.app.request_count - before == 3
    assert set(ProposedAction.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"executed"}
    assert ExecutionAttempt.objects.filter(action_id__in=ids, outcome="ok").count() == 250
    assert "" not in set(
        ActionExecution.objects.filter(action_id__in=ids).values_list("vendor_id", flat=True)
    )
    stored = {
        c["properties"]["agentops_external_id"]: c["properties"]
        for c in world.app.tables["contacts"].values()
    }
    assert stored["demo:lead-7"]["lifecyclestage"] == "salesqualifiedlead"


def test_a_batch_the_vendor_refuses_is_retried_one_by_one_so_only_the_bad_record_fails(serve_sandbox):
    world = hubspot_world(serve_sandbox, leads=5, scopes=("update_crm_fields",))
    ActionRoute.objects.create(kind="update_crm_fields", connection=world.connection)
    ids = _field_updates(5, bad=2)

    actions_execute(settings=fast_settings())

    statuses = dict(ProposedAction.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert [statuses[pk] for pk in ids] == ["executed", "executed", "failed", "executed", "executed"]
    assert 'Property "shoe_size" does not exist' in ActionExecution.objects.get(action_id=ids[2]).last_error


def test_the_executor_acts_on_the_actions_ticket_and_refuses_a_payload_naming_another():
    # A row written before the proposal-time check (or by a producer's bug): the approver saw tkt A.
    from tests.factories import TicketFactory

    seen, other = TicketFactory(), TicketFactory()
    payload = {"body": "Here is how to reset it.", "ticket": other.external_id}
    action = ProposedActionFactory(
        kind="post_public_reply",
        domain="support",
        lead=None,
        ticket=seen,
        payload=payload,
        status="approved",
        approved_payload_sha256=payload_sha256(payload),
    )

    actions_execute(settings=fast_settings())

    action.refresh_from_db()
    error = ActionExecution.objects.get(action=action).last_error
    assert action.status == "failed"
    assert error.startswith("wrong_target: payload.ticket") and f"targets ticket {seen.external_id}" in error
    assert not ExecutionAttempt.objects.filter(action=action).exists()


def test_the_executor_refuses_an_email_edited_to_someone_else_than_the_lead():
    lead = LeadFactory(consent_state=ConsentState.GRANTED, email="ada@example.com")
    action = _email(lead, "mail-edited")
    edited = {**action.payload, "to": "mallory@evil.example"}
    ProposedAction.objects.filter(pk=action.pk).update(
        payload=edited, approved_payload_sha256=payload_sha256(edited)
    )

    actions_execute(settings=fast_settings())

    action.refresh_from_db()
    assert action.status == "failed" and len(mail.outbox) == 0
    assert (
        "payload.to: must be the lead's own email address"
        in ActionExecution.objects.get(action=action).last_error
    )
