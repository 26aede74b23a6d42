"""The figures of one mass send (issue #18, item 6).

- `targeted`: followers planned to receive it; `skipped_consent`: followers of the target
  without marketing consent; `deferred`: waiting for quota;
- `sent`, `failed` (recipients) and `failed_by_reason` {errcode: recipients};
- `filtered`: WeChat's FilterCount summed over the jobs (MASSSENDJOBFINISH);
- `clicks` / `unique_clickers`: clicks on the send's tracked link (crm.links);
- `converted`: recipients whose customer paid an order within 7 days after it was sent;
- `unfollowed`: recipients who unfollowed within 3 days after it was sent.
"""

from datetime import timedelta

from django.db.models import Count, Exists, OuterRef

from crm.models import LinkClick
from members.models import Order

from ..models import WeChatUser
from ..models.mass import MassSend, MassSendRecipient
from .content import link_source

CONVERSION_WINDOW = timedelta(days=7)
UNFOLLOW_WINDOW = timedelta(days=3)


def send_report(send: MassSend) -> dict:
    sent = MassSendRecipient.objects.filter(send=send, status=MassSendRecipient.Status.SENT)
    reasons = dict(
        MassSendRecipient.objects.filter(send=send, status=MassSendRecipient.Status.FAILED)
        .values("error_code")
        .annotate(n=Count("id"))
        .values_list("error_code", "n")
    )
    clicks = LinkClick.objects.filter(source=link_source(send)).aggregate(
        clicks=Count("id"), visitors=Count("visitor", distinct=True)
    )
    paid = Order.objects.filter(
        customer_id=OuterRef("customer_id"),
        paid_at__gte=OuterRef("sent_at"),
        paid_at__lt=OuterRef("sent_at") + CONVERSION_WINDOW,
    )
    left = WeChatUser.objects.filter(
        pk=OuterRef("user_id"),
        unsubscribe_time__gte=OuterRef("sent_at"),
        unsubscribe_time__lt=OuterRef("sent_at") + UNFOLLOW_WINDOW,
    )
    outcome = sent.aggregate(
        converted=Count("id", filter=Exists(paid)),
        unfollowed=Count("id", filter=Exists(left)),
    )
    return {
        "targeted": send.targeted,
        "skipped_consent": send.skipped_consent,
        "deferred": send.deferred,
        "sent": send.sent,
        "failed": send.failed,
        "failed_by_reason": dict(sorted(reasons.items())),
        "filtered": send.filtered,
        "clicks": clicks["clicks"],
        "unique_clickers": clicks["visitors"],
        "converted": outcome["converted"],
        "unfollowed": outcome["unfollowed"],
    }
