"""The account mapping (pure): which of our account fields a HubSpot company or a Salesforce Account
sets, and which account a lead or contact record names."""

from __future__ import annotations

import pytest

from connectors.inbound_accounts import (
    account_error,
    account_values,
    contact_account_ref,
    domain_of,
    lead_account_ref,
    read_fields,
)
from sales.account_rows import size_band


@pytest.mark.parametrize(
    ("given", "domain"),
    [
        ("https://www.Acme.io/about", "acme.io"),
        ("acme.io", "acme.io"),
        ("www.acme.co.uk", "acme.co.uk"),
        ("http://shop.acme.io:8080", "shop.acme.io"),
        ("", ""),
        (None, ""),
    ],
)
def test_it_reads_a_domain_from_a_domain_or_a_website(given, domain):
    assert domain_of(given) == domain


@pytest.mark.parametrize(
    ("employees", "band"),
    [(None, ""), (0, ""), (10, "1-10"), (11, "11-50"), (1000, "201-1000"), (1001, "1001+")],
)
def test_it_bands_companies_by_employees(employees, band):
    assert size_band(employees) == band


def test_it_maps_a_hubspot_company_and_keeps_a_country_name_as_an_attribute():
    payload = {
        "name": "",
        "domain": "acme.io",
        "numberofemployees": "120",
        "country": "Germany",
        "total_revenue": None,
        "lifecyclestage": "customer",
        "plan_tier": "Pro",
    }

    values = account_values("hubspot", "42", payload, {"account_attributes": {"plan_tier": "plan"}})

    assert values == {
        "name": "acme.io",  # no name: the domain, as HubSpot shows it
        "domain": "acme.io",
        "employee_count": "120",
        "account_value": "0",  # the revenue rollup is empty: no closed-won deal
        "attributes": {"country_name": "Germany", "lifecycle_stage": "customer", "plan": "Pro"},
    }


def test_a_salesforce_account_has_no_value_until_the_connection_names_its_field():
    payload = {"Name": "Initech", "Website": "https://initech.com", "BillingCountry": "us", "ACV__c": "5000"}

    assert "account_value" not in account_values("salesforce", "001", payload, {})
    assert (
        account_values("salesforce", "001", payload, {"account_value_field": "ACV__c"})["account_value"]
        == "5000"
    )
    assert account_values("salesforce", "001", payload, {})["country"] == "us"  # upper-cased when checked


def test_an_account_error_names_the_crms_field_and_ours():
    assert (
        account_error("salesforce", "employee_count", "bad", {}) == "NumberOfEmployees (employee_count): bad"
    )
    assert (
        account_error("hubspot", "account_value", "bad", {"account_value_field": "acv"})
        == "acv (account_value): bad"
    )


def test_a_lead_names_its_account_or_says_it_has_none():
    assert lead_account_ref("hubspot", {"associatedcompanyid": "7"}) == "7"
    assert lead_account_ref("hubspot", {"associatedcompanyid": None}) == ""  # the association was removed
    assert lead_account_ref("hubspot", {"email": "a@b.co"}) is None  # not read: says nothing
    assert lead_account_ref("salesforce", {"ConvertedAccountId": None}) is None  # not converted yet
    assert lead_account_ref("salesforce", {"ConvertedAccountId": "001A"}) == "001A"
    assert lead_account_ref("zendesk", {"x": 1}) is None


def test_a_contact_names_its_email_and_account():
    assert contact_account_ref("salesforce", {"Email": "a@b.co", "AccountId": "001A"}) == ("a@b.co", "001A")
    assert contact_account_ref("salesforce", {"Email": "a@b.co", "AccountId": None}) == ("a@b.co", "")
    assert contact_account_ref("salesforce", {"Email": "", "AccountId": "001A"}) is None
    assert contact_account_ref("hubspot", {"email": "a@b.co"}) is None  # HubSpot's contacts are leads


def test_reads_carry_the_value_and_attribute_fields_the_connection_names():
    reads = read_fields(
        "salesforce", {"account_value_field": "ACV__c", "account_attributes": {"Plan__c": "plan"}}
    )

    assert reads["lead"] == ["ConvertedAccountId"]
    assert reads["contact"] == ["Email", "AccountId"]
    assert {"ACV__c", "Plan__c", "Name", "NumberOfEmployees"} <= set(reads["account"])
    assert "total_revenue" in read_fields("hubspot", {})["account"]
    assert read_fields("zendesk", {}) == {}
