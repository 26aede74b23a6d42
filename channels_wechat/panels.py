"""What WeChat adds to crm's pages, registered in ChannelsWechatConfig.ready: the panel beside a
customer (inbox, admin), the canned responses of the inbox's reply box and the texts of its send
errors."""

from django.db.models import Q
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from .models import CannedResponse, WeChatUser

# Refusals of WeChat's customer-service API an agent must understand, by errcode (registered
# with crm.send_errors in ChannelsWechatConfig.ready).
SEND_ERRORS = {
    "45015": _lazy(
        "WeChat refused: the customer has not written in the last 48 hours (or unfollowed), so "
        "no customer-service message can be sent until they write again."
    ),
    "45047": _lazy(
        "WeChat refused: five messages were already sent since the customer last wrote; wait "
        "for the customer to write again."
    ),
}


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
    return [{"title": r.title, "text": r.text} for r in rows.only("title", "text")]
