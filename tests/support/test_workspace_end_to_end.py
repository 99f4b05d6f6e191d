"""The support lead's workspace against the Zendesk and Intercom sandboxes over HTTP (issue 20): a
sensitive ticket arrives by webhook and the bot hands it off at once; a support lead opens it,
corrects its intent and sends her reply from the ticket's page; the policy holds replies for a
person, so another support lead approves it there; the outbox posts it and the customer sees it in
the helpdesk, read through the vendor's API. The correction ends the next training run's training
split."""

from __future__ import annotations

import pytest
from django.test import Client

from approvals.models import ApprovalPolicy, ProposedAction
from scoring.intent import read_examples, split_examples
from scoring.intent_examples import intent_training_examples
from scoring.intent_services import BANKING77
from support.models import Ticket
from tests.factories import user_in_role
from tests.support.test_bot_services import champion  # noqa: F401 - the trained model, once per session
from tests.support.test_end_to_end import VENDORS, helpdesk, servers  # noqa: F401 - the sandboxes

pytestmark = pytest.mark.django_db

REPLY = "Hi Ana, I have refunded the order; you will see it on your statement within 5 days."


def _lead(username: str) -> Client:
    client = Client()
    client.force_login(user_in_role("Support leads", username=username))
    return client


@pytest.mark.parametrize("helpdesk", VENDORS, indirect=True)
def test_a_handed_off_ticket_gets_the_leads_reply_once_another_lead_approves_it(helpdesk):  # noqa: F811
    # Support actions go on their own (the fixture's policy), replies wait for a person.
    ApprovalPolicy.objects.create(
        name="A person reads replies", outcome="one_approval", kinds=["post_public_reply"]
    )
    external_id = helpdesk.open_ticket("I want a refund for my purchase")
    helpdesk.round_trip()
    ticket = Ticket.objects.get(source=helpdesk.vendor, external_id=external_id)
    assert ticket.bot_run.outcome == "handed_off"
    (note,) = helpdesk.ours(external_id)
    assert not note["public"]  # the handoff's summary, for the helpdesk's agents

    priya, tom = _lead("priya"), _lead("tom")
    page = priya.get(f"/support/tickets/{ticket.pk}/")
    assert page.status_code == 200 and page.context["ticket"].state == "handed_off"
    assert (
        priya.post(f"/support/tickets/{ticket.pk}/intent/", {"intent": "Refund_not_showing_up"}).status_code
        == 302
    )
    assert priya.post(f"/support/tickets/{ticket.pk}/reply/", {"body": REPLY}).status_code == 302
    reply = ProposedAction.objects.get(ticket=ticket, kind="post_public_reply")
    assert reply.status == "pending_approval" and reply.proposed_by == "user:priya"
    helpdesk.execute()
    assert [m for m in helpdesk.ours(external_id) if m["public"]] == []  # nothing out before approval

    shown = tom.get(f"/support/tickets/{ticket.pk}/").context["reply_form"]
    approved = tom.post(
        f"/support/tickets/{ticket.pk}/reply/",
        {"action": shown["action"].value(), "payload_sha256": shown["payload_sha256"].value(), "body": REPLY},
    )
    assert approved.status_code == 302
    helpdesk.execute()

    reply.refresh_from_db()
    assert reply.status == "executed"
    (sent,) = [m for m in helpdesk.ours(external_id) if m["public"]]
    assert REPLY in sent["body"]  # the customer sees it in the helpdesk
    # The next training run's training split ends with the correction.
    examples = read_examples(BANKING77)
    split = split_examples(examples)
    train, added = intent_training_examples(examples.subset(split.train), examples.subset(split.holdout))
    assert added == {"support_corrections": 1}
    assert (train.texts[-1], train.labels[-1]) == ("I want a refund for my purchase", "Refund_not_showing_up")
