"""The agents' inbox pages (mounted at /inbox/ by crm.urls)."""

from django.urls import path

from . import inbox_views

app_name = "inbox"

urlpatterns = [
    path("", inbox_views.conversation_list, name="list"),
    path("<int:pk>/", inbox_views.conversation_detail, name="detail"),
    path("<int:pk>/reply/", inbox_views.conversation_reply, name="reply"),
    path("<int:pk>/assign/", inbox_views.conversation_assign, name="assign"),
    path("<int:pk>/resolve/", inbox_views.conversation_resolve, name="resolve"),
]
