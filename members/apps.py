from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")
    role_permissions: dict[str, list[str]] = {"marketing": [], "agent": []}
