"""Pages of this app (mounted by crm.urls)."""

from django.urls import path

from . import views

app_name = "dashboards"

urlpatterns = [
    path("dashboards/", views.index, name="index"),
    path("dashboards/<slug:name>/", views.page, name="page"),
    path(
        "dashboards/<slug:name>/export/<slug:table>.<slug:fmt>",
        views.export,
        name="export",
    ),
]
