"""Local emulators of the vendor APIs we use (the sandbox), and the registry that finds them.

A vendor emulator module (``connectors/sandbox/<vendor>.py``) decorates its ``SandboxApp``
subclass with ``register_emulator``; ``emulators()`` imports every module in ``EMULATOR_MODULES``
and returns the registered classes, so ``manage.py run_sandbox`` never names a vendor. How to
write an emulator is documented in ``connectors.sandbox.server``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from connectors.sandbox.server import SandboxApp

EMULATOR_MODULES = (
    "connectors.sandbox.salesforce",
    "connectors.sandbox.hubspot",
    "connectors.sandbox.zendesk",
    "connectors.sandbox.intercom",
    "connectors.sandbox.twilio",
)

_EMULATORS: dict[str, type[SandboxApp]] = {}

App = TypeVar("App", bound="type[SandboxApp]")


def register_emulator(cls: App) -> App:
    """Class decorator: make ``cls`` the emulator started for ``cls.name``."""
    existing = _EMULATORS.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"emulator {cls.name!r} is already registered by {existing.__qualname__}")
    _EMULATORS[cls.name] = cls
    return cls


def emulators() -> dict[str, type[SandboxApp]]:
    """Every registered emulator by name, importing the vendor modules written so far."""
    for module in EMULATOR_MODULES:
        try:
            import_module(module)
        except ModuleNotFoundError as exc:
            # An emulator not written yet is simply absent; a broken import inside one is not.
            if exc.name != module:
                raise
    return dict(sorted(_EMULATORS.items()))
