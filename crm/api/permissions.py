"""API permissions: Django model permissions, with reads requiring `view_*`.

A viewset may name the permissions its custom actions need in `action_permissions`
(`{"merge": ["crm.merge_customer"]}`); those replace the method-based ones for that action.
"""

from rest_framework.permissions import DjangoModelPermissions


class RolePermissions(DjangoModelPermissions):
    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        wanted = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if wanted is not None:
            return request.user.has_perms(wanted)
        return super().has_permission(request, view)
