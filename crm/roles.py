"""The staff roles of DESIGN.md as Django groups, and the permissions each one holds.

Each app declares what its models grant to each role in its AppConfig attribute
`role_permissions = {"agent": ["view_customer", ...]}` (codenames of that app's models);
`sync_roles` runs after every migrate and makes the groups match exactly, so adding a model to an
app and a line to its AppConfig is all a new resource needs. Superusers hold everything.

- marketing: manages customers, tags, segments, leads and every marketing object; merges and exports.
- agent: answers customers: reads them, edits their contact data, writes notes, opens leads;
  cannot export, merge or delete customers.
- manager: reads everything and changes nothing (plus the read-only permissions an app
  declares under "manager", e.g. seeing every team's conversations).
"""

from django.apps import apps

ROLES = ("marketing", "agent", "manager")


def _codenames_for(app_config, role: str) -> list[str]:
    declared = getattr(app_config, "role_permissions", {})
    if role == "manager":
        # Managers read every model of every app that declares roles.
        if not declared:
            return []
        return [f"view_{m._meta.model_name}" for m in app_config.get_models()] + list(
            declared.get("manager", [])
        )
    return list(declared.get(role, []))


def sync_roles(**_kwargs) -> None:
    from django.contrib.auth.models import Group, Permission

    for role in ROLES:
        group, _created = Group.objects.get_or_create(name=role)
        wanted = []
        for app_config in apps.get_app_configs():
            codenames = _codenames_for(app_config, role)
            if codenames:
                wanted += list(
                    Permission.objects.filter(
                        content_type__app_label=app_config.label, codename__in=codenames
                    )
                )
        group.permissions.set(wanted)
