from django.db import models


class TaskRunStatus(models.TextChoices):
    """Where one run of a background task stands in the task-run ledger (``taskruns.ledger``)."""

    RUNNING = "running", "Running (lease held by a worker)"
    RETRYING = "retrying", "Waiting for another attempt"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (gave up; never retried)"
