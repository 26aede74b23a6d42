"""Pages and webhooks of this app (mounted by crm.urls)."""

from django.urls import path

from . import hooks, views

urlpatterns = [
    path("hooks/weibo/<str:uid>", hooks.fanservice_hook, name="weibo-hook"),
    path("weibo/mentions/", views.mentions, name="weibo-mentions"),
    path("weibo/posts/<str:idstr>/", views.post_detail, name="weibo-post"),
    path("weibo/campaigns/<int:pk>/", views.campaign_detail, name="weibo-campaign"),
    path("weibo/cases/<int:pk>/reply/", views.case_reply, name="weibo-case-reply"),
    path("weibo/cases/<int:pk>/handoff/", views.case_handoff, name="weibo-case-handoff"),
    path("weibo/connect/", views.connect, name="weibo-connect"),
    path("weibo/oauth/callback/", views.oauth_callback, name="weibo-oauth-callback"),
]
