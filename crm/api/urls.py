from . import inbox, views
from .routers import api_router

app_name = "crm-api"
router = api_router(root=True)
router.register("customers", views.CustomerViewSet)
router.register("tags", views.TagViewSet)
router.register("segments", views.SegmentViewSet)
router.register("leads", views.LeadViewSet)
router.register("conversation-labels", inbox.ConversationLabelViewSet)
router.register("conversations", inbox.InboxConversationViewSet)
router.register("notifications", inbox.NotificationViewSet)

urlpatterns = router.urls
