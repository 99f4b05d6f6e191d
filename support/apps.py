from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        from approvals.subjects import subject_register
        from scoring.intent_examples import intent_examples_register
        from support.selectors import intent_correction_examples
        from support.subjects import TICKET

        # Actions act on tickets: approvals finds, checks and shows them through the subjects registry.
        subject_register(TICKET)
        # Support leads' intent corrections are labelled examples for the next intent training run.
        intent_examples_register("support_corrections", intent_correction_examples)
