"""Pages and webhooks of this app (mounted by crm.urls)."""

from django.urls import path

from .hooks import wechat_hook

urlpatterns = [
    path("hooks/wechat/<str:appid>", wechat_hook, name="wechat-hook"),
]
