"""Configuration as data: the settings row, its admin and history, the schedules, and env settings."""

import pytest
from django.conf import settings as django_settings
from django.db import IntegrityError
from django.urls import reverse

from agentops.settings_checks import SettingsError, validate_base_url
from notifications.models import Notification, NotificationSettings
from notifications.selectors import notification_settings_get
from tests.factories import ProposedActionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_the_migration_creates_the_settings_and_the_schedules_once():
    from django_q.models import Schedule

    assert NotificationSettings.objects.count() == 1
    schedules = dict(Schedule.objects.filter(name__startswith="notifications:").values_list("name", "func"))
    assert schedules == {
        "notifications: pending items": "notifications.tasks.notify_pending_task",
        "notifications: daily digest": "notifications.tasks.send_daily_digest_task",
    }


def test_there_is_only_ever_one_settings_row():
    with pytest.raises(IntegrityError):
        NotificationSettings.objects.create()


def test_without_a_row_the_defaults_apply():
    NotificationSettings.objects.all().delete()
    defaults = notification_settings_get()
    assert (defaults.enabled, defaults.high_priority_risk_at_least, defaults.near_sla_minutes) == (
        True,
        "high",
        30,
    )
    assert defaults.link_base == django_settings.AGENTOPS_BASE_URL == "http://127.0.0.1:8000"


def test_the_settings_are_edited_in_the_admin_with_history(admin_client, config):
    url = reverse("admin:notifications_notificationsettings_change", args=[config.pk])
    assert admin_client.get(url).status_code == 200
    form = {
        "enabled": "on", "email_enabled": "on", "slack_webhook_url": "https://hooks.slack.example/T/B/x",
        "base_url": "https://ops.example.com", "high_priority_risk_at_least": "critical",
        "high_priority_impact_at_least": "50000", "near_sla_minutes": "15", "digest_hour_utc": "7",
        "email_link_hours": "24",
    }  # fmt: skip
    assert admin_client.post(url, form).status_code == 302
    config.refresh_from_db()
    assert (config.near_sla_minutes, config.link_base) == (15, "https://ops.example.com")
    assert config.email_link_hours == 24
    assert config.history.count() == 2
    history = reverse("admin:notifications_notificationsettings_history", args=[config.pk])
    assert admin_client.get(history).status_code == 200
    # One row only: no "add", and it cannot be deleted.
    assert admin_client.get(reverse("admin:notifications_notificationsettings_add")).status_code == 403


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slack_webhook_url", "file:///etc/passwd"),
        ("base_url", "ftp://ops.example.com"),
        ("digest_hour_utc", "24"),
    ],
)
def test_the_admin_refuses_bad_values(admin_client, config, field, value):
    url = reverse("admin:notifications_notificationsettings_change", args=[config.pk])
    form = {"enabled": "on", "near_sla_minutes": "30", "digest_hour_utc": "8", field: value}
    response = admin_client.post(url, form)
    assert response.status_code == 200 and response.context["adminform"].form.errors.get(field)


def test_sent_notifications_are_listed_read_only(admin_client, team):
    note = Notification.objects.create(
        recipient=team.owner, address=team.owner.email, channel="email", kind="near_sla",
        action=ProposedActionFactory(), dedupe_key="k", batch="00000000-0000-0000-0000-000000000001",
        subject="s", body="b", status="failed", error="email: refused",
    )  # fmt: skip
    assert admin_client.get(reverse("admin:notifications_notification_changelist")).status_code == 200
    change = reverse("admin:notifications_notification_change", args=[note.pk])
    assert admin_client.get(change).status_code == 200
    admin_client.post(change, {"status": "sent"})
    note.refresh_from_db()
    assert note.status == "failed"
    assert admin_client.get(reverse("admin:notifications_notification_add")).status_code == 403


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ops.example.com/", "https://ops.example.com"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_the_base_url_setting_is_normalised(url, expected):
    assert validate_base_url(url) == expected


@pytest.mark.parametrize("url", ["ops.example.com", "javascript:alert(1)", "https://", "https://x/?a=1"])
def test_a_bad_base_url_setting_is_refused(url):
    with pytest.raises(SettingsError, match="AGENTOPS_BASE_URL"):
        validate_base_url(url)
