"""Production hardening: check --deploy is clean, GET never writes, every POST form carries CSRF."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver

from approvals.services import action_route
from tests.factories import LeadFactory, ProposedActionFactory, TicketFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k3y-" + "abcdefghij" * 6,
    "ALLOWED_HOSTS": "agentops.example.com",
    "AGENTOPS_BASE_URL": "https://agentops.example.com",
    # DEBUG=false derives no key and leaves nothing open (agentops.settings_checks).
    "AGENTOPS_ENCRYPTION_KEYS": "uGb1cD5rQ0V8m2nTqYh3sZkLpX7aW9eR4tJfNvB6oMc=",
    "AGENTOPS_BLIND_INDEX_KEY": "blind-index-" + "0123456789abcdef" * 3,
    "AGENTOPS_AUDIT_REDACTION_KEY": "audit-redaction-" + "0246813579acegik" * 3,
    "METRICS_TOKEN": "scrape-" + "fedcba9876543210" * 3,
    "AGENTOPS_CALLBACK_HOSTS": "hooks.example.com",
}


def test_check_deploy_is_clean_with_production_settings():
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process (Playwright's loop); a deployment never has it.
    dropped = ("SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env={**clean, **PRODUCTION}, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _paths(patterns, prefix=""):
    """Every URL of the project with each parameter filled in with ``{id}``."""
    for pattern in patterns:
        route = str(pattern.pattern)
        if "format" in route:  # DRF's .json/.api suffix twins of the same views
            continue
        route = re.sub(r"\(\?P<\w+>[^)]*\)", "{id}", route)
        route = re.sub(r"<(\w+:)?\w+>", "{id}", route)
        route = route.lstrip("^").rstrip("$").replace("\\.", ".").replace("\\Z", "")
        if isinstance(pattern, URLResolver):
            yield from _paths(pattern.url_patterns, prefix + route)
        elif isinstance(pattern, URLPattern):
            yield "/" + prefix + route


WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b.*?(INTO|FROM|UPDATE)?\s*\"?(\w+)", re.I | re.S)


@pytest.mark.django_db
def test_no_get_request_changes_the_database(client):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    root.groups.add(Group.objects.get_or_create(name="SDR managers")[0])
    LeadFactory()
    TicketFactory()
    action = action_route(action_id=ProposedActionFactory().pk)
    client.force_login(root)
    client.get("/")  # starts the session clocks (a session write) before measuring
    paths = sorted(set(_paths(get_resolver().url_patterns)))
    assert len(paths) > 40
    offenders = []
    for path in paths:
        url = path.replace("{id}", str(action.pk))
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        writes = [q["sql"] for q in queries.captured_queries if WRITES.match(q["sql"])]
        writes = [sql for sql in writes if "django_session" not in sql]
        if writes:
            offenders.append((url, writes[0][:120]))
    assert offenders == []


def test_every_post_form_carries_a_csrf_token():
    missing = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for form in re.findall(r"<form[^>]*method=\"post\"[^>]*>.*?</form>", text, re.S | re.I):
            if "{% csrf_token %}" not in form:
                missing.append(template.name)
    assert missing == []
