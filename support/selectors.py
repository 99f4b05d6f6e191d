"""Reads for the support pages (HackSoft-style selectors)."""

from __future__ import annotations

from django.db.models import BooleanField, ExpressionWrapper, Q

from scoring.choices import ModelKind, ModelStatus
from scoring.models import ModelVersion
from support.choices import ArticleStatus
from support.models import Article, IntentPolicy


def intent_version_holdout() -> ModelVersion | None:
    """The champion intent model, else the newest one (thresholds are set before a promotion too),
    with its stored hold-out predictions and without its artifact; one query."""
    is_champion = ExpressionWrapper(Q(status=ModelStatus.CHAMPION), output_field=BooleanField())
    return (
        ModelVersion.objects.filter(kind=ModelKind.INTENT)
        .annotate(is_champion=is_champion)
        .order_by("-is_champion", "-version")
        .only("id", "kind", "name", "version", "status", "reference", "preprocessing", "metrics")
        .first()
    )


def intent_policies() -> list[IntentPolicy]:
    return list(IntentPolicy.objects.order_by("intent"))


#: What the bot's read-only account lookup reads from the local mirror of the customer's account
#: (``sales.Account``, kept in step with the CRM by the connectors): the name, and the plan and
#: billing status when the CRM provides them. Nothing here writes.
LOOKUP_ATTRIBUTES = ("plan", "billing_status", "seats")


def account_lookup_read(*, account_id: int) -> dict[str, str]:
    """The account facts the bot may use in a reply (read-only; absent facts are left out)."""
    from sales.models import Account

    account = Account.objects.only("name", "attributes").get(pk=account_id)
    found = {"account_name": account.name}
    for name in LOOKUP_ATTRIBUTES:
        value = (account.attributes or {}).get(name)
        if value not in (None, ""):
            found[name] = str(value)
    return found


def published_articles(intents: list[str]) -> dict[str, Article]:
    """The published article version of each intent that has one, with its fragments (two queries)."""
    articles = Article.objects.filter(intent__in=intents, status=ArticleStatus.PUBLISHED).prefetch_related(
        "fragments"
    )
    return {article.intent: article for article in articles}
