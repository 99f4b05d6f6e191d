"""Accounts from the CRMs, as plain mapping: which of our account fields a HubSpot company or a
Salesforce Account sets, and which account a lead or contact record names. No ORM here:
``connectors.inbound`` applies what these functions read through the sales services.

- **Accounts**: HubSpot companies (webhook ``company.creation`` / ``company.propertyChange``, then the
  record is read) and Salesforce Accounts (outbound messages carry the record) become
  ``sales.Account`` rows by ``(vendor, vendor id)``.
- **A lead's account** is its CRM's association: a HubSpot contact's primary company
  (``associatedcompanyid``, which HubSpot keeps equal to the primary contact-to-company association;
  ``contact.associationChange`` makes the contact read again), a Salesforce lead's
  ``ConvertedAccountId``, and a Salesforce contact's ``AccountId`` for the leads with its email.
- **The account's value** (the approval policy's ``account_value``) is the field named by the
  connection's ``options.account_value_field``: by default HubSpot's ``total_revenue`` (the company's
  closed-won deal revenue, which HubSpot calculates); Salesforce has no standard field, so a
  Salesforce connection names its own (e.g. ``Annual_Contract_Value__c``) or leaves it unset.
- ``options.account_attributes`` (``{"Plan__c": "plan"}``) copies CRM fields into the account's
  attributes under our names: what the support bot's account lookup reads (plan, billing status,
  seats).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: Our kinds that name an account: their events link records to one after they are applied.
LINKING_KINDS = ("lead", "account", "contact", "ticket")


@dataclass(frozen=True)
class AccountFields:
    """One vendor's account record and the fields that associate other records with an account."""

    vendor: str
    title: str
    #: Their field -> ours, copied as given (validated by ``sales.account_rows``).
    fields: Mapping[str, str]
    #: Their field -> our attribute name.
    attributes: Mapping[str, str]
    #: The field holding the company's name, and the ones tried when it is empty.
    name_fields: tuple[str, ...]
    domain_field: str
    country_field: str
    default_value_field: str = ""
    #: The field of a lead record naming its account, and whether an empty value means "none now".
    lead_ref_field: str = ""
    lead_ref_cleared_by_empty: bool = False
    #: A contact record's account field and email field (Salesforce contacts; HubSpot's are leads).
    contact_ref_field: str = ""
    contact_email_field: str = ""
    #: Fields a read must carry besides the connector's defaults, per our kind.
    reads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


HUBSPOT = AccountFields(
    vendor="hubspot",
    title="HubSpot",
    fields={"industry": "industry", "numberofemployees": "employee_count", "annualrevenue": "annual_revenue"},
    attributes={"lifecyclestage": "lifecycle_stage", "hubspot_owner_id": "hubspot_owner_id", "type": "type"},
    name_fields=("name", "domain"),
    domain_field="domain",
    country_field="country",
    default_value_field="total_revenue",
    lead_ref_field="associatedcompanyid",
    lead_ref_cleared_by_empty=True,
    reads={
        "lead": ("associatedcompanyid",),
        "account": ("name", "domain", "industry", "numberofemployees", "annualrevenue", "country",
                    "lifecyclestage", "hubspot_owner_id"),
    },
)  # fmt: skip

SALESFORCE = AccountFields(
    vendor="salesforce",
    title="Salesforce",
    fields={"Industry": "industry", "NumberOfEmployees": "employee_count", "AnnualRevenue": "annual_revenue"},
    attributes={"Type": "account_type", "OwnerId": "salesforce_owner_id"},
    name_fields=("Name",),
    domain_field="Website",
    country_field="BillingCountry",
    lead_ref_field="ConvertedAccountId",
    contact_ref_field="AccountId",
    contact_email_field="Email",
    reads={
        "lead": ("ConvertedAccountId",),
        "account": ("Name", "Website", "Industry", "NumberOfEmployees", "AnnualRevenue", "BillingCountry",
                    "Type", "OwnerId"),
        "contact": ("Email", "AccountId"),
    },
)  # fmt: skip

ACCOUNT_FIELDS: dict[str, AccountFields] = {m.vendor: m for m in (HUBSPOT, SALESFORCE)}


def value_field(mapping: AccountFields, options: Mapping[str, Any]) -> str:
    """The CRM field holding the account's value: the connection's option, else the vendor default."""
    configured = options.get("account_value_field")
    return str(configured) if configured is not None else mapping.default_value_field


def _attribute_names(mapping: AccountFields, options: Mapping[str, Any]) -> dict[str, str]:
    configured = options.get("account_attributes") or {}
    return {**mapping.attributes, **{str(k): str(v) for k, v in dict(configured).items()}}


