"""The lead as a subject of actions (``approvals.subjects``): registered in ``SalesConfig.ready``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from approvals.choices import ActionKind
from approvals.subjects import Facts, Subject, TargetRef
from approvals.targets import LeadContact, target_check
from sales.models import Lead


def _holds(action: Any) -> bool:
    return action.lead_id is not None


def _record_of(action: Any) -> Lead | None:
    return action.lead


def _find(ref: TargetRef) -> Lead | None:
    found = (
        Lead.objects.filter(pk=ref)
        if isinstance(ref, int)
        else Lead.objects.filter(source=ref[0], external_id=ref[1])
    )
    return found.only("pk", "email", "phone").first()


def _check(kind: str, payload: Mapping[str, Any], lead: Lead | None) -> None:
    contact = (
        LeadContact(email=lead.email or "", phone=lead.phone or "") if lead is not None else LeadContact()
    )
    target_check(kind, payload, lead=contact, ticket=None)


def _fields(lead: Lead | None) -> dict[str, Any]:
    """The lead as the approver sees it: its CRM attributes, then its columns."""
    if lead is None:
        return {}
    columns: dict[str, Any] = {
        "name": f"{lead.first_name} {lead.last_name}".strip(),
        "company_name": lead.company_name,
        "account": lead.account.name if lead.account else None,
        "email": lead.email,
        "title": lead.title,
        "country": lead.country,
        "status": lead.status,
        "owner": lead.owner.get_username() if lead.owner else None,
        "consent_state": lead.consent_state,
        "has_open_opportunity": lead.has_open_opportunity,
        "deal_value": lead.deal_value,
    }
    return {**(lead.attributes or {}), **columns}


def _facts(actions: Sequence[Any]) -> Facts:
    """A lead's deal value, its account's value, and whether an owner assignment takes it from
    someone (one query for all the actions' leads)."""
    leads = {
        lead.pk: lead
        for lead in Lead.objects.filter(pk__in={a.lead_id for a in actions})
        .select_related("account")
        .only("pk", "deal_value", "owner_id", "account__account_value")
    }
    facts: Facts = {}
    for action in actions:
        lead = leads.get(action.lead_id)
        if lead is None:
            continue
        facts[action.pk] = {
            "deal_value": lead.deal_value,
            "account_value": lead.account.account_value if lead.account else None,
            "ownership_change": action.kind == ActionKind.ASSIGN_OWNER and lead.owner_id is not None,
        }
    return facts


LEAD = Subject(
    name="lead",
    title="Lead",
    holds=_holds,
    record_of=_record_of,
    fields=_fields,
    find=_find,
    check=_check,
    facts=_facts,
)
