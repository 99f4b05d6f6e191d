"""Vendor connectors by name: each vendor module registers its class; callers never branch on vendor."""

from __future__ import annotations

from importlib import import_module

from connectors.base import ConnectionConfig, Connector

_REGISTRY: dict[str, type[Connector]] = {}

#: Modules that register a connector when imported (one per vendor folder).
VENDOR_MODULES = (
    "connectors.salesforce.connector",
    "connectors.hubspot.connector",
    "connectors.zendesk.connector",
    "connectors.intercom.connector",
    "connectors.mail.connector",
    "connectors.twilio.connector",
)


def register(cls: type[Connector]) -> type[Connector]:
    """Class decorator: make ``cls`` the connector for ``cls.vendor``."""
    existing = _REGISTRY.get(cls.vendor)
    if existing is not None and existing is not cls:
        raise ValueError(f"vendor {cls.vendor!r} is already registered by {existing.__qualname__}")
    _REGISTRY[cls.vendor] = cls
    return cls


def _load_vendors() -> None:
    for module in VENDOR_MODULES:
        try:
            import_module(module)
        except ModuleNotFoundError as exc:
            # A vendor folder not written yet is simply absent; a broken import inside one is not.
            if exc.name != module and not module.startswith(f"{exc.name}."):
                raise


def vendors() -> list[str]:
    """The names of every registered vendor a connection names (``Connector.configured``), sorted;
    AgentOps's own mail sender needs none."""
    _load_vendors()
    return sorted(name for name, cls in _REGISTRY.items() if cls.configured)


def vendor_class(vendor: str) -> type[Connector] | None:
    """The connector class registered for ``vendor``, or None."""
    _load_vendors()
    return _REGISTRY.get(vendor)


def connector_for(config: ConnectionConfig) -> Connector:
    """A connector for ``config.vendor``; a clear error for a vendor nobody registered."""
    _load_vendors()
    try:
        cls = _REGISTRY[config.vendor]
    except KeyError:
        raise LookupError(
            f"no connector for vendor {config.vendor!r} (known: {', '.join(sorted(_REGISTRY)) or 'none'})"
        ) from None
    return cls(config)
