"""A seeded synthetic B2B SaaS data set for the demo: accounts, leads, engagement and tickets.

Pure generation (no ORM): the same seed and anchor date give the same rows, so seeding twice
writes nothing new. Accounts, leads and tickets have the shape the bulk upsert services take.
What the leads did (``events``: emails opened, clicked, replied to or bounced, meetings booked),
their opt-outs and their deals (won or lost: the lead's outcome) are facts a CRM records: the seed
hands them to the demo CRM (``connectors.demo_crm``), whose records reach our leads through the
inbound path, as a real CRM's do. The rows carry no outcome and no event of their own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

INDUSTRIES = [
    "Software",
    "Fintech",
    "Healthcare",
    "Retail",
    "Manufacturing",
    "Logistics",
    "Education",
    "Media",
]
REGIONS = {"EMEA": ["DE", "FR", "GB", "NL", "ES", "SE"], "NA": ["US", "CA"], "APAC": ["AU", "SG", "JP"]}
TIMEZONES = {
    "DE": "Europe/Berlin", "FR": "Europe/Paris", "GB": "Europe/London", "NL": "Europe/Amsterdam",
    "ES": "Europe/Madrid", "SE": "Europe/Stockholm", "US": "America/New_York", "CA": "America/Toronto",
    "AU": "Australia/Sydney", "SG": "Asia/Singapore", "JP": "Asia/Tokyo",
}  # fmt: skip
SIZE_BANDS = [
    ("1-10", 1, 10),
    ("11-50", 11, 50),
    ("51-200", 51, 200),
    ("201-1000", 201, 1000),
    ("1001+", 1001, 20000),
]
TITLES = [
    "VP Sales",
    "Head of Operations",
    "CTO",
    "IT Manager",
    "Revenue Operations Lead",
    "Founder",
    "Procurement Manager",
    "Support Director",
    "Data Engineer",
    "CFO",
]
FIRST = [
    "Ana",
    "Ben",
    "Chloé",
    "David",
    "Elif",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kara",
    "Luis",
    "Mia",
    "Noah",
    "Olu",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Yara",
    "Zoe",
]
LAST = [
    "Almeida",
    "Becker",
    "Chen",
    "Dubois",
    "Eriksson",
    "Fischer",
    "García",
    "Hughes",
    "Ito",
    "Jansen",
    "Kowalski",
    "Lopez",
    "Müller",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quist",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Underwood",
    "Virtanen",
    "Walsh",
    "Yilmaz",
    "Zimmer",
]
SYLLABLES = [
    "nova",
    "data",
    "flow",
    "core",
    "peak",
    "bright",
    "cloud",
    "stack",
    "loop",
    "quant",
    "astra",
    "mint",
    "forge",
    "pulse",
    "zen",
]
SUFFIXES = ["Labs", "Systems", "GmbH", "Inc", "Ltd", "Analytics", "Health", "Logistics", "Retail", "AG"]
LEAD_SOURCES = ["webinar", "content", "paid_search", "referral", "outbound", "event", "partner"]
TECH = ["salesforce", "hubspot", "zendesk", "intercom", "snowflake", "segment", "stripe"]
# What a CRM records of a lead's engagement (connectors.signals); web visits, downloads and intent
# data have no producer in AgentOps yet, so the demo has none either.
EVENT_KINDS = [
    ("email_open", 0.45), ("email_click", 0.2), ("email_reply", 0.12), ("meeting_booked", 0.06),
]  # fmt: skip
#: The share of leads one of whose emails bounced.
BOUNCE_SHARE = 0.02
TICKET_TEMPLATES = [
    ("billing", "Invoice shows the wrong number of seats", "Our invoice for this month lists {n} seats but we only have {m} active users. Can you correct it?"),
    ("billing", "Refund for duplicate charge", "We were charged twice for the {plan} plan this month. Please refund the duplicate payment."),
    ("login", "Cannot log in after password reset", "Since resetting my password this morning I get 'invalid credentials' on every attempt."),
    ("sso", "SSO with Okta fails", "Our Okta SAML login fails with error code {code} for all users in the {team} team."),
    ("integration", "Salesforce sync stopped", "Leads have not synced to Salesforce since {day}. The connector page says 'token expired'."),
    ("integration", "HubSpot contacts duplicated", "After connecting HubSpot we see duplicate contacts for about {n} records."),
    ("usage", "How do I export my reports?", "Is there a way to export the weekly pipeline report as CSV?"),
    ("usage", "Add more seats", "We need {n} more seats for our new SDR hires. How do we add them?"),
    ("bug", "Dashboard charts not loading", "The pipeline dashboard stays blank in Chrome and Firefox since yesterday."),
    ("account", "Close our account", "We are moving to another vendor. Please close our account and delete our data."),
    ("account", "Change account owner", "Our admin {name} left the company; please transfer ownership to me."),
    ("plan", "Downgrade to Starter", "We would like to downgrade to the Starter plan at renewal."),
]  # fmt: skip
HIGH_INTENT = {"email_reply", "meeting_booked", "email_click"}
PLANS = ["Starter", "Growth", "Pro", "Enterprise"]


@dataclass(frozen=True)
class DemoData:
    accounts: list[dict[str, Any]]
    leads: list[dict[str, Any]]
    lead_accounts: dict[str, str]  # lead external id -> account external id
    #: Engagement, each with lead_external_id, kind (a CRM-recorded LeadEventKind) and occurred_at.
    events: list[dict[str, Any]]
    tickets: list[dict[str, Any]]
    ticket_accounts: dict[str, str]
    #: Deals, each with lead_external_id, external_id, stage (open, won or lost), amount, created_at
    #: and closed_at (None while open): a won deal is the lead's conversion, a lost one its loss.
    deals: list[dict[str, Any]]
    #: Leads who opted out in the CRM, and when.
    opt_outs: dict[str, datetime]


def _company_name(rng: random.Random, used: set[str]) -> str:
    while True:
        name = f"{rng.choice(SYLLABLES).title()}{rng.choice(SYLLABLES)} {rng.choice(SUFFIXES)}"
        if name not in used:
            used.add(name)
            return name


def generate(
    *, anchor: datetime, accounts: int = 150, leads: int = 1500, tickets: int = 300, seed: int = 7
) -> DemoData:
    """Generate the demo data set; ``anchor`` is "now" for the data (make it a fixed time)."""
    rng = random.Random(seed)
    used: set[str] = set()
    account_rows: list[dict[str, Any]] = []
    for i in range(1, accounts + 1):
        region = rng.choices(list(REGIONS), weights=[5, 4, 2])[0]
        country = rng.choice(REGIONS[region])
        band, low, high = rng.choices(SIZE_BANDS, weights=[2, 4, 4, 3, 1])[0]
        employees = rng.randint(low, high)
        name = _company_name(rng, used)
        customer = rng.random() < 0.2
        account_rows.append(
            {
                "external_id": f"demo-acc-{i:04d}",
                "name": name,
                "domain": name.split()[0].lower() + ".example",
                "industry": rng.choice(INDUSTRIES),
                "employee_count": employees,
                "size_band": band,
                "annual_revenue": round(employees * rng.uniform(60_000, 220_000), -3),
                "region": region,
                "country": country,
                "account_value": round(rng.uniform(5_000, 250_000), -2) if customer else 0,
                "attributes": {
                    "tech_stack": sorted(rng.sample(TECH, rng.randint(1, 4))),
                    "customer": customer,
                },
            }
        )

    lead_rows: list[dict[str, Any]] = []
    lead_accounts: dict[str, str] = {}
    events: list[dict[str, Any]] = []
    deals: list[dict[str, Any]] = []
    opt_outs: dict[str, datetime] = {}
    emails: set[str] = set()
    for i in range(1, leads + 1):
        account = rng.choice(account_rows)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        external_id = f"demo-lead-{i:05d}"
        created = anchor - timedelta(days=rng.randint(1, 180), minutes=rng.randint(0, 1439))
        lead_source = rng.choice(LEAD_SOURCES)
        title = rng.choice(TITLES)
        # A hidden propensity drives engagement and outcome so the data has learnable signal:
        # firmographics, how the lead came in, who the person is, and how they engage.
        size_boost = {"1-10": -0.8, "11-50": -0.3, "51-200": 0.3, "201-1000": 0.7, "1001+": 0.5}[
            account["size_band"]
        ]
        propensity = (
            rng.gauss(0, 0.7)
            + size_boost
            + (0.5 if account["industry"] in ("Software", "Fintech") else 0)
            + {"referral": 0.9, "webinar": 0.5, "event": 0.3, "partner": 0.3, "paid_search": -0.4}.get(
                lead_source, 0
            )
            + (0.5 if title in ("VP Sales", "CTO", "Founder", "Revenue Operations Lead") else 0)
        )
        # Engaged leads open, click and reply more and book meetings; most of it in their first month.
        weights = [w * ((1 + max(propensity, -0.9)) ** 2 if k in HIGH_INTENT else 1) for k, w in EVENT_KINDS]
        n_events = max(0, int(rng.gauss(6 + 6 * propensity, 3)))
        active_minutes = max(1, int(min(45 * 24 * 60, (anchor - created).total_seconds() // 60)))
        kinds = [rng.choices([k for k, _ in EVENT_KINDS], weights=weights)[0] for _ in range(n_events)]
        if rng.random() < BOUNCE_SHARE:
            kinds.append("email_bounce")
        for j, kind in enumerate(kinds):
            events.append(
                {
                    "lead_external_id": external_id,
                    "external_id": f"{external_id}-ev{j:03d}",
                    "kind": kind,
                    "occurred_at": created + timedelta(minutes=rng.randint(0, active_minutes)),
                }
            )
        age_days = (anchor - created).days
        decided = age_days > 60 and rng.random() < 0.7
        converted = decided and rng.random() < 1 / (1 + 2.718 ** (-1.6 * (propensity - 0.9)))
        status = rng.choices(["new", "contacted", "nurturing", "qualified"], weights=[5, 4, 2, 1])[0]
        if decided:
            status = "converted" if converted else "disqualified"
        opportunity = status in ("qualified", "nurturing") and rng.random() < 0.5
        amount = round(account["employee_count"] ** 0.5 * rng.uniform(400, 1200), -2)
        if decided or opportunity:
            opened = created + timedelta(days=rng.randint(3, 15), minutes=rng.randint(0, 1439))
            stage = ("won" if converted else "lost") if decided else "open"
            deals.append(
                {
                    "lead_external_id": external_id,
                    "external_id": f"demo-deal-{i:05d}",
                    "stage": stage,
                    "amount": amount if stage != "lost" else None,
                    "created_at": min(opened, anchor),
                    "closed_at": created + timedelta(days=rng.randint(20, 60)) if decided else None,
                }
            )
        # One address per person: the consent registry suppresses an address, not a lead.
        email = f"{first.lower()}.{last.lower()}@{account['domain']}".encode("ascii", "ignore").decode()
        if email in emails:
            email = email.replace("@", f".{i}@")
        emails.add(email)
        consent = rng.choices(["granted", "unknown", "opted_out"], weights=[7, 2, 1])[0]
        if consent == "opted_out":  # they had agreed, then unsubscribed (recorded in the CRM)
            consent = "granted"
            opt_outs[external_id] = created + timedelta(minutes=rng.randint(0, active_minutes))
        lead_rows.append(
            {
                "source": "demo",
                "external_id": external_id,
                # The lead's contact in the demo CRM: what its records name (connectors.demo_crm).
                "hubspot_id": external_id,
                "first_name": first,
                "last_name": last,
                "email": email,
                "phone": f"+1-555-{rng.randint(1000, 9999)}",
                "title": title,
                "company_name": account["name"],
                "country": account["country"],
                "timezone": TIMEZONES[account["country"]],
                "status": status,
                "consent_state": consent,
                "has_open_opportunity": opportunity,
                "source_modified_at": (created + timedelta(days=min(age_days, 3))).isoformat(),
                "attributes": {
                    "lead_source": lead_source,
                    "industry": account["industry"],
                    "employee_count": account["employee_count"],
                    "size_band": account["size_band"],
                    "region": account["region"],
                    "annual_revenue": account["annual_revenue"],
                    "created_in_crm": created.isoformat(),
                },
            }
        )
        lead_accounts[external_id] = account["external_id"]

    ticket_rows: list[dict[str, Any]] = []
    ticket_accounts: dict[str, str] = {}
    accounts_by_id = {account["external_id"]: account for account in account_rows}
    for i in range(1, tickets + 1):
        # A customer's person writes in: one of our leads, so the helpdesk's requester email links
        # the ticket to the lead's account (support.account_links) once the CRM has linked the lead.
        requester = rng.choice(lead_rows)
        account = accounts_by_id[lead_accounts[requester["external_id"]]]
        topic, subject, body = rng.choice(TICKET_TEMPLATES)
        opened = anchor - timedelta(hours=rng.randint(1, 24 * 60))
        body = body.format(
            n=rng.randint(3, 40), m=rng.randint(1, 30), plan=rng.choice(PLANS), code=rng.randint(400, 599),
            team=rng.choice(["sales", "support", "finance"]), day=(opened - timedelta(days=2)).date().isoformat(),
            name=rng.choice(FIRST),
        )  # fmt: skip
        status = "solved" if opened < anchor - timedelta(days=7) else rng.choice(["new", "open", "pending"])
        external_id = f"demo-tkt-{i:05d}"
        ticket_rows.append(
            {
                "source": "demo",
                "external_id": external_id,
                "subject": subject,
                "body": body,
                "requester_name": f"{requester['first_name']} {requester['last_name']}",
                "requester_email": requester["email"],
                "status": status,
                "priority": rng.choices(["low", "normal", "high", "urgent"], weights=[2, 6, 2, 1])[0],
                "channel": rng.choice(["email", "chat", "web"]),
                "attributes": {"topic": topic, "plan": rng.choice(PLANS)},
                "source_created_at": opened.isoformat(),
                "source_modified_at": (opened + timedelta(hours=1)).isoformat(),
            }
        )
        ticket_accounts[external_id] = account["external_id"]
    return DemoData(
        account_rows, lead_rows, lead_accounts, events, ticket_rows, ticket_accounts, deals, opt_outs
    )
