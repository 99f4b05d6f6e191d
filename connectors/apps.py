from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connectors"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from connectors.execution import register_outside_executor
        from connectors.models import Connection
        from connectors.webhook_targets import webhook_targets_forget

        # A changed connection (a rotated secret, deactivated, deleted) is not served from the
        # webhook endpoint's per-process copy a moment longer in this process.
        for signal in (post_save, post_delete):
            signal.connect(webhook_targets_forget, sender=Connection, dispatch_uid="webhook_targets_forget")
        # Every kind that goes to a CRM, a helpdesk or mail leaves through this app's executor.
        register_outside_executor()

        from approvals.executors import Veto, veto_register
        from connectors.models import OutcomeMapping
        from connectors.outcome_guard import guarded_fields_forget, outcome_field_refusals

        # A lead's outcome comes from the CRM alone: no agent writes a field it is read from.
        veto_register(Veto(name="outcome fields", refusals=outcome_field_refusals, code="outcome_field"))

        from connectors.sms import sms_kind_refusals, sms_route_refusals

        # An SMS nothing can send is never proposed (a cadence skips the step), nor sent half-way.
        veto_register(
            Veto(
                name="sms route",
                refusals=sms_route_refusals,
                code="no_sms_route",
                kind_refusals=sms_kind_refusals,
            )
        )
        for signal in (post_save, post_delete):
            signal.connect(guarded_fields_forget, sender=OutcomeMapping, dispatch_uid="guarded_fields_forget")
