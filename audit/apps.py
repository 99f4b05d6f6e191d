from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        # Security sits below audit and cannot import it: its key changes reach the decision log
        # through this writer, called inside the transaction of each change.
        from audit.services import decision_log_append
        from security.decision_log import decision_log_writer_register

        decision_log_writer_register(decision_log_append)
