from rest_framework.routers import SimpleRouter

from . import views

# DRF uses trailing_slash as the URL pattern's slash regex; the stubs type it as bool.
router = SimpleRouter(trailing_slash="/?")  # type: ignore[arg-type]
router.register("accounts", views.OfficialAccountViewSet)
router.register("conversations", views.ConversationViewSet)
router.register("messages", views.MessageViewSet)

urlpatterns = router.urls
