"""What the training commands print about the validation gate, and their ``--promote`` step."""

from __future__ import annotations

from django.core.management.base import CommandError, OutputWrapper

from scoring.models import ModelVersion


def write_gate_report(stdout: OutputWrapper, version: ModelVersion) -> None:
    gate = version.validation
    stdout.write("validation gate: " + ("PASSED" if gate.get("passed") else "FAILED"))
    for check in gate.get("checks", []):
        stdout.write(f"  {'ok ' if check['passed'] else 'NO '} {check['name']}: {check['detail']}")


def promote_to_champion(stdout: OutputWrapper, version: ModelVersion, *, actor: str) -> None:
    """Promote through the gate (``scoring.services.model_version_promote``); a refusal is a CommandError."""
    from scoring.services import GateFailed, model_version_promote

    try:
        model_version_promote(
            version_id=version.pk, to="champion", actor=actor, reason="trained with --promote"
        )
    except GateFailed as exc:
        raise CommandError(str(exc)) from exc
    stdout.write(f"{version.label} is now champion")
