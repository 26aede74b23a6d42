"""The report per channel code: scans, new followers, early unfollows, leads, members, orders,
revenue, as annotations of a ChannelCode queryset (one SQL statement for any number of codes).

Definitions (first touch: a follower is attributed to the first code it followed or scanned
through, `WeChatUser.channel_code`, from `channel_code_at`):
- scans: every follow or scan through the code (ChannelCodeScan rows, applied or not);
- new_followers: follows through the code by someone who had never followed the account;
- unsubscribed_7d: attributed followers who unfollowed within 7 days of being attributed;
- leads: attributed customers with a Lead created at or after the attribution;
- members: attributed customers whose Membership joined at or after the attribution;
- orders / revenue_fen: their orders paid at or after the attribution, and the paid amount
  minus what was refunded.
"""

from datetime import timedelta

from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from crm.models import Lead
from members.models import Membership, Order

from .models import ChannelCodeScan, WeChatUser

FIGURES = (
    "scans",
    "new_followers",
    "unsubscribed_7d",
    "leads",
    "members",
    "orders",
    "revenue_fen",
)
EARLY_UNFOLLOW = timedelta(days=7)
VIA = "customer__wechat_users__"  # from a customer's rows to its followers


def _scalar(queryset, group: str, value) -> Coalesce:
    """One aggregated value per code, as a correlated subquery grouped by `group`."""
    rows = (
        queryset.filter(**{group: OuterRef("pk")})
        .order_by()
        .values(group)
        .annotate(figure=value)
        .values("figure")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def with_figures(codes: QuerySet) -> QuerySet:
    """`codes` annotated with FIGURES (integers, 0 when none)."""
    attributed_at = F(f"{VIA}channel_code_at")
    group = f"{VIA}channel_code"
    orders = Order.objects.filter(paid_at__isnull=False, paid_at__gte=attributed_at)
    return codes.annotate(
        scans=_scalar(ChannelCodeScan.objects.all(), "code", Count("pk")),
        new_followers=_scalar(
            ChannelCodeScan.objects.filter(new_follower=True), "code", Count("pk")
        ),
        unsubscribed_7d=_scalar(
            WeChatUser.objects.filter(
                unsubscribe_time__gte=F("channel_code_at"),
                unsubscribe_time__lte=F("channel_code_at") + EARLY_UNFOLLOW,
            ),
            "channel_code",
            Count("pk"),
        ),
        leads=_scalar(
            Lead.objects.filter(created_at__gte=attributed_at),
            group,
            Count("customer", distinct=True),
        ),
        members=_scalar(
            Membership.objects.filter(joined_at__gte=attributed_at),
            group,
            Count("customer", distinct=True),
        ),
        orders=_scalar(orders, group, Count("pk", distinct=True)),
        revenue_fen=_scalar(orders, group, Sum(F("amount_fen") - F("refunded_fen"))),
    )
