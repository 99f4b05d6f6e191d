"""Run in a child process beside a real qcluster (``python -m tests.taskruns.ledger_child ...``), on
the child's database and broker: set up, queue, reap and report the drill tasks of ledger_tasks.py."""

from __future__ import annotations

import json
import sys
import time

import django


def main(argv: list[str]) -> None:
    django.setup()
    from django_q.tasks import async_task

    from taskruns.lease import arguments_key
    from taskruns.ledger import task_runs_reap
    from taskruns.models import TaskRun, TaskSettings
    from tests.taskruns.ledger_tasks import effects

    funcs = {
        "hold": "tests.taskruns.ledger_tasks.effect_after_hold_task",
        "fails": "tests.taskruns.ledger_tasks.always_fails_task",
    }

    def state(kind: str, args: list[str]) -> dict[str, object]:
        run = (
            TaskRun.objects.filter(func=funcs[kind], key=arguments_key(args, {}))
            .order_by("-updated_at")
            .first()
        )
        return {
            "status": run and run.status,
            "attempts": run and run.attempts,
            "requeues": run and run.requeues,
            "error": run and run.last_error,
            "started": effects(args[0], what="started"),
            "effects": effects(args[0]),
        }

    command, kind, *args = argv
    if command == "lease":
        # update_or_create: a transactional test earlier in the suite may have flushed the settings row
        # its data migration made (an update would then change nothing and leave the 660 s default).
        TaskSettings.objects.update_or_create(
            singleton=True, defaults={"lease_seconds": int(kind), "max_attempts": int(args[0])}
        )
        print(json.dumps({}))
    elif command == "enqueue":
        print(json.dumps({"task": async_task(funcs[kind], *args)}))
    elif command == "wait":  # wait <kind> <status> <seconds> <args...>: until the run is in <status>
        status, seconds, args = args[0], float(args[1]), args[2:]
        deadline = time.monotonic() + seconds
        while state(kind, args)["status"] != status and time.monotonic() < deadline:
            time.sleep(0.1)
        print(json.dumps(state(kind, args)))
    elif command == "reap-until":  # reap-until <kind> <status> <seconds> <args...>, then reap a while more
        status, seconds, args = args[0], float(args[1]), args[2:]
        deadline = time.monotonic() + seconds
        passes = 0
        while state(kind, args)["status"] != status and time.monotonic() < deadline:
            task_runs_reap()
            passes += 1
            time.sleep(0.3)
        for _ in range(6):  # nothing more happens: the failed run is never retried
            task_runs_reap()
            time.sleep(0.3)
        print(json.dumps({**state(kind, args), "passes": passes}))
    elif command == "reap":
        print(json.dumps(task_runs_reap().as_dict()))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
