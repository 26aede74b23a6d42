from crm.api.routers import api_router

from . import mass, views

app_name = "channels_wechat-api"
router = api_router()
router.register("accounts", views.OfficialAccountViewSet)
router.register("conversations", views.ConversationViewSet)
router.register("messages", views.MessageViewSet)
router.register("channel-codes", views.ChannelCodeViewSet)
router.register("mass-sends", mass.MassSendViewSet)
router.register("tags", mass.WeChatTagViewSet)

urlpatterns = router.urls
