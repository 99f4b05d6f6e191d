"""The Content-Security-Policy forbids inline script and style: the pages that load script must still
work in a real browser, with no CSP violation reported."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-for-tests-1"


def _watch_violations(page) -> list[str]:
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return violations


def test_the_api_docs_admin_and_queue_work_under_the_csp(new_page):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    root.groups.add(Group.objects.get_or_create(name="SDR managers")[0])
    page = new_page()
    violations = _watch_violations(page)
    page.goto("/login/")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_be_visible()

    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("AgentOps API")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()

    page.goto("/admin/security/apikey/add/")
    expect(page.locator("#apikey_form")).to_be_visible()
    page.goto("/admin/auth/user/")
    page.locator("#action-toggle").check()  # admin's actions.js, an external script
    expect(page.locator(".action-counter")).to_contain_text("selected")

    page.goto("/approvals/")
    expect(page.locator("h1")).to_be_visible()
    assert violations == []
