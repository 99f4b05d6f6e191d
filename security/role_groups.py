"""Create the role groups and give them their permissions, from ``security.roles``.

Used by the data migration (with the migration's historical apps), by ``manage.py roles_sync``
(after new models bring new permissions) and by ``seed_demo``. Idempotent: a second run changes
nothing. It sets each group's permissions to exactly the table's, so edit the table, not the group.
"""

from __future__ import annotations

from typing import Any

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions

from security.roles import OPS_ADMIN_APPS, ROLE_GROUPS, ROLE_PERMISSIONS, Role


def role_groups_sync(*, apps: Apps) -> dict[str, int]:
    """Make the five role groups hold exactly their permissions; answers group name → count."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    _ensure_permissions(apps)
    every = Permission.objects.filter(content_type__app_label__in=OPS_ADMIN_APPS)
    counts = {}
    for role, name in ROLE_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        if role == Role.OPS_ADMIN:
            permissions: Any = every
        elif role == Role.AUDITOR:
            # Read-only, and contacts' personal data stays masked for them.
            permissions = every.filter(codename__startswith="view_").exclude(
                content_type__app_label="security", codename="view_personal_data"
            )
        else:
            permissions = _named(Permission, ROLE_PERMISSIONS[role])
        group.permissions.set(permissions)
        counts[name] = group.permissions.count()
    return counts


def role_groups_remove(*, apps: Apps) -> None:
    """Undo ``role_groups_sync``: the groups go (their members leave them), permissions stay."""
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_GROUPS.values()).delete()


def _named(Permission: Any, names: tuple[str, ...]) -> list[Any]:
    wanted = {tuple(n.split(".", 1)) for n in names}
    found = [
        p
        for p in Permission.objects.filter(codename__in=[c for _, c in wanted]).select_related("content_type")
        if (p.content_type.app_label, p.codename) in wanted
    ]
    missing = wanted - {(p.content_type.app_label, p.codename) for p in found}
    if missing:
        raise LookupError(f"role permissions not found: {sorted('.'.join(m) for m in missing)}")
    return found


def _ensure_permissions(apps: Apps) -> None:
    """Permissions are made after ``migrate`` ends; a data migration needs them now."""
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True  # type: ignore[assignment]
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
