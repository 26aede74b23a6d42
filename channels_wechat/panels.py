"""Pages of the WeChat channel: the customer panel shown beside a customer (inbox, admin)."""

from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from .models import WeChatUser


def customer_panel(customer) -> tuple[str, str] | None:
    """The customer's WeChat followers: account, subscription, scene, service window."""
    users = list(WeChatUser.objects.filter(customer=customer).select_related("account"))
    if not users:
        return None
    html = render_to_string("channels_wechat/customer_panel.html", {"users": users})
    return _("WeChat"), html
