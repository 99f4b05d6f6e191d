from django.db import models


class TicketStatus(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending customer"
    SOLVED = "solved", "Solved"
    CLOSED = "closed", "Closed"


class TicketPriority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class TicketChannel(models.TextChoices):
    EMAIL = "email", "Email"
    CHAT = "chat", "Chat"
    WEB = "web", "Web form"
    PHONE = "phone", "Phone"
    API = "api", "API"


class ArticleStatus(models.TextChoices):
    """An article version's life: written as a draft, published (the bot uses it), then retired
    when a newer version of the same intent is published."""

    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class FragmentKey(models.TextChoices):
    """What a reply fragment is for."""

    REPLY = "reply", "Answer"
    QUESTIONS = "questions", "Diagnostic questions"


class BotOutcome(models.TextChoices):
    """What the support bot did with a ticket."""

    ANSWERED = "answered", "Answered from the knowledge base"
    ASKED = "asked", "Asked for diagnostics"
    HANDED_OFF = "handed_off", "Handed off to a person"


class ResolvedBy(models.TextChoices):
    BOT = "bot", "Bot"
    HUMAN = "human", "Human"


class TicketState(models.TextChoices):
    """Where a ticket stands with the bot, as the support lead's ticket list groups it; one state per
    ticket, the first that holds in this order (``support.selectors.tickets_workspace``)."""

    WAITING = "waiting", "Waiting for approval"  # an action on it waits for a person
    REOPENED = "reopened", "Reopened"  # the customer wrote again after the resolution
    HANDED_OFF = "handed_off", "Handed off"  # the bot gave it to people
    ANSWERED = "answered", "Answered"  # the bot answered it (or asked for details)
    NOT_SEEN = "not_seen", "Not seen by the bot"  # imported, or waiting for the bot's next run
