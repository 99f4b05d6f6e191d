"""Seed a small published knowledge base: one article (version 1) for each of a handful of common
intents that the seeded policies mark safe, with the bot's reply fragments.

The wording is generic (no fee amounts or delivery times the bank has not stated): the articles send
people to where the figure is shown in the app. Edit them in the admin as new versions.
"""

from django.db import migrations
from django.utils import timezone

HELLO = 'Hi {{ first_name | "there" }},\n\n'
BYE = "\n\nIf this does not answer your question, reply to this message and a person will pick it up."

ARTICLES = [
    {
        "intent": "card_arrival",
        "title": "My new card has not arrived",
        "reply": HELLO + "Cards are sent by post once they are ordered; the card section of the app shows "
        "the date yours was sent. If it has not arrived a week after that date, please tell us "
        "and we will cancel it and send a new one." + BYE,
    },
    {
        "intent": "card_delivery_estimate",
        "title": "How long a card takes to arrive",
        "reply": HELLO + "The delivery estimate for your card is shown in the card section of the app as "
        "soon as the card has been ordered. Delivery times depend on the country you live in." + BYE,
    },
    {
        "intent": "activate_my_card",
        "title": "Activating a card",
        "reply": HELLO + "To activate your card, open the app, go to the card section and choose "
        "\"Activate card\", then follow the steps. You need the card itself at hand." + BYE,
    },
    {
        "intent": "exchange_rate",
        "title": "Which exchange rate we use",
        "reply": HELLO + "We convert at the exchange rate shown in the app at the moment of the "
        "exchange; the app shows the rate and any fee before you confirm." + BYE,
    },
    {
        "intent": "top_up_by_card_charge",
        "title": "Fees for topping up by card",
        "reply": HELLO + "Whether a top-up by card carries a fee depends on the card you use; the app "
        "shows any fee on the top-up screen before you confirm, so you never pay one you did "
        "not see." + BYE,
    },
    {
        "intent": "age_limit",
        "title": "Minimum age to open an account",
        "reply": HELLO + "You need to be 18 or older to open an account in your own name." + BYE,
    },
    {
        "intent": "apple_pay_or_google_pay",
        "title": "Apple Pay and Google Pay",
        "reply": HELLO + "You can add your card to Apple Pay or Google Pay from the card section of the "
        "app (\"Add to wallet\"), or from the wallet app on your phone." + BYE,
    },
    {
        "intent": "card_not_working",
        "title": "My card is not working",
        "diagnostics": ["card_last4"],
        "questions": HELLO + "Sorry your card is not working. So that we look at the right card, please "
        "reply with the last 4 digits of the card (never the full number or the PIN), and "
        "where and when it was refused." + BYE,
        "reply": HELLO + "Thanks. Please check in the app that the card ending {{ card_last4 }} is not "
        "frozen and that the kind of payment you tried is switched on in its security settings. "
        "If both are fine and it is still refused, reply here and a person will look into it." + BYE,
    },
    {
        "intent": "top_up_limits",
        "title": "Top-up limits",
        "needs_account_lookup": True,
        "reply": HELLO + "Top-up limits depend on your plan; your account {{ account_name }} is on the "
        "{{ plan }} plan, and the top-up screen in the app shows how much you can still add "
        "today." + BYE,
    },
]


def seed(apps, schema_editor):
    Article = apps.get_model("support", "Article")
    ReplyFragment = apps.get_model("support", "ReplyFragment")
    now = timezone.now()
    for spec in ARTICLES:
        article, created = Article.objects.get_or_create(
            intent=spec["intent"],
            version=1,
            defaults={
                "title": spec["title"],
                "status": "published",
                "published_at": now,
                "diagnostics": spec.get("diagnostics", []),
                "needs_account_lookup": spec.get("needs_account_lookup", False),
            },
        )
        if not created:
            continue
        ReplyFragment.objects.create(article=article, key="reply", text=spec["reply"])
        if "questions" in spec:
            ReplyFragment.objects.create(article=article, key="questions", text=spec["questions"])


def unseed(apps, schema_editor):
    apps.get_model("support", "Article").objects.filter(
        intent__in=[spec["intent"] for spec in ARTICLES], version=1
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("support", "0004_bot_kb_metrics")]

    operations = [migrations.RunPython(seed, unseed)]
