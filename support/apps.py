from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        from approvals.subjects import subject_register
        from support.subjects import TICKET

        # Actions act on tickets: approvals finds, checks and shows them through the subjects registry.
        subject_register(TICKET)