def read_fields(vendor: str, options: Mapping[str, Any]) -> dict[str, list[str]]:
    """Per our kind, the CRM fields a read must carry for accounts and their associations."""
    mapping = ACCOUNT_FIELDS.get(vendor)
    if mapping is None:
        return {}
    reads = {kind: list(names) for kind, names in mapping.reads.items()}
    extra = [value_field(mapping, options), *_attribute_names(mapping, options)]
    reads["account"] = list(dict.fromkeys([*reads.get("account", []), *(name for name in extra if name)]))
    return reads


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def domain_of(value: Any) -> str:
    """A company's web domain from a domain or a website URL: ``https://www.Acme.com/about`` ->
    ``acme.com``."""
    text = _text(value).lower()
    if not text:
        return ""
    host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    return host.removeprefix("www.")


def account_values(
    vendor: str, vendor_id: str, payload: Mapping[str, Any], options: Mapping[str, Any]
) -> dict[str, Any]:
    """Our account fields a company/Account record states (only those it carries). Values are as
    the CRM gave them: ``sales.account_rows`` validates them, naming the field of a bad one."""
    mapping = ACCOUNT_FIELDS[vendor]
    values: dict[str, Any] = {
        ours: payload[theirs] if payload[theirs] not in (None, "") else None
        for theirs, ours in mapping.fields.items()
        if theirs in payload
    }
    values["name"] = next(
        (_text(payload.get(name)) for name in mapping.name_fields if _text(payload.get(name))),
        f"{mapping.title} company {vendor_id}",
    )
    if mapping.domain_field in payload:
        values["domain"] = domain_of(payload[mapping.domain_field])
    if values.get("industry") is not None:
        values["industry"] = _text(values["industry"])
    attributes: dict[str, Any] = {}
    if mapping.country_field in payload:
        country = _text(payload[mapping.country_field])
        # HubSpot's country is free text ("Germany"): only a two-letter code is one of ours.
        if re.fullmatch(r"[A-Za-z]{2}", country) or not country:
            values["country"] = country
        else:
            attributes["country_name"] = country
    value_name = value_field(mapping, options)
    if value_name and value_name in payload:
        values["account_value"] = payload[value_name] if payload[value_name] not in (None, "") else "0"
    for theirs, ours in _attribute_names(mapping, options).items():
        if theirs in payload:
            attributes[ours] = payload[theirs] if payload[theirs] not in ("",) else None
    if attributes:
        values["attributes"] = attributes
    return values


def account_field_source(vendor: str, ours: str, options: Mapping[str, Any]) -> str:
    """The CRM field an account field of ours is read from (for error messages)."""
    mapping = ACCOUNT_FIELDS[vendor]
    if ours == "account_value":
        return value_field(mapping, options)
    if ours == "domain":
        return mapping.domain_field
    if ours == "country":
        return mapping.country_field
    if ours == "name":
        return mapping.name_fields[0]
    return next((theirs for theirs, name in mapping.fields.items() if name == ours), "")


def account_error(vendor: str, ours: str, message: str, options: Mapping[str, Any]) -> str:
    """A bad account value's error naming the CRM's field and ours: ``numberofemployees
    (employee_count): 'lots' is not a whole number``."""
    theirs = account_field_source(vendor, ours, options) if vendor in ACCOUNT_FIELDS else ""
    return f"{theirs} ({ours}): {message}" if theirs and theirs != ours else f"{ours}: {message}"


def lead_account_ref(vendor: str, payload: Mapping[str, Any]) -> str | None:
    """The CRM id of the account a lead record names; "" when the CRM says it has none now; None
    when the record says nothing about it (a Salesforce lead before conversion)."""
    mapping = ACCOUNT_FIELDS.get(vendor)
    if mapping is None or not mapping.lead_ref_field or mapping.lead_ref_field not in payload:
        return None
    ref = _text(payload[mapping.lead_ref_field])
    if ref or mapping.lead_ref_cleared_by_empty:
        return ref
    return None


def contact_account_ref(vendor: str, payload: Mapping[str, Any]) -> tuple[str, str] | None:
    """A contact record's ``(email, account CRM id or "")``; None without an email."""
    mapping = ACCOUNT_FIELDS.get(vendor)
    if mapping is None or not mapping.contact_ref_field:
        return None
    email = _text(payload.get(mapping.contact_email_field))
    if not email or mapping.contact_ref_field not in payload:
        return None
    return email, _text(payload[mapping.contact_ref_field])
