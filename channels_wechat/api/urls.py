from crm.api.routers import api_router

from . import mass, templates, views

app_name = "channels_wechat-api"
router = api_router()
router.register("accounts", views.OfficialAccountViewSet)
router.register("conversations", views.ConversationViewSet)
router.register("messages", views.MessageViewSet)
router.register("channel-codes", views.ChannelCodeViewSet)
router.register("mass-sends", mass.MassSendViewSet)
router.register("tags", mass.WeChatTagViewSet)
router.register("message-templates", templates.MessageTemplateViewSet)
router.register("template-sends", templates.TemplateSendViewSet)

urlpatterns = router.urls
