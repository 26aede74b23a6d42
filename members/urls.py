"""Pages and webhooks of this app (mounted by crm.urls)."""

from django.urls import path

from . import hooks, views

app_name = "members"

urlpatterns = [
    path("hooks/wechatpay/<str:mchid>", hooks.wechatpay_v2, name="wechatpay_v2"),
    path("hooks/wechatpay/<str:mchid>/v3", hooks.wechatpay_v3, name="wechatpay_v3"),
    path("m/", views.home, name="home"),
    path("m/card/code", views.card_code, name="card_code"),
    path("m/oauth", views.oauth_callback, name="oauth_callback"),
    path("m/join", views.join, name="join"),
    path("m/join/code", views.join_code, name="join_code"),
    path("m/marketing", views.marketing, name="marketing"),
    path("m/points", views.points, name="points"),
    path("m/coupons", views.coupons, name="coupons"),
    path("m/orders", views.orders, name="orders"),
    path("m/claim/<int:template_id>", views.claim, name="claim"),
]
