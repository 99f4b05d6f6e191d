"""Who may see and decide what: the roles, the one table that answers it, and nothing else.

A role is a Django group, recognised by its name (``ROLE_GROUPS``). Everything that scopes
proposed actions, leads or tickets — the approval pages, the API, the lead pages and the dashboard —
asks ``access_for`` through ``security.selectors``; no view decides scope on its own.

The rule, once:

* A user sees an action when its domain is one of their roles' ``see_domains`` and, unless a role
  oversees every route (``all_routes``), it is routed to one of the user's groups or to none.
  An SDR manager who belongs to an active SDR queue (teams configured) sees only the sales actions
  on leads owned by a member of their queues, on unowned leads or on no lead; and likewise the
  leads themselves.
* A user decides an action they can see when its domain is one of their ``decide_domains``.
* Items outside the scope answer 404, never 403, and each attempt is recorded (``AccessDenial``).
* Lists of a kind a role cannot read at all (tickets for an SDR manager) answer 403.

Django permissions (granted to the same groups by a migration, from ``ROLE_PERMISSIONS``) still
gate the admin, proposing actions and the bulk lead upsert; they do not widen these scopes. A
superuser reaches everything; a user in no role group reaches no lead, ticket or action.

Pure: no ORM import, so the table and its rule are unit-tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

# approvals.choices.Domain's values; kept literal so this module imports no Django model.
SALES, SUPPORT, OPERATIONS = "sales", "support", "operations"
ALL_DOMAINS = frozenset({SALES, SUPPORT, OPERATIONS})


class Role(StrEnum):
    SDR_MANAGER = "sdr_manager"
    SUPPORT_LEAD = "support_lead"
    OPS_ADMIN = "ops_admin"
    AUDITOR = "auditor"
    INTEGRATION = "integration"


ROLE_GROUPS: dict[Role, str] = {
    Role.SDR_MANAGER: "SDR managers",
    Role.SUPPORT_LEAD: "Support leads",
    Role.OPS_ADMIN: "Ops admins",
    Role.AUDITOR: "Auditors",
    Role.INTEGRATION: "Integration accounts",
}
GROUP_ROLES: dict[str, Role] = {name: role for role, name in ROLE_GROUPS.items()}


@dataclass(frozen=True)
class RoleSpec:
    """What one role reaches. ``team_scoped``: sales items narrow to the user's SDR queues."""

    see_domains: frozenset[str]
    decide_domains: frozenset[str]
    leads: bool
    tickets: bool
    pages: bool
    all_routes: bool = False
    team_scoped: bool = False
    export_audit: bool = False


ROLES: dict[Role, RoleSpec] = {
    Role.SDR_MANAGER: RoleSpec(
        see_domains=frozenset({SALES}),
        decide_domains=frozenset({SALES}),
        leads=True,
        tickets=False,
        pages=True,
        team_scoped=True,
    ),
    Role.SUPPORT_LEAD: RoleSpec(
        see_domains=frozenset({SUPPORT}),
        decide_domains=frozenset({SUPPORT}),
        leads=False,
        tickets=True,
        pages=True,
    ),
    Role.OPS_ADMIN: RoleSpec(
        see_domains=ALL_DOMAINS,
        decide_domains=ALL_DOMAINS,
        leads=True,
        tickets=True,
        pages=True,
        all_routes=True,
        export_audit=True,
    ),
    # Read-only oversight: sees every item wherever it is routed, decides nothing, exports the log.
    Role.AUDITOR: RoleSpec(
        see_domains=ALL_DOMAINS,
        decide_domains=frozenset(),
        leads=True,
        tickets=True,
        pages=True,
        all_routes=True,
        export_audit=True,
    ),
    # External agents: over the API only, propose and poll (their key's scopes narrow it further).
    Role.INTEGRATION: RoleSpec(
        see_domains=ALL_DOMAINS,
        decide_domains=frozenset(),
        leads=True,
        tickets=True,
        pages=False,
        all_routes=True,
    ),
}

