from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        from approvals.change_control import ChangeController, change_controller_register
        from approvals.executors import (
            CallbackGate,
            Gate,
            InDatabase,
            callback_gate_register,
            executor_register,
            gate_register,
        )
        from approvals.subjects import subject_register
        from operations.change_control import (
            CONFIG_AGENT,
            CONFIGURATION,
            change_propose,
            config_changes_execute,
            is_controlled,
        )
        from operations.selectors import execution_holds, kill_switch_hold, quotas_lock

        # The outbox applies approved configuration changes.
        executor_register(
            InDatabase(
                name="change control",
                kinds=frozenset({"config_change"}),
                execute=config_changes_execute,
                actor=CONFIG_AGENT,
            )
        )
        # The admins of every app ask change control whether a save must be proposed instead.
        change_controller_register(ChangeController(is_controlled=is_controlled, propose=change_propose))
        # A configuration change acts on a controlled setting: the approval page shows it as it is now.
        subject_register(CONFIGURATION)
        # Every execution waits while a kill switch holds it or its quota is used up.
        gate_register(Gate(name="kill switches and quotas", check=execution_holds, lock=quotas_lock))
        # A decision callback waits while a kill switch holds callbacks (all, or its agent's).
        callback_gate_register(
            CallbackGate(
                name="kill switches",
                hold=lambda agent: kill_switch_hold(activity="callbacks", agent=agent),
            )
        )
