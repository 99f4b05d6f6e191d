"""What an agent declares about its own proposal is not taken on trust (issue 17, declared facts).

The domain follows the target, the risk has a floor the agent cannot lower, a confidence the agent
reports about itself cannot talk a policy out of asking a person, every outbound text is scanned
for compliance whoever wrote it, the ticket or lead the approver sees is the one acted on, and
header fields hold one line. Each attempt is made over HTTP with an agent's key; a refusal names
the field and writes nothing.
"""

from __future__ import annotations

import pytest

from approvals.models import ApprovalPolicy, ProposedAction
from audit.models import DecisionLogEntry
from tests.factories import LeadFactory, TicketFactory, sms_provider

pytestmark = pytest.mark.django_db

REPLY = {"body": "Here is how to reset your password."}


def _refused(response, field, detail):
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["field"] == field, body
    assert detail in body["detail"], body
    assert ProposedAction.objects.count() == 0
    assert DecisionLogEntry.objects.filter(subject_type="proposed_action").count() == 0


# --- The domain follows the target ------------------------------------------------------------


def test_it_cannot_file_a_ticket_reply_in_the_sales_queue(agent, ticket):
    response = agent.propose(kind="post_public_reply", payload=REPLY, ticket=ticket.pk, domain="sales")
    _refused(response, "domain", "domain: follows the target; this action belongs to support")


def test_it_cannot_file_a_lead_email_in_the_support_queue(agent):
    lead = LeadFactory(email="ada@example.com")
    response = agent.propose(lead=lead.pk, domain="support")
    _refused(response, "domain", "this action belongs to sales")


def test_naming_the_domain_the_target_gives_is_still_accepted(agent, ticket):
    response = agent.propose(kind="post_public_reply", payload=REPLY, ticket=ticket.pk, domain="support")
    assert response.status_code == 201, response.json()
    assert response.json()["domain"] == "support"


def test_a_support_kind_cannot_target_a_lead(agent, lead):
    response = agent.propose(kind="post_public_reply", payload=REPLY, lead=lead.pk)
    _refused(response, "lead", "lead: post_public_reply acts on a ticket, not a lead")


def test_a_sales_kind_cannot_target_a_ticket(agent, ticket):
    response = agent.propose(kind="update_crm_fields", payload={"fields": {"title": "CTO"}}, ticket=ticket.pk)
    _refused(response, "ticket", "ticket: update_crm_fields acts on a lead, not a ticket")


# --- The risk has a floor ---------------------------------------------------------------------


def test_an_email_declared_low_risk_is_stored_at_least_medium(agent):
    response = agent.propose(risk_level="low")
    assert response.status_code == 201, response.json()
    assert response.json()["risk_level"] == "medium"


def test_money_words_raise_a_message_declared_low_risk_to_high(agent):
    response = agent.propose(
        risk_level="low",
        payload={"to": "ada@example.com", "subject": "Good news", "body": "We will refund you €50."},
    )
    assert response.status_code == 201, response.json()
    assert response.json()["risk_level"] == "high"
    assert ProposedAction.objects.get().risk_level == "high"


def test_a_write_declared_low_risk_is_stored_at_least_medium(agent):
    response = agent.propose(
        kind="add_to_nurture", payload={"track": "Mid-funnel"}, risk_level="low", lead=LeadFactory().pk
    )
    assert response.status_code == 201, response.json()
    assert response.json()["risk_level"] == "medium"


def test_the_agent_may_still_raise_the_risk(agent):
    response = agent.propose(risk_level="critical")
    assert response.status_code == 201 and response.json()["risk_level"] == "critical"


# --- A confidence the agent reports about itself ----------------------------------------------


def _policies():
    ApprovalPolicy.objects.create(name="Tasks run on their own", outcome="auto", kinds=["create_task"])
    ApprovalPolicy.objects.create(
        name="Low-confidence proposals need two people", outcome="two_approvals", confidence_below=0.6
    )


def test_a_high_self_reported_confidence_does_not_escape_a_low_confidence_rule(agent, lead):
    _policies()
    response = agent.propose(
        kind="create_task", payload={"subject": "Call back"}, lead=lead.pk, confidence=0.99
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["required_approvals"]) == ("pending_approval", 2), body
    assert body["confidence_source"] == "agent"
    assert any("reported by the agent" in r for r in body["policy_reasons"]), body["policy_reasons"]


def test_a_policy_that_opts_into_agent_confidence_takes_it_at_face_value(agent, lead):
    _policies()
    ApprovalPolicy.objects.filter(confidence_below=0.6).update(confidence_sources=["agent"])
    response = agent.propose(
        kind="create_task", payload={"subject": "Call back"}, lead=lead.pk, confidence=0.99
    )
    assert response.json()["status"] == "approved", response.json()


def test_the_approver_sees_the_confidence_was_reported_by_the_agent(agent, lead, sdr_manager, client):
    action_id = agent.propose(kind="create_task", payload={"subject": "Call back"}, lead=lead.pk).json()["id"]
    client.force_login(sdr_manager)
    page = client.get(f"/approvals/{action_id}/")
    assert page.status_code == 200
    assert "reported by the agent" in page.content.decode()


