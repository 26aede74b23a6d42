from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsWechatConfig(AppConfig):
    name = "channels_wechat"
    verbose_name = _("WeChat")
    role_permissions: dict[str, list[str]] = {"marketing": [], "agent": []}
