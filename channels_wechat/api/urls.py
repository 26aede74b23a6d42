from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash="/?")
router.register("accounts", views.OfficialAccountViewSet)
router.register("conversations", views.ConversationViewSet)
router.register("messages", views.MessageViewSet)

urlpatterns = router.urls
