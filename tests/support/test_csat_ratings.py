"""What a helpdesk rating means, pure: Zendesk's good/bad and Intercom's 1–5 on our CSAT scale, with
the vendor's time, and nothing for a rating not given."""

from __future__ import annotations

from datetime import UTC, datetime

from support.helpdesk_events import RATED, ZENDESK_SATISFACTION, classify

AT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _zendesk(rating: dict, topic: str = ZENDESK_SATISFACTION, delivery: dict | None = None):
    ticket = {"id": 7, "satisfaction_rating": rating}
    return classify(vendor="zendesk", topic=topic, payload=ticket, delivery=delivery or {}, at=AT)


def test_zendesk_good_and_bad_are_five_and_one_with_the_ratings_own_time():
    good = _zendesk({"id": 35, "score": "good", "comment": " Thanks ", "updated_at": "2026-11-27T09:30:00Z"})
    assert (good.kind, good.score, good.text, good.ref) == (RATED, 5, "Thanks", "zendesk:35")
    assert good.at == datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    assert _zendesk({"id": 35, "score": "bad"}, topic="sync").score == 1


def test_zendesk_without_the_ratings_time_takes_the_triggers_then_the_tickets():
    delivery = {"updated_at": "2026-11-27T09:45:00Z"}
    assert _zendesk({"id": 35, "score": "good"}, delivery=delivery).at == datetime(
        2026, 11, 27, 9, 45, tzinfo=UTC
    )
    assert _zendesk({"id": 35, "score": "good"}).at == AT


def test_an_offered_or_missing_zendesk_rating_or_another_event_is_no_rating():
    assert _zendesk({"score": "offered", "id": 35}).kind == ""
    assert _zendesk({"score": "unoffered"}).kind == ""
    assert classify(vendor="zendesk", topic="sync", payload={"id": 7}, delivery={}, at=AT).kind == ""
    assert _zendesk({"id": 35, "score": "good"}, topic="zen:event-type:ticket.tags_changed").kind == ""


def test_intercom_ratings_keep_their_scale_and_time_and_only_the_rating_topics_count():
    conversation = {
        "id": "100001",
        "conversation_rating": {
            "rating": 3,
            "remark": "ok",
            "created_at": 1764230000,
            "updated_at": 1764233600,
        },
    }
    read = classify(
        vendor="intercom", topic="conversation.rating.added", payload=conversation, delivery={}, at=AT
    )
    assert (read.kind, read.score, read.text, read.ref) == (RATED, 3, "ok", "intercom:100001")
    assert read.at == datetime.fromtimestamp(1764233600, tz=UTC)
    assert classify(vendor="intercom", topic="sync", payload=conversation, delivery={}, at=AT).score == 3
    noted = classify(
        vendor="intercom", topic="conversation.admin.noted", payload=conversation, delivery={}, at=AT
    )
    assert noted.kind == ""


def test_an_intercom_rating_outside_one_to_five_or_absent_is_no_rating():
    for rating in (None, 0, 6, "5", True):
        conversation = {"id": "1", "conversation_rating": {"rating": rating}}
        assert classify(vendor="intercom", topic="sync", payload=conversation, delivery={}, at=AT).kind == ""
    assert classify(vendor="intercom", topic="sync", payload={"id": "1"}, delivery={}, at=AT).kind == ""
