from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        # Registers the support metrics with the operations KPI dashboard.
        from support import kpis  # noqa: F401
