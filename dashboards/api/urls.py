from django.urls import re_path

from . import views

app_name = "dashboards-api"
# With or without the trailing slash, like the other resources.
urlpatterns = [
    re_path(r"^kpis/wechat/?$", views.WeChatKpis.as_view(), name="kpis-wechat"),
    re_path(r"^kpis/weibo/?$", views.WeiboKpis.as_view(), name="kpis-weibo"),
    re_path(r"^kpis/funnel/?$", views.FunnelKpis.as_view(), name="kpis-funnel"),
]
