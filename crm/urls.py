"""URL wiring: each app brings its own API router and pages; this file only mounts them."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import links, views

api_v1 = [
    path("", include("crm.api.urls")),
    path("", include("members.api.urls")),
    path("wechat/", include("channels_wechat.api.urls")),
    path("weibo/", include("channels_weibo.api.urls")),
    path("", include("dashboards.api.urls")),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", views.healthz, name="healthz"),
    path("h/<str:token>", views.handoff_page, name="handoff"),
    path("r/<str:token>", links.follow_link, name="tracked-link"),
    path("h/<str:token>/oauth", views.handoff_oauth_callback, name="handoff-oauth"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/", admin.site.urls),
    path("inbox/", include("crm.inbox.urls")),
    path("", include("channels_wechat.urls")),
    path("", include("channels_weibo.urls")),
    path("", include("members.urls")),
    path("", include("dashboards.urls")),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
