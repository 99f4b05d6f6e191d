from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from approvals.models import ProposedAction
from sales.models import Account, Lead
from scoring.models import ModelVersion
from support.models import Ticket


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw-for-tests-1")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    source = "demo"
    external_id = factory.Sequence(lambda n: f"acc-{n}")
    name = factory.Sequence(lambda n: f"Company {n}")


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    source = "demo"
    external_id = factory.Sequence(lambda n: f"lead-{n}")
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Lovelace{n}")
    company_name = "Analytical Engines Ltd"


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket

    source = "demo"
    external_id = factory.Sequence(lambda n: f"tkt-{n}")
    subject = "Cannot log in"
    body = "Since this morning I cannot log in."


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    kind = "lead_score"
    name = "lead-xgb"
    version = factory.Sequence(lambda n: n + 1)


class ProposedActionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProposedAction

    kind = "enrol_cadence"
    domain = "sales"
    lead = factory.SubFactory(LeadFactory)
    payload = factory.LazyFunction(lambda: {"cadence": "Inbound hot"})
    rationale = "Hot and uncontacted."
    confidence = 0.8
    idempotency_key = factory.Sequence(lambda n: f"key-{n}")
    proposed_by = "sdr-agent"


def user_in_role(group_name: str, **kwargs):
    """A user in one of the role groups of ``security.roles`` ("SDR managers", "Support leads",
    "Ops admins", "Auditors", "Integration accounts"); the groups and their permissions are made again
    if a flush (a transactional test) removed them."""
    from django.apps import apps
    from django.contrib.auth.models import Group

    from security.role_groups import role_groups_sync

    if not Group.objects.filter(name=group_name).exists():
        role_groups_sync(apps=apps)
    user = UserFactory(**kwargs)
    user.groups.add(Group.objects.get_or_create(name=group_name)[0])
    return user


def approved_action(kind: str, payload: dict, **fields):
    """An action approved as it stands (its payload hash is the approved one), for the outbox."""
    from approvals.payload_hash import payload_sha256

    return ProposedActionFactory(
        kind=kind,
        payload=payload,
        status="approved",
        approved_payload_sha256=payload_sha256(payload),
        **fields,
    )


def payload_seen(action) -> str:
    """What an approver who reads ``action`` (or its id) now is shown: the hash of its payload as it
    is, which ``action_approve(seen_payload_sha256=…)`` and the API's approve take back."""
    from approvals.models import ProposedAction
    from approvals.services import payload_sha256

    action_id = action if isinstance(action, int) else action.pk
    return payload_sha256(ProposedAction.objects.values_list("payload", flat=True).get(pk=action_id))


#: The Twilio sandbox's account (``connectors.sandbox.twilio.TwilioSandbox``).
TWILIO_CREDENTIALS = {"account_sid": "AC" + "5a" * 16, "auth_token": "twilio-sandbox-auth-token"}


def sms_provider(*, base_url: str = "http://127.0.0.1:9", name: str = "twilio-main", **options):
    """A Twilio connection (to the sandbox at ``base_url``) allowed to send text messages, and the
    ``send_sms`` route to it: without one, no SMS is proposed (``connectors.sms``)."""
    from connectors.models import ActionRoute, Connection

    connection = Connection(
        name=name,
        vendor="twilio",
        base_url=base_url,
        timeout_seconds=5,
        write_scopes=["send_sms"],
        options={"from_number": "+15005550006", **options},
    )
    connection.set_credentials(TWILIO_CREDENTIALS)
    connection.save()
    ActionRoute.objects.create(kind="send_sms", connection=connection)
    return connection
