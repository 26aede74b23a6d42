from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardsConfig(AppConfig):
    name = "dashboards"
    verbose_name = _("Dashboards")
    role_permissions: dict[str, list[str]] = {"marketing": [], "agent": []}

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (registers the tasks)
