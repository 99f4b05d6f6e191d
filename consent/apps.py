from django.apps import AppConfig


class ConsentConfig(AppConfig):
    """The consent registry: what each person said about being contacted, per channel, kept as proof.

    A low app: the apps that contact people (sales' cadences and imports, connectors' webhooks)
    read and write it, and privacy (erasure, the consent API, the outbox's consent veto) builds on it.
    What a withdrawal does to queued work is theirs, not the registry's.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "consent"
    verbose_name = "Consent"
