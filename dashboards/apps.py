from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardsConfig(AppConfig):
    name = "dashboards"
    verbose_name = _("Dashboards")
    # Managers get view_kpisnapshot (every view_*), which shows everything.
    role_permissions: dict[str, list[str]] = {
        "marketing": ["view_all_kpis"],
        "agent": ["view_own_kpis"],
    }

    def ready(self) -> None:
        from channels_weibo.campaigns import register_attribution
        from crm.attribution import register_customers_changed

        from . import tasks  # noqa: F401  (registers the tasks)
        from .kpis.attribution import campaign_figures

        register_attribution(campaign_figures)
        register_customers_changed("dashboards.kpis.attribution_store.refresh_customers")
