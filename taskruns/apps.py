from django.apps import AppConfig


class TaskRunsConfig(AppConfig):
    """The task-run ledger (``taskruns.ledger``): every app's background tasks run under it, so it sits
    below them all and imports none of them."""

    name = "taskruns"
    verbose_name = "Background tasks"

    def ready(self) -> None:
        from django_q.signals import post_execute_in_worker, pre_execute

        from taskruns import checks  # noqa: F401  (registers the system checks)
        from taskruns.ledger import forget_task_id, remember_task_id

        # The ledger tells a redelivered copy of a finished task by its django-q id.
        pre_execute.connect(remember_task_id, dispatch_uid="taskruns.ledger.remember")
        post_execute_in_worker.connect(forget_task_id, dispatch_uid="taskruns.ledger.forget")
