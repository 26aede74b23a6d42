"""The agents' inbox pages (mounted at /inbox/ by crm.urls)."""

from django.urls import path

from . import pages, teams

app_name = "inbox"

urlpatterns = [
    path("", pages.conversation_list, name="list"),
    path("<int:pk>/", pages.conversation_detail, name="detail"),
    path("<int:pk>/reply/", pages.conversation_reply, name="reply"),
    path("<int:pk>/assign/", pages.conversation_assign, name="assign"),
    path("<int:pk>/resolve/", pages.conversation_resolve, name="resolve"),
    path("<int:pk>/transfer/", teams.transfer, name="transfer"),
    path("presence/", teams.presence, name="presence"),
]
