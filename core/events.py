"""Cross-app follow-ups as on-commit events: one app publishes what happened, others react.

An app that must trigger work in another app (re-score changed leads, run the playbooks over newly
scored ones) does not import that app's tasks: it publishes a declared topic, and the other app
subscribes a handler in its ``AppConfig.ready()``::

    events.subscribe("leads.changed", rescore_changed_leads)   # scoring/apps.py
    events.publish("leads.changed", lead_ids=[1, 2])            # sales/services.py

- Handlers run after the current transaction commits (``transaction.on_commit``), so they never see
  work that is rolled back, and never run before the change they react to is visible to a worker;
  outside a transaction they run at once (Django's on_commit behaviour).
- Topics and their payload fields are declared in ``TOPICS``: a misspelt topic or field is an
  ``EventError`` at the call, not a follow-up that silently never happens.
- A handler that raises is logged and does not stop the others, nor fail the publisher's request:
  the change is committed already, and the follow-ups are queued work that has its own retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

Handler = Callable[..., object]

#: Every topic, with the payload fields a publisher passes (all of them, and no others).
TOPICS: Mapping[str, frozenset[str]] = {
    # Leads were created or their data changed (an import, a CRM sync): ids of the changed leads.
    "leads.changed": frozenset({"lead_ids"}),
    # The acting scores of leads changed: their ids, or None when every lead was scored.
    "leads.scored": frozenset({"lead_ids"}),
    # Our own mail to these leads bounced for good (connectors.mail.inbound): suppress their email.
    "mail.bounced": frozenset({"lead_ids"}),
    # Text messages to these leads must stop (connectors.twilio: a STOP reply, a number that takes no
    # texts): withdraw their SMS channel, recorded with its source and why.
    "sms.stopped": frozenset({"lead_ids", "source", "note"}),
    # A person approved or rejected a proposed action (web, API, email or Slack): its id.
    "actions.decided": frozenset({"action_id"}),
}


class EventError(ValueError):
    """An undeclared topic, or a payload whose fields are not the topic's declared ones."""


class EventBus:
    """Subscribers by topic; ``publish`` delivers to them after the transaction commits."""

    def __init__(self, topics: Mapping[str, frozenset[str]]) -> None:
        self.topics = dict(topics)
        self._handlers: dict[str, list[Handler]] = {topic: [] for topic in self.topics}

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call ``handler(**payload)`` on every later publish of ``topic``, in subscription order.
        Subscribing the same handler twice is a no-op (``ready()`` may run more than once)."""
        handlers = self._handlers_of(topic)
        if handler not in handlers:
            handlers.append(handler)

    def subscribers(self, topic: str) -> tuple[Handler, ...]:
        """The handlers subscribed to ``topic``, in delivery order."""
        return tuple(self._handlers_of(topic))

    def publish(self, topic: str, **payload: Any) -> None:
        """Deliver ``payload`` to the topic's subscribers once the current transaction commits
        (at once outside a transaction; never if it rolls back)."""
        handlers = list(self._handlers_of(topic))
        fields = self.topics[topic]
        if set(payload) != fields:
            raise EventError(
                f"{topic}: the payload must have the fields {sorted(fields)}, got {sorted(payload)}"
            )
        if handlers:
            transaction.on_commit(lambda: deliver(topic, handlers, payload))

    def _handlers_of(self, topic: str) -> list[Handler]:
        try:
            return self._handlers[topic]
        except KeyError:
            raise EventError(f"unknown event topic {topic!r}; declared: {sorted(self.topics)}") from None


def deliver(topic: str, handlers: list[Handler], payload: Mapping[str, Any]) -> None:
    """Run each handler; one that raises is logged and the rest still run."""
    for handler in handlers:
        try:
            handler(**payload)
        except Exception:
            name = f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', handler)}"
            logger.exception("event handler %s for %s failed", name, topic, extra={"event_topic": topic})


bus = EventBus(TOPICS)
subscribe = bus.subscribe
publish = bus.publish