# --- Compliance scanning of every outbound text -----------------------------------------------


def test_its_outbound_email_is_scanned_for_compliance_and_a_flag_policy_applies(agent):
    ApprovalPolicy.objects.create(name="Tasks run on their own", outcome="auto", kinds=["send_email"])
    ApprovalPolicy.objects.create(
        name="Pricing language needs two people", outcome="two_approvals", compliance_flags_any=["pricing"]
    )
    response = agent.propose(
        payload={"to": "ada@example.com", "subject": "Offer", "body": "A 20% discount on the price."}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "pending_approval" and response.json()["required_approvals"] == 2
    assert "pricing" in ProposedAction.objects.get().compliance_flags


def test_its_sms_and_public_reply_are_scanned_too(agent, ticket):
    sms_provider()
    sms = agent.propose(kind="send_sms", payload={"to": "+4930123456", "body": "Guaranteed returns!"})
    reply = agent.propose(
        kind="post_public_reply", payload={"body": "Your contract renews."}, ticket=ticket.pk
    )
    assert sms.status_code == 201 and reply.status_code == 201, (sms.json(), reply.json())
    assert "regulatory" in ProposedAction.objects.get(pk=sms.json()["id"]).compliance_flags
    assert "contract" in ProposedAction.objects.get(pk=reply.json()["id"]).compliance_flags


# --- The target the approver sees is the one acted on ------------------------------------------


def test_a_reply_naming_another_ticket_in_its_payload_is_refused(agent, ticket):
    other = TicketFactory()
    response = agent.propose(
        kind="post_public_reply", payload={**REPLY, "ticket": other.external_id}, ticket=ticket.pk
    )
    _refused(response, "payload.ticket", f"the action targets ticket {ticket.external_id}")


def test_a_payload_ticket_without_a_ticket_target_is_refused(agent):
    other = TicketFactory()
    response = agent.propose(kind="post_public_reply", payload={**REPLY, "ticket": other.external_id})
    _refused(response, "payload.ticket", "the action targets no ticket")


def test_the_same_payload_ticket_as_the_target_is_accepted(agent, ticket):
    response = agent.propose(
        kind="post_public_reply", payload={**REPLY, "ticket": ticket.external_id}, ticket=ticket.pk
    )
    assert response.status_code == 201, response.json()


def test_an_email_to_someone_else_than_the_lead_is_refused(agent):
    lead = LeadFactory(email="ada@example.com")
    response = agent.propose(
        lead=lead.pk, payload={"to": "mallory@evil.example", "subject": "Hi", "body": "Hello"}
    )
    _refused(response, "payload.to", "payload.to: must be the lead's own email address")


def test_an_email_to_the_lead_itself_is_accepted_whatever_the_case(agent):
    lead = LeadFactory(email="ada@example.com")
    response = agent.propose(lead=lead.pk, payload={"to": "Ada@Example.com", "subject": "Hi", "body": "Hi"})
    assert response.status_code == 201, response.json()


def test_a_text_to_someone_else_than_the_lead_is_refused(agent):
    sms_provider()
    lead = LeadFactory(phone="+49 30 123456")
    response = agent.propose(
        kind="send_sms", lead=lead.pk, payload={"to": "+4930999999", "body": "Hi. Reply STOP to opt out"}
    )
    _refused(response, "payload.to", "payload.to: must be the lead's own phone number")
    ok = agent.propose(
        kind="send_sms", lead=lead.pk, payload={"to": "+4930123456", "body": "Hi. Reply STOP to opt out"}
    )
    assert ok.status_code == 201, ok.json()


# --- Header fields hold one line --------------------------------------------------------------


@pytest.mark.parametrize("brk", ["\r\n", "\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c"])
def test_a_subject_with_a_line_break_is_refused(agent, brk):
    response = agent.propose(
        payload={"to": "ada@example.com", "subject": f"Hi{brk}Bcc: all@example.com", "body": "Hi"}
    )
    _refused(response, "payload.subject", "must be a single line")


def test_a_recipient_with_a_trailing_newline_is_refused(agent):
    response = agent.propose(payload={"to": "ada@example.com\n", "subject": "Hi", "body": "Hi"})
    _refused(response, "payload.to", "must be a single line")


def test_a_name_with_a_line_break_is_refused(agent, lead):
    response = agent.propose(kind="assign_owner", payload={"queue": "Inbound\nX-Injected: 1"}, lead=lead.pk)
    _refused(response, "payload.queue", "must be a single line")


def test_an_approver_edit_that_breaks_a_subject_into_lines_is_refused(agent, sdr_manager):
    from rest_framework.test import APIClient

    proposed = agent.propose().json()
    action_id = proposed["id"]
    approver = APIClient()
    approver.force_authenticate(sdr_manager)
    body = {"edits": {"subject": "Hi\r\nBcc: all@example.com"}}
    if "payload_sha256" in proposed:  # an approval names the content it read (issue 17, decisions)
        body["payload_sha256"] = proposed["payload_sha256"]
    response = approver.post(f"/api/v1/actions/{action_id}/approve/", body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid_edit"
    assert "payload.subject: must be a single line" in response.json()["detail"]
    assert ProposedAction.objects.get(pk=action_id).payload["subject"] == "Hello"
