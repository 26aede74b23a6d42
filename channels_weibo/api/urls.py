from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash="/?")  # type: ignore[arg-type]  # slash optional
router.register("accounts", views.AccountViewSet, basename="weibo-account")
router.register("posts", views.PostViewSet, basename="weibo-post")
router.register("mentions", views.MentionViewSet, basename="weibo-mention")
router.register("keyword-rules", views.KeywordRuleViewSet, basename="weibo-keyword-rule")
router.register("campaigns", views.CampaignViewSet, basename="weibo-campaign")

urlpatterns = router.urls
