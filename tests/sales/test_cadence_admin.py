"""The cadence admin and SMS steps (issue 18): an active cadence gets no new SMS step while nothing can
send SMS (the step's channel says why); one saved switched off, or already there, gets a warning."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from sales.models import Cadence, CadenceStep, MessageTemplate
from tests.factories import UserFactory, sms_provider

pytestmark = pytest.mark.django_db

ADD = "/admin/sales/cadence/add/"


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(UserFactory(username="sdr-manager", is_staff=True, is_superuser=True))
    return client


def cadence_form(*, active: bool, channel: str = "sms", **extra: str) -> dict[str, str]:
    template = MessageTemplate.objects.create(
        name=f"T-{channel}", channel=channel, body="Hi. Reply STOP to opt out"
    )
    form = {
        "name": "Text first",
        "description": "",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-position": "1",
        "steps-0-channel": channel,
        "steps-0-wait_days": "0",
        "steps-0-template": str(template.pk),
        **extra,
    }
    if active:
        form["is_active"] = "on"
    return form


def test_an_active_cadence_gets_no_sms_step_without_an_sms_provider(admin_client):
    response = admin_client.post(ADD, cadence_form(active=True))

    assert response.status_code == 200  # the form again, with the error
    [errors] = [f.errors for f in response.context["inline_admin_formsets"][0].formset.forms]
    assert "no SMS provider" in errors["channel"][0]
    assert not Cadence.objects.exists()


def test_a_cadence_switched_off_is_saved_with_a_warning(admin_client):
    response = admin_client.post(ADD, cadence_form(active=False))

    assert response.status_code == 302
    assert CadenceStep.objects.get().channel == "sms"
    [warning] = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]
    assert warning.startswith("SMS step(s) 1: no SMS provider")


def test_with_an_sms_provider_the_step_is_saved_without_a_warning(admin_client):
    sms_provider()
    response = admin_client.post(ADD, cadence_form(active=True))

    assert response.status_code == 302
    assert CadenceStep.objects.get().channel == "sms"
    assert not [m for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]


def test_an_email_step_needs_no_sms_provider(admin_client):
    response = admin_client.post(
        ADD, cadence_form(active=True, channel="email", **{"steps-0-channel": "email"})
    )

    assert response.status_code == 302
    assert not [m for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]
