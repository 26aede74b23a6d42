"""The Weibo panel shown beside a customer (inbox, admin), registered in
ChannelsWeiboConfig.ready."""

from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from crm.models import Conversation

from .models import WeiboComment, WeiboPost


def customer_panel(customer):
    """Beside a customer: their Weibo identities and latest posts and comments about the brand."""
    users = list(customer.weibo_users.all())
    if not users:
        return None
    posts = (
        WeiboPost.objects.filter(author__in=users, is_brand_post=False, account__isnull=False)
        .select_related("account")
        .order_by("-created_at")[:5]
    )
    comments = WeiboComment.objects.filter(author__in=users).order_by("-created_at")[:5]
    cases = Conversation.objects.filter(
        customer=customer,
        channel="weibo",
        kind=Conversation.Kind.COMPLAINT,
        status__in=["open", "pending"],
    )
    html = render_to_string(
        "channels_weibo/customer_panel.html",
        {"users": users, "posts": posts, "comments": comments, "cases": cases},
    )
    return _("Weibo"), html
