from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "sales"
    verbose_name = "Sales"

    def ready(self) -> None:
        from approvals.executors import InDatabase, executor_register
        from sales.cadence_services import CADENCE_AGENT, cadence_enrolments_execute

        # The outbox enrols approved enrol_cadence actions' leads in our own cadences.
        executor_register(
            InDatabase(
                name="cadences",
                kinds=frozenset({"enrol_cadence"}),
                execute=cadence_enrolments_execute,
                actor=CADENCE_AGENT,
            )
        )
        from agentops import events
        from sales.tasks import playbooks_after_scoring

        events.subscribe("leads.scored", playbooks_after_scoring)
