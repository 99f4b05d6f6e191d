"""The role × endpoint matrix: every page and API route, for anonymous visitors and each of the five
roles of ``security.roles``, answers as the table below says.

Outcomes: ``ok`` (the view's own logic ran: 2xx, a redirect other than to sign-in, or its own 4xx
such as 400/409), ``login`` (sent to sign in), ``401`` (API without credentials), ``403`` (the role
may not use the endpoint at all), ``404`` (the item is outside the role's scope; each such answer
must leave an ``AccessDenial`` row). A route added to the project without a row here, or without an
explicit exclusion, fails ``test_it_has_a_row_or_an_exclusion_for_every_route``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from approvals.services import action_route
from security.models import AccessDenial
from security.role_groups import role_groups_sync
from tests.factories import (
    LeadFactory,
    ModelVersionFactory,
    ProposedActionFactory,
    TicketFactory,
    UserFactory,
)

ROLES = ("anonymous", "sdr_manager", "support_lead", "ops_admin", "auditor", "integration")
GROUPS = {
    "sdr_manager": "SDR managers",
    "support_lead": "Support leads",
    "ops_admin": "Ops admins",
    "auditor": "Auditors",
    "integration": "Integration accounts",
}
# Ops admins and auditors are staff, as in the demo (the admin, staff-only pages).
STAFF = {"ops_admin", "auditor"}


def R(anonymous: str, sdr: str, support: str, ops: str, auditor: str, integration: str) -> dict[str, str]:
    return dict(zip(ROLES, (anonymous, sdr, support, ops, auditor, integration), strict=True))


PAGE = R("login", "ok", "ok", "ok", "ok", "403")  # any browser role; integration accounts are API only
SALES_PAGE = R("login", "ok", "403", "ok", "ok", "403")
SALES_ITEM_PAGE = R("login", "ok", "404", "ok", "ok", "403")
SUPPORT_ITEM_PAGE = R("login", "404", "ok", "ok", "ok", "403")
DECIDE_SALES_PAGE = R("login", "ok", "404", "ok", "403", "403")
DECIDE_SUPPORT_PAGE = R("login", "404", "ok", "ok", "403", "403")
PUBLIC = R("ok", "ok", "ok", "ok", "ok", "ok")
API_ANY = R("401", "ok", "ok", "ok", "ok", "ok")
DECIDE_SALES_API = R("401", "ok", "404", "ok", "403", "403")
DECIDE_SUPPORT_API = R("401", "404", "ok", "ok", "403", "403")

# (route, method, target) → expected outcome per role. ``target`` names the object whose id fills
# the route's parameter: a sales or a support action, a lead, a ticket, a model version.
MATRIX: dict[tuple[str, str, str], dict[str, str]] = {
    # --- pages ---------------------------------------------------------------------------------
    ("", "GET", ""): PAGE,
    ("leads/", "GET", ""): SALES_PAGE,
    ("leads/<pk>/", "GET", "lead"): SALES_ITEM_PAGE,
    ("actions/", "GET", ""): PAGE,
    ("approvals/", "GET", ""): PAGE,
    ("approvals/feedback/", "GET", ""): PAGE,
    # Bulk approval reaches the view for deciders; out-of-scope ids come back "not found" per item.
    ("approvals/bulk-approve/", "POST", ""): R("login", "ok", "ok", "ok", "403", "403"),
    ("approvals/<pk>/", "GET", "sales_action"): SALES_ITEM_PAGE,
    ("approvals/<pk>/", "GET", "support_action"): SUPPORT_ITEM_PAGE,
    ("approvals/<pk>/approve/", "POST", "sales_action"): DECIDE_SALES_PAGE,
    ("approvals/<pk>/approve/", "POST", "support_action"): DECIDE_SUPPORT_PAGE,
    ("approvals/<pk>/reject/", "POST", "sales_action"): DECIDE_SALES_PAGE,
    ("approvals/<pk>/reject/", "POST", "support_action"): DECIDE_SUPPORT_PAGE,
    ("approvals/<pk>/defer/", "POST", "sales_action"): DECIDE_SALES_PAGE,
    ("approvals/<pk>/defer/", "POST", "support_action"): DECIDE_SUPPORT_PAGE,
    ("scoring/drift/", "GET", ""): PAGE,
    ("support/thresholds/", "GET", ""): R("login", "403", "403", "ok", "ok", "403"),  # staff only
    ("support/metrics/", "GET", ""): R("login", "403", "ok", "ok", "ok", "403"),  # support.view_ticket
    # The support lead's workspace: roles that read tickets; replying and correcting need a role
    # that acts on support (auditors read only); an empty form answers 400, the view's own ("ok").
    ("support/tickets/", "GET", ""): R("login", "403", "ok", "ok", "ok", "403"),
    ("support/tickets/<pk>/", "GET", "ticket"): R("login", "403", "ok", "ok", "ok", "403"),
    ("support/tickets/<pk>/reply/", "POST", "ticket"): R("login", "403", "ok", "ok", "403", "403"),
    ("support/tickets/<pk>/intent/", "POST", "ticket"): R("login", "403", "ok", "ok", "403", "403"),
    ("sales/cadences/", "GET", ""): SALES_PAGE,
    ("login/", "GET", ""): R("ok", "ok", "ok", "ok", "ok", "403"),
    ("account/confirm-password/", "GET", ""): PAGE,
    ("logout/", "POST", ""): R(*["login"] * 6),  # signs out whoever asks, then shows the sign-in page
    ("healthz", "GET", ""): PUBLIC,
    ("readyz", "GET", ""): PUBLIC,
    ("metrics", "GET", ""): PUBLIC,  # a bearer token when METRICS_TOKEN is set (tests/operations)
    ("operations/kpis/", "GET", ""): PAGE,
    ("operations/changes/", "GET", ""): PAGE,
    ("operations/roi/", "GET", ""): PAGE,
    ("admin/", "GET", ""): R("login", "login", "login", "ok", "ok", "403"),
    # --- API -----------------------------------------------------------------------------------
    ("api/v1/", "GET", ""): API_ANY,
    ("api/v1/leads/", "GET", ""): R("401", "ok", "403", "ok", "ok", "ok"),
    ("api/v1/leads/bulk/", "POST", ""): R("401", "403", "403", "ok", "403", "ok"),  # add/change_lead
    ("api/v1/leads/<pk>/", "GET", "lead"): R("401", "ok", "404", "ok", "ok", "ok"),
    ("api/v1/tickets/", "GET", ""): R("401", "403", "ok", "ok", "ok", "ok"),
    ("api/v1/tickets/<pk>/", "GET", "ticket"): R("401", "404", "ok", "ok", "ok", "ok"),
    ("api/v1/actions/", "GET", ""): API_ANY,
    ("api/v1/actions/", "POST", ""): R("401", "403", "403", "ok", "403", "ok"),  # add_proposedaction
    # An integration account reads only what it proposed (these it did not), unless its key has
    # read_actions (tests/redteam/test_decisions_and_reads.py).
    ("api/v1/actions/<pk>/", "GET", "sales_action"): R("401", "ok", "404", "ok", "ok", "404"),
    ("api/v1/actions/<pk>/", "GET", "support_action"): R("401", "404", "ok", "ok", "ok", "404"),
    ("api/v1/actions/<pk>/approve/", "POST", "sales_action"): DECIDE_SALES_API,
    ("api/v1/actions/<pk>/approve/", "POST", "support_action"): DECIDE_SUPPORT_API,
    ("api/v1/actions/<pk>/reject/", "POST", "sales_action"): DECIDE_SALES_API,
    ("api/v1/actions/<pk>/reject/", "POST", "support_action"): DECIDE_SUPPORT_API,
    ("api/v1/model-versions/", "GET", ""): API_ANY,
    ("api/v1/model-versions/<pk>/", "GET", "model_version"): API_ANY,
    ("api/v1/audit/export/", "GET", ""): R("401", "403", "403", "ok", "ok", "403"),  # export_audit roles
    # Reads a lead's consent (view_lead, or staff) / records it (change_lead, or staff but auditors).
    ("api/v1/consent/", "GET", ""): R("401", "ok", "403", "ok", "ok", "ok"),
    ("api/v1/consent/", "POST", ""): R("401", "403", "403", "ok", "403", "ok"),
    # Survey answers: support.add_surveyresponse and change_surveyresponse.
    ("api/v1/support/surveys/", "POST", ""): R("401", "403", "403", "ok", "403", "403"),
    ("api/schema/", "GET", ""): PUBLIC,  # the OpenAPI document and its viewer hold no data
    ("api/docs/", "GET", ""): PUBLIC,
}

# Rows for routes that parallel work is adding (walked when the route exists; the row moves up
# into MATRIX once it does everywhere).
ANNOUNCED: dict[tuple[str, str, str], dict[str, str]] = {}

# Routes not walked, each with its reason. Anything else without a row fails the completeness test.
EXCLUDED_ROUTES = {
    "webhooks/<vendor>/<connection>/": "authenticated by the vendor's signature, not a role (tests/connectors)",
    "webhooks/mail/inbound/": "authenticated by the HMAC of AGENTOPS_INBOUND_MAIL_SECRET, not a role "
    "(tests/connectors/test_mail_inbound.py)",
    "webhooks/mail/unsubscribe/<token>/": "authorised by the signed token in the recipient's link, not a "
    "role (tests/connectors/test_mail_unsubscribe.py)",
    "notifications/decide/<token>/": "authorised by the signed, single-use token in the approver's email "
    "and the decide services' own checks (tests/notifications/test_email_links.py)",
    "notifications/slack/interactivity/": "authenticated by Slack's request signature (signing secret, "
    "5-minute window), then the deciding user's own scope (tests/e2e/test_decide_in_slack_and_email.py)",
    "webhooks/twilio/<connection>/status/": "authenticated by Twilio's X-Twilio-Signature (the "
    "connection's auth token), not a role (tests/connectors/test_twilio.py)",
    "webhooks/twilio/<connection>/inbound/": "authenticated by Twilio's X-Twilio-Signature (the "
    "connection's auth token), not a role (tests/connectors/test_twilio.py)",
    "favicon.ico": "a redirect to the static icon, no data (tests/agentops/test_navigation.py)",
}
EXCLUDED_RULES = {
    "admin/…": "Django admin pages past the index: is_staff plus model permissions, Django's own gate",
    "….<format>": "DRF's format-suffix twin of a route walked without the suffix (same view)",
}

BODIES = {
    "approvals/<pk>/reject/": {"reason_code": "bad_timing"},
    "api/v1/actions/<pk>/reject/": {"reason_code": "bad_timing"},
    "api/v1/leads/bulk/": {"leads": []},
}


def _readable(route: str) -> str:
    route = route.replace("^", "").replace("$", "").replace("\\.", ".")
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", route)
    route = re.sub(r"<\w+:(\w+)>", r"<\1>", route)
    return route.replace("/?", "")


def _routes(patterns: list, prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield _readable(prefix + str(pattern.pattern))


def _excluded_by_rule(route: str) -> str:
    if route.startswith("admin/") and route != "admin/":
        return "admin/…"
    if "<format>" in route:
        return "….<format>"
    return ""


def _rows() -> dict[tuple[str, str, str], dict[str, str]]:
    """MATRIX plus the announced rows whose route exists."""
    routes = set(_routes(get_resolver().url_patterns))
    return {**MATRIX, **{key: row for key, row in ANNOUNCED.items() if key[0] in routes}}


def test_it_has_a_row_or_an_exclusion_for_every_route():
    routes = set(_routes(get_resolver().url_patterns))
    walked = {route for route, _, _ in _rows()}
    by_rule = {r for r in routes if _excluded_by_rule(r)}
    missing = routes - walked - set(EXCLUDED_ROUTES) - by_rule
    assert missing == set(), (
        f"routes without a row in MATRIX (or an exclusion with a reason): {sorted(missing)}"
    )
    assert walked - routes == set(), "rows for routes that no longer exist"
    assert set(EXCLUDED_ROUTES) <= routes and walked.isdisjoint(EXCLUDED_ROUTES)
    # The rules exclude only admin pages past the index and format twins of walked routes.
    assert {_excluded_by_rule(r) for r in by_rule} <= set(EXCLUDED_RULES)
    twins = {r for r in by_rule if "<format>" in r}
    assert all(
        re.sub(r"\.<format>$", "/", t.replace("/.<format>", "/")) in walked
        or re.sub(r"\.<format>$", "", t) in walked
        or t == "api/v1/<format>"
        for t in twins
    ), sorted(twins)
    assert all(set(row) == set(ROLES) for row in [*MATRIX.values(), *ANNOUNCED.values()])


def _outcome(response) -> str:
    status = response.status_code
    if status in (301, 302) and "/login/" in response.get("Location", ""):
        return "login"
    if status in (401, 403, 404):
        return str(status)
    return "ok"


@pytest.mark.django_db
def test_every_route_answers_each_role_as_the_matrix_says(settings):
    settings.METRICS_TOKEN = ""
    role_groups_sync(apps=apps)  # the migration's groups and permissions (a flush may have removed them)
    groups = {role: Group.objects.get(name=name) for role, name in GROUPS.items()}
    users = {role: UserFactory(username=role, is_staff=role in STAFF) for role in GROUPS}
    for role, user in users.items():
        user.groups.add(groups[role])
    sales = action_route(
        action_id=ProposedActionFactory(domain="sales", risk_level="low", lead=LeadFactory()).pk
    )
    support = action_route(
        action_id=ProposedActionFactory(
            domain="support", risk_level="low", lead=None, ticket=TicketFactory(), kind="add_internal_note",
            payload={"body": "Customer asked twice"},
        ).pk
    )  # fmt: skip
    sales.approver_group, support.approver_group = groups["sdr_manager"], groups["support_lead"]
    sales.status = support.status = "pending_approval"
    sales.save(update_fields=["approver_group", "status"])
    support.save(update_fields=["approver_group", "status"])
    targets = {
        "sales_action": sales.pk,
        "support_action": support.pk,
        "lead": LeadFactory(owner=None).pk,
        "ticket": TicketFactory().pk,
        "model_version": ModelVersionFactory().pk,
    }
    clients = {"anonymous": Client()}
    for role, user in users.items():
        clients[role] = Client()
        clients[role].force_login(user)

    wrong = []
    for (route, method, target), expected in _rows().items():
        url = "/" + route.replace("<pk>", str(targets[target])) if target else "/" + route
        body = BODIES.get(route, {})
        for role in ROLES:
            client = clients[role]
            if route == "logout/":  # signs out: a client of its own
                client = Client()
                if role != "anonymous":
                    client.force_login(users[role])
            denials = AccessDenial.objects.count()
            if method == "GET":
                response = client.get(url)
            elif route.startswith("api/"):
                response = client.post(url, body, content_type="application/json")
            else:
                response = client.post(url, body)
            got = _outcome(response)
            if got != expected[role]:
                wrong.append(
                    f"{method} {url} as {role}: expected {expected[role]}, got {got} ({response.status_code})"
                )
            recorded = AccessDenial.objects.count() - denials
            if got == "404" and not AccessDenial.objects.filter(path=url, username=role).exists():
                wrong.append(f"{method} {url} as {role}: 404 without an AccessDenial row")
            if got != "404" and recorded:
                wrong.append(f"{method} {url} as {role}: an AccessDenial row for a {got}")
    assert wrong == [], "\n".join(wrong)
