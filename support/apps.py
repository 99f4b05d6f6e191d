from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        # Registers the support metrics with the operations KPI dashboard.
        from approvals.subjects import subject_register
        from support import kpis  # noqa: F401
        from support.subjects import TICKET

        # Actions act on tickets: approvals finds, checks and shows them through the subjects registry.
        subject_register(TICKET)
