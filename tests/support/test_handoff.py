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


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tags": "refund"}, "tags"),  # a list of tags, not one string
        ({"tags": ["ok", 3]}, "tags"),
        ({"group": "12\nBcc: x"}, "group"),  # one line: it goes into the helpdesk's API
        ({"group": ""}, "group"),
        ({"queue": "Refunds\u202eevil"}, "queue"),
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
