from crm.api.routers import api_router

from . import views

app_name = "channels_weibo-api"
router = api_router()
router.register("accounts", views.AccountViewSet, basename="weibo-account")
router.register("posts", views.PostViewSet, basename="weibo-post")
router.register("mentions", views.MentionViewSet, basename="weibo-mention")
router.register("keyword-rules", views.KeywordRuleViewSet, basename="weibo-keyword-rule")
router.register("campaigns", views.CampaignViewSet, basename="weibo-campaign")

urlpatterns = router.urls
