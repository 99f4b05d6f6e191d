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
        # Actions act on leads: approvals finds, checks and shows them through the subjects registry.
        from approvals.subjects import subject_register
        from sales.subjects import LEAD

        subject_register(LEAD)

        # Every outbound message is scanned with the admin's compliance patterns when proposed.
        from approvals.scanners import Scanner, scanner_register
        from sales.selectors import compliance_scanner

        scanner_register(Scanner(name="compliance patterns", prepare=compliance_scanner))

        from core import events
        from sales.tasks import playbooks_after_scoring

        events.subscribe("leads.scored", playbooks_after_scoring)

        # Team-scoped SDR managers see their SDR queues' sales work: security asks sales for them.
        from sales.scoping import sdr_teams_of
        from security.selectors import user_teams_register

        user_teams_register(sdr_teams_of)
