"""The WeChat app's models, one module per topic; import them from here.

New topics get their own module and one line below (the app's models are what this package
exports).
"""

from .accounts import (
    EVENT_QUOTA,
    EVENT_WINDOW,
    MESSAGE_QUOTA,
    MESSAGE_WINDOW,
    AutoReplyRule,
    CannedResponse,
    OfficialAccount,
    WeChatUser,
)
from .codes import MAX_EXPIRE_SECONDS, MAX_SCENE_LENGTH, ChannelCode, ChannelCodeScan
from .mass import MassSend, MassSendBatch, MassSendRecipient, WeChatTag  # noqa: F401
from .templates import (
    MessageTemplate,
    NoticeKind,
    SubscribeConsent,
    SubscribeEvent,
    TemplateBinding,
    TemplateSend,
)

__all__ = [
    "EVENT_QUOTA",
    "EVENT_WINDOW",
    "MAX_EXPIRE_SECONDS",
    "MAX_SCENE_LENGTH",
    "MESSAGE_QUOTA",
    "MESSAGE_WINDOW",
    "AutoReplyRule",
    "CannedResponse",
    "ChannelCode",
    "ChannelCodeScan",
    "MessageTemplate",
    "NoticeKind",
    "SubscribeConsent",
    "SubscribeEvent",
    "TemplateBinding",
    "TemplateSend",
    "OfficialAccount",
    "WeChatUser",
]
