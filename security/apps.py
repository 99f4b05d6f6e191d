from django.apps import AppConfig


class SecurityConfig(AppConfig):
    """Sign-in and sessions, API keys with scopes, security headers."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "security"

    def ready(self) -> None:
        from security import schema, signals  # noqa: F401 - connects the receivers, registers the schemes
