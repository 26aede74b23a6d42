"""The agents' inbox pages (mounted at /inbox/ by crm.urls)."""

from django.urls import path

from . import live, media, notes, pages, search, teams

app_name = "inbox"

urlpatterns = [
    path("", pages.conversation_list, name="list"),
    path("<int:pk>/", pages.conversation_detail, name="detail"),
    path("<int:pk>/reply/", pages.conversation_reply, name="reply"),
    path("<int:pk>/assign/", pages.conversation_assign, name="assign"),
    path("<int:pk>/resolve/", pages.conversation_resolve, name="resolve"),
    path("media/<int:pk>/<str:variant>/", media.media_file, name="media"),
    path("<int:pk>/media/", media.send_media, name="send-media"),
    path("<int:pk>/read/", live.mark_read, name="read"),
    path("live/events/", live.events, name="live-events"),
    path("<int:pk>/notes/", notes.conversation_note, name="note"),
    path("<int:pk>/labels/", notes.conversation_labels, name="labels"),
    path("notifications/", notes.notification_list, name="notifications"),
    path("notifications/read/", notes.notifications_read, name="notifications-read"),
    path("search/", search.search_page, name="search"),
    path("<int:pk>/transfer/", teams.transfer, name="transfer"),
    path("presence/", teams.presence, name="presence"),
]
