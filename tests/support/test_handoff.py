"""Which handoff route a ticket takes (support.handoff). Pure: no database."""

from __future__ import annotations

import pytest

from support.handoff import HandoffRule, handoff_route

ANY = HandoffRule(name="any", group="1")
ZENDESK = HandoffRule(name="zendesk", group="2", source="zendesk")
REFUNDS = HandoffRule(name="refunds", group="3", intent="request_refund")
ZENDESK_REFUNDS = HandoffRule(name="zendesk refunds", group="4", intent="request_refund", source="zendesk")
RULES = [ANY, ZENDESK, REFUNDS, ZENDESK_REFUNDS]


@pytest.mark.parametrize(
    ("intent", "source", "expected"),
    [
        ("request_refund", "zendesk", ZENDESK_REFUNDS),  # intent and helpdesk
        ("request_refund", "intercom", REFUNDS),  # intent beats helpdesk
        ("card_arrival", "zendesk", ZENDESK),  # helpdesk beats the catch-all
        ("card_arrival", "intercom", ANY),
        ("", "demo", ANY),  # no model: no intent
    ],
)
def test_the_most_specific_route_wins(intent, source, expected):
    assert handoff_route(RULES, intent=intent, source=source) == expected


def test_among_equally_specific_routes_the_lower_order_wins_then_the_name():
    first = HandoffRule(name="b", group="1", intent="x", order=1)
    later = HandoffRule(name="a", group="2", intent="x", order=5)
    same_order = HandoffRule(name="a", group="3", intent="x", order=1)
    assert handoff_route([later, first], intent="x", source="zendesk") == first
    assert handoff_route([first, same_order], intent="x", source="zendesk") == same_order


def test_without_a_matching_route_there_is_none():
    assert handoff_route([REFUNDS, ZENDESK], intent="card_arrival", source="intercom") is None
    assert handoff_route([], intent="x", source="y") is None


PORTUGUESE = HandoffRule(name="portuguese", group="5", language="pt")
BRAZIL = HandoffRule(name="brazil", group="6", language="pt-BR")
BUSINESS = HandoffRule(name="business", group="7", team="Business accounts")
BUSINESS_ZENDESK = HandoffRule(name="business zendesk", group="8", team="Business accounts", source="zendesk")
BUSINESS_REFUNDS = HandoffRule(
    name="business refunds", group="9", intent="request_refund", team="Business accounts"
)
BY_WHOM = [*RULES, PORTUGUESE, BRAZIL, BUSINESS, BUSINESS_ZENDESK, BUSINESS_REFUNDS]


@pytest.mark.parametrize(
    ("intent", "source", "team", "language", "expected"),
    [
        ("card_arrival", "intercom", "", "pt", PORTUGUESE),  # the language beats the catch-all
        ("card_arrival", "intercom", "", "PT-pt", PORTUGUESE),  # a regional tag takes its language's route
        ("card_arrival", "intercom", "", "pt-BR", BRAZIL),  # the whole tag beats its language
        ("card_arrival", "zendesk", "", "pt", PORTUGUESE),  # the language beats the helpdesk
        ("card_arrival", "zendesk", "", "en", ZENDESK),
        ("card_arrival", "intercom", "", "ptx", ANY),  # not a tag of pt
        ("card_arrival", "intercom", "Business accounts", "pt", BUSINESS),  # the team beats the language
        ("card_arrival", "zendesk", "Business accounts", "", BUSINESS_ZENDESK),  # team and helpdesk
        ("request_refund", "zendesk", "Business accounts", "", BUSINESS_REFUNDS),  # the intent comes first
        ("request_refund", "zendesk", "Retail", "pt", ZENDESK_REFUNDS),  # another team's route never matches
        ("card_arrival", "intercom", "", "", ANY),  # unknown team and language: only routes naming neither
    ],
)
def test_routes_match_the_tickets_team_and_language_too(intent, source, team, language, expected):
    found = handoff_route(BY_WHOM, intent=intent, source=source, team=team, language=language)
    assert found == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tags": "refund"}, "tags"),  # a list of tags, not one string
        ({"tags": ["ok", 3]}, "tags"),
        ({"group": "12\nBcc: x"}, "group"),  # one line: it goes into the helpdesk's API
        ({"group": ""}, "group"),
        ({"queue": "Refunds\u202eevil"}, "queue"),
        ({"language": "Portuguese"}, "language"),  # a language tag, not a name
        ({"language": "pt_BR"}, "language"),
        ({"assignee": "361\nBcc: x"}, "assignee"),  # one line too
    ],
)
def test_a_route_the_handoff_could_not_carry_is_refused_naming_the_field(changes, field):
    from django.core.exceptions import ValidationError

    from support.models import HandoffRoute

    route = HandoffRoute(
        **{"name": "Refunds", "group": "12", "queue": "Refunds", "tags": ["refund"], **changes}
    )
    with pytest.raises(ValidationError) as refused:
        route.full_clean()
    assert field in refused.value.message_dict
    assert not HandoffRoute.objects.exists()