# Django permissions each role's group holds ("app_label.codename"); ``OPS_ADMIN_APPS`` means
# every permission of those apps. Auditors get every ``view_`` permission of the same apps.
OPS_ADMIN_APPS = (
    "sales",
    "support",
    "scoring",
    "approvals",
    "audit",
    "notifications",
    "operations",
    "taskruns",
    "connectors",
    "security",
    "django_q",
    "auth",
)
VIEW_PERSONAL_DATA = "security.view_personal_data"
ROLE_PERMISSIONS: dict[Role, tuple[str, ...]] = {
    Role.SDR_MANAGER: (
        "sales.view_lead",
        "sales.view_account",
        "sales.view_leadevent",
        "sales.view_sdrqueue",
        "approvals.view_proposedaction",
        "approvals.change_proposedaction",
        "approvals.view_decision",
        VIEW_PERSONAL_DATA,
    ),
    Role.SUPPORT_LEAD: (
        "support.view_ticket",
        "approvals.view_proposedaction",
        "approvals.change_proposedaction",
        "approvals.view_decision",
        VIEW_PERSONAL_DATA,
    ),
    Role.OPS_ADMIN: (),  # every permission of OPS_ADMIN_APPS (view_personal_data included)
    Role.AUDITOR: (),  # every view_ permission of OPS_ADMIN_APPS; never personal data
    Role.INTEGRATION: (
        "sales.view_lead",
        "sales.add_lead",
        "sales.change_lead",
        "support.view_ticket",
        "approvals.add_proposedaction",
        "approvals.view_proposedaction",
        "approvals.view_decision",
        "scoring.view_modelversion",
        # An integration executes the payloads it proposed and had approved: it needs them whole.
        VIEW_PERSONAL_DATA,
    ),
}


@dataclass(frozen=True)
class Access:
    """The union of a user's roles: what they may see and decide, and how."""

    roles: frozenset[Role]
    see_domains: frozenset[str]
    decide_domains: frozenset[str]
    leads: bool
    tickets: bool
    pages: bool
    all_routes: bool
    export_audit: bool
    # Sales reached only through team-scoped roles: narrow sales items to the user's queues.
    team_scoped_sales: bool
    superuser: bool = False

    def may_see(self, *, domain: str, routed_to_mine: bool) -> bool:
        """Whether an action of ``domain`` is visible (teams aside); ``routed_to_mine``: routed to
        one of the user's groups or to none."""
        if self.superuser:
            return True
        return domain in self.see_domains and (self.all_routes or routed_to_mine)

    def may_decide(self, *, domain: str, routed_to_mine: bool) -> bool:
        """Whether a visible action of ``domain`` may be approved, rejected or deferred by the user."""
        if self.superuser:
            return True
        return self.may_see(domain=domain, routed_to_mine=routed_to_mine) and domain in self.decide_domains

    @property
    def decides_anything(self) -> bool:
        return self.superuser or bool(self.decide_domains)

    @property
    def read_only(self) -> bool:
        """Only read-only roles (auditors): no write anywhere, even where staff may write."""
        return bool(self.roles) and self.roles <= {Role.AUDITOR} and not self.superuser


def access_for(*, group_names: Iterable[str], is_superuser: bool = False) -> Access:
    """The access of a user in ``group_names``; groups that are no role add nothing."""
    roles = frozenset(GROUP_ROLES[name] for name in group_names if name in GROUP_ROLES)
    specs = [ROLES[role] for role in roles]
    if is_superuser:
        return Access(
            roles=roles,
            see_domains=ALL_DOMAINS,
            decide_domains=ALL_DOMAINS,
            leads=True,
            tickets=True,
            pages=True,
            all_routes=True,
            export_audit=True,
            team_scoped_sales=False,
            superuser=True,
        )
    sales_roles = [spec for spec in specs if SALES in spec.see_domains]
    return Access(
        roles=roles,
        see_domains=frozenset().union(*(s.see_domains for s in specs)),
        decide_domains=frozenset().union(*(s.decide_domains for s in specs)),
        leads=any(s.leads for s in specs),
        tickets=any(s.tickets for s in specs),
        pages=any(s.pages for s in specs),
        all_routes=any(s.all_routes for s in specs),
        export_audit=any(s.export_audit for s in specs),
        team_scoped_sales=bool(sales_roles) and all(s.team_scoped for s in sales_roles),
    )


def api_only(access: Access) -> bool:
    """True for a user whose roles allow no browser page (an integration account)."""
    return bool(access.roles) and not access.pages and not access.superuser
