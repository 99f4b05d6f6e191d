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
