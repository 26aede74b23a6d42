"""The WeChat API's filters (the inbox pages use crm's `ConversationFilterSet` itself)."""

import django_filters

from crm.filtersets import ConversationFilterSet, UTCDateTimeRangeFilter
from crm.models import Message


class WeChatConversationFilterSet(ConversationFilterSet):
    """The inbox filters less `channel` and `kind`: the API lists WeChat service conversations."""

    class Meta(ConversationFilterSet.Meta):
        fields = ["assigned", "status", "account", "assignee", "customer", "opened"]


class MessageFilterSet(django_filters.FilterSet):
    sent = UTCDateTimeRangeFilter(field_name="sent_at")

    class Meta:
        model = Message
        fields = [
            "conversation",
            "direction",
            "msg_type",
            "sender_kind",
            "delivery_status",
            "account",
            "sent",
        ]
