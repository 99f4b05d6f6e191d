"""The top bar and the Overview's links lead to the pages (not the API's JSON), and follow the role."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.factories import UserFactory, user_in_role

pytestmark = pytest.mark.django_db

NAV = re.compile(r'<nav class="nav">(.*?)</nav>', re.S)
LINK = re.compile(r'<a href="([^"]+)"[^>]*>([^<]+)</a>')


def nav_links(client) -> dict[str, str]:
    page = client.get("/")
    assert page.status_code == 200
    return {label: href for href, label in LINK.findall(NAV.search(page.content.decode()).group(1))}


def test_the_top_bar_and_the_overview_open_the_pages_not_the_apis_json(client):
    """The API's route names ("lead-list", "action-list") were the pages' names too, and won:
    "Leads" and "Actions" opened /api/v1/leads/ (a 30,000-pixel JSON page)."""
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))

    links = nav_links(client)
    overview = client.get("/").content.decode()

    assert (links["Leads"], links["Actions"]) == ("/leads/", "/actions/")
    assert 'href="/actions/?status=pending_approval"' in overview and 'href="/leads/"' in overview
    assert "/api/v1/leads/" not in overview and "/api/v1/actions/" not in overview
    assert reverse("api:lead-list") == "/api/v1/leads/"  # the API keeps its addresses, in its namespace


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("SDR managers", {"Queue", "Leads", "Cadences"}, {"Support", "Tickets"}),
        ("Support leads", {"Queue", "Tickets", "Support"}, {"Leads", "Cadences"}),
        ("Ops admins", {"Queue", "Leads", "Cadences", "Tickets", "Support"}, set()),
        ("Auditors", {"Queue", "Actions", "Tickets"}, set()),
    ],
)
def test_the_menu_follows_the_role_and_every_link_in_it_opens(client, role, shown, hidden):
    client.force_login(user_in_role(role, username=f"user-{role.split()[0].lower()}"))

    links = nav_links(client)

    assert shown <= set(links) and not hidden & set(links), links
    for label, href in links.items():
        answer = client.get(href, follow=True)
        assert answer.status_code == 200, (role, label, href, answer.status_code)
        assert answer["Content-Type"].startswith("text/html"), (label, href)


def test_every_page_has_an_icon_and_the_admin_finds_its_too(client):
    """The favicon answered 404 on every page."""
    from django.contrib.staticfiles import finders

    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/").content.decode()
    assert finders.find("favicon.svg")
    answer = client.get("/favicon.ico")
    assert answer.status_code == 301 and answer["Location"] == "/static/favicon.svg"


def test_the_admin_says_kill_switches(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    admin = client.get("/admin/").content.decode()
    assert "Kill switches" in admin and "Kill switchs" not in admin


@pytest.mark.parametrize("path", ["/", "/approvals/", "/actions/", "/leads/"])
def test_every_page_says_when_a_kill_switch_holds_work_and_since_when(client, path):
    """While the global switch was on, nothing on the Overview or the queue said so."""
    from operations.services import kill_switch_set

    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    assert "Kill switch on" not in client.get(path).content.decode()

    kill_switch_set(scope="global", engaged=True, reason="vendor incident drill", actor="olivia")
    page = client.get(path).content.decode()

    banner = re.search(r'<div class="killswitch-banner" role="alert">(.*?)</div>', page, re.S)
    assert banner, path
    for part in ("Kill switch on", "Everything", "vendor incident drill", "since ", "by olivia"):
        assert part in banner.group(1), part
