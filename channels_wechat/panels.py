"""What WeChat adds to crm's pages, registered in ChannelsWechatConfig.ready: the panel beside a
customer (inbox, admin) and the canned responses of the inbox's reply box."""

from django.db.models import Q
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from .models import CannedResponse, WeChatUser


def customer_panel(customer) -> tuple[str, str] | None:
    """The customer's WeChat followers: account, subscription, scene, service window."""
    users = list(WeChatUser.objects.filter(customer=customer).select_related("account"))
    if not users:
        return None
    html = render_to_string("channels_wechat/customer_panel.html", {"users": users})
    return _("WeChat"), html


def canned_responses(account: str) -> list[dict[str, str]]:
    """The canned responses for this official account (appid) and those for every account."""
    rows = CannedResponse.objects.filter(Q(account__isnull=True) | Q(account__appid=account))
    return list(rows.values("title", "text"))
