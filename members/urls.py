"""Pages and webhooks of this app (mounted by crm.urls)."""

urlpatterns: list = []
