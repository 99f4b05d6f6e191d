"""Sign-in and sessions: lock-out against guessing, idle and absolute timeouts, re-authentication
before high-risk approvals, sessions ended on deactivation; security headers and error pages."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.test import Client, override_settings

from approvals.services import action_route
from security import signin
from tests.factories import ProposedActionFactory, UserFactory, payload_seen

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests-1"


@pytest.fixture
def sofia():
    user = UserFactory(username="sofia")
    user.groups.add(Group.objects.get_or_create(name="SDR managers")[0])
    return user


def _sign_in(client, username="sofia", password=PASSWORD, address="10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def _age(client, **seconds_ago):
    session = client.session
    for name, ago in seconds_ago.items():
        session[name] = time.time() - ago
    session.save()


# Sign-in throttle (security.signin): growing waits per username and address, never a lock-out


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        now = 1_700_000_000.0

        def __call__(self):
            return self.now

    fake = Clock()
    monkeypatch.setattr(signin, "now", fake)
    return fake


def test_it_makes_a_username_wait_after_five_failures_from_one_address_with_the_same_answer_for_unknown_users(
    client, sofia, clock
):
    for _ in range(6):
        assert _sign_in(client, password="wrong").status_code == 200
    waiting = _sign_in(client)  # the right password, before the wait is over: not even checked
    assert waiting.status_code == 200 and signin.throttled_message(1) in waiting.content.decode()
    assert "_auth_user_id" not in client.session
    for _ in range(6):
        _sign_in(client, username="nobody", password="wrong", address="10.0.0.2")
    unknown = _sign_in(client, username="nobody", address="10.0.0.2")
    assert signin.throttled_message(1) in unknown.content.decode()
    clock.now += 1
    assert _sign_in(client).status_code == 302  # the wait is over


def test_a_wait_on_one_username_leaves_others_and_other_addresses_alone_and_a_success_clears_failures(
    client, sofia, clock
):
    UserFactory(username="liam")
    for _ in range(4):
        _sign_in(client, password="wrong")
    assert _sign_in(client).status_code == 302  # the 5th try succeeds and forgets the four failures
    client.logout()
    for _ in range(6):
        _sign_in(client, password="wrong")
    assert _sign_in(client, username="liam").status_code == 302  # same address, another username
    client.logout()
    assert _sign_in(client, address="10.0.0.9").status_code == 302  # same username, another address


@override_settings(LOGIN_MAX_FAILURES_PER_ADDRESS=3)
def test_it_makes_an_address_that_guesses_across_usernames_wait(client, sofia, clock):
    for name in ("a", "b", "c", "d"):
        _sign_in(client, username=name, password="wrong", address="10.6.6.6")
    assert signin.throttled_message(1) in _sign_in(client, address="10.6.6.6").content.decode()
    assert _sign_in(client, address="10.0.0.7").status_code == 302


def test_basic_authentication_on_the_api_waits_too_with_retry_after(sofia, clock):
    import base64

    def basic(password):
        token = base64.b64encode(f"sofia:{password}".encode()).decode()
        return Client().get("/api/v1/leads/", HTTP_AUTHORIZATION=f"Basic {token}", REMOTE_ADDR="10.1.1.1")

    for _ in range(6):
        assert basic("wrong").status_code == 401
    waiting = basic(PASSWORD)
    assert waiting.status_code == 429 and waiting["Retry-After"] == "1"
    assert waiting.json()["detail"] == signin.throttled_message(1)


def test_the_admin_sign_in_waits_too(client, clock):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    for _ in range(6):
        client.post("/admin/login/", {"username": "root", "password": "wrong"}, REMOTE_ADDR="10.2.2.2")
    page = client.post("/admin/login/", {"username": "root", "password": PASSWORD}, REMOTE_ADDR="10.2.2.2")
    assert signin.throttled_message(1) in page.content.decode()


def test_a_concurrent_attempt_when_a_wait_ends_is_not_checked_too(sofia, clock):
    for _ in range(6):
        signin.record_failure(username="sofia", address="10.3.3.3")
    clock.now += 1
    assert signin.attempt_wait(username="sofia", address="10.3.3.3") == 0  # takes the slot
    assert signin.attempt_wait(username="sofia", address="10.3.3.3") == 1  # fired at the same moment
    signin.record_failure(username="sofia", address="10.3.3.3")
    assert signin.attempt_wait(username="sofia", address="10.3.3.3") == 2


# Session timeouts


def test_an_idle_session_ends_and_an_active_one_slides(client, sofia, settings):
    settings.SESSION_IDLE_MINUTES = 30
    _sign_in(client)
    _age(client, **{signin.SEEN_AT: 29 * 60})
    assert client.get("/approvals/").status_code == 200
    assert time.time() - client.session[signin.SEEN_AT] < 5  # slid forward
    _age(client, **{signin.SEEN_AT: 31 * 60})
    response = client.get("/approvals/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/approvals/")
    assert "_auth_user_id" not in client.session


def test_a_session_ends_after_the_absolute_limit_however_active(client, sofia, settings):
    settings.SESSION_MAX_HOURS = 12
    _sign_in(client)
    _age(client, **{signin.SIGNED_IN_AT: 12 * 3600 + 1, signin.SEEN_AT: 10})
    assert client.get("/approvals/").status_code == 302
    assert client.get("/api/v1/leads/").status_code == 401


def test_session_cookies_are_httponly_and_samesite(client, sofia):
    response = _sign_in(client)
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


# Re-authentication before high-risk approvals


@pytest.fixture
def critical(sofia):
    action = action_route(action_id=ProposedActionFactory(risk_level="critical").pk)
    action.approver_group = sofia.groups.get()
    action.save(update_fields=["approver_group"])
    return action


def test_approving_a_critical_item_needs_a_recent_password(client, sofia, critical, settings):
    settings.REAUTH_MINUTES = 10
    _sign_in(client)
    _age(client, **{signin.CONFIRMED_AT: 11 * 60})
    response = client.post(f"/approvals/{critical.pk}/approve/", {"payload_sha256": payload_seen(critical)})
    assert response.status_code == 302
    assert response["Location"] == f"/account/confirm-password/?next=%2Fapprovals%2F{critical.pk}%2F"
    critical.refresh_from_db()
    assert critical.status == "pending_approval"
    page = client.get(response["Location"])
    assert page.status_code == 200 and b"Confirm your password" in page.content
    wrong = client.post(
        "/account/confirm-password/", {"password": "nope", "next": f"/approvals/{critical.pk}/"}
    )
    assert wrong.status_code == 400
    right = client.post(
        "/account/confirm-password/", {"password": PASSWORD, "next": f"/approvals/{critical.pk}/"}
    )
    assert right.status_code == 302 and right["Location"] == f"/approvals/{critical.pk}/"
    assert (
        client.post(
            f"/approvals/{critical.pk}/approve/", {"payload_sha256": payload_seen(critical)}
        ).status_code
        == 302
    )
    critical.refresh_from_db()
    assert critical.status in ("approved", "pending_approval") and critical.decisions.count() == 1


def test_a_fresh_sign_in_counts_as_a_recent_password(client, sofia, critical):
    _sign_in(client)
    client.post(f"/approvals/{critical.pk}/approve/", {"payload_sha256": payload_seen(critical)})
    assert critical.decisions.count() == 1


def test_a_stale_password_proof_blocks_high_risk_approvals_but_not_medium(client, sofia):
    client.force_login(sofia)
    _age(client, **{signin.CONFIRMED_AT: 3600})
    high = action_route(action_id=ProposedActionFactory(risk_level="high").pk)
    medium = action_route(action_id=ProposedActionFactory(risk_level="medium").pk)
    assert (
        "confirm-password"
        in client.post(f"/approvals/{high.pk}/approve/", {"payload_sha256": payload_seen(high)})["Location"]
    )
    assert (
        client.post(f"/approvals/{medium.pk}/approve/", {"payload_sha256": payload_seen(medium)})["Location"]
        == "/approvals/"
    )
    assert (high.decisions.count(), medium.decisions.count()) == (0, 1)


def test_the_api_asks_a_browser_session_to_confirm_too(client, sofia, critical):
    from django.contrib.auth.models import Permission

    sofia.user_permissions.add(Permission.objects.get(codename="change_proposedaction"))
    client.force_login(sofia)
    _age(client, **{signin.CONFIRMED_AT: 3600})
    response = client.post(
        f"/api/v1/actions/{critical.pk}/approve/",
        {"payload_sha256": payload_seen(critical)},
        content_type="application/json",
    )
    assert response.status_code == 403 and response.json()["code"] == "reauth_required"


def test_the_confirm_page_never_redirects_off_site(client, sofia):
    _sign_in(client)
    response = client.post(
        "/account/confirm-password/", {"password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


# Deactivation


def test_deactivating_a_user_ends_all_their_sessions_and_only_theirs(
    sofia, django_capture_on_commit_callbacks
):
    laptop, phone, other = Client(), Client(), Client()
    _sign_in(laptop)
    _sign_in(phone, address="10.0.0.3")
    UserFactory(username="liam")
    _sign_in(other, username="liam", address="10.0.0.4")
    assert Session.objects.count() == 3
    with django_capture_on_commit_callbacks(execute=True):
        sofia.is_active = False
        sofia.save()
    assert Session.objects.count() == 1
    assert laptop.get("/approvals/").status_code == 302
    assert other.get("/approvals/").status_code == 200 or other.get("/").status_code == 200


# Headers and error pages


def test_pages_carry_the_security_headers(client, sofia):
    client.force_login(sofia)
    response = client.get("/approvals/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/", "/approvals/", "/leads/", "/api/docs/", "/admin/", "/login/"])
def test_no_page_has_inline_script_or_style(client, path):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    page = client.get(path, follow=True).content.decode()
    for tag in page.split("<script")[1:]:
        head = tag.split(">", 1)[0]
        assert "src=" in head or 'type="application/json"' in head, head
    assert "<style" not in page and " onclick=" not in page


def test_the_swagger_start_up_script_is_served_as_a_file(client, sofia):
    client.force_login(sofia)
    response = client.get("/api/docs/?script=")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/javascript")


@override_settings(DEBUG=False)
def test_a_missing_page_shows_a_generic_404(client, sofia):
    client.force_login(sofia)
    response = client.get("/no/such/page/")
    assert response.status_code == 404 and b"Not found" in response.content
    assert b"urlpatterns" not in response.content


def test_the_500_page_says_nothing_about_the_error():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "Something went wrong" in html and "Traceback" not in html


@pytest.mark.parametrize(
    "kwargs",
    [{"path": "/api/v1/leads/?source=a%00b"}, {"path": "/login/", "HTTP_COOKIE": "sessionid=abc\x00defghij"}],
)
def test_a_nul_character_in_a_query_or_cookie_is_a_400_not_a_500(client, kwargs):
    assert client.get(**kwargs).status_code == 400
