from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsWeiboConfig(AppConfig):
    name = "channels_weibo"
    verbose_name = _("Weibo")
    role_permissions: dict[str, list[str]] = {"marketing": [], "agent": []}
