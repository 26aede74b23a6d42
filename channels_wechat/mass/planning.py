"""Who receives a mass send, and in which batches: set-based SQL, no row per customer in Python.

Selection: subscribed followers of the account whose customer is in the target (segment, crm
tag, or everyone). Followers without marketing consent (`Customer.consent_marketing`; a follower
with no customer has not consented) are counted and skipped. Followers who already received
`MONTHLY_MASS_QUOTA` mass sends this month (local month) are kept as `deferred` until the first
day of next month. Everyone else is `pending` and put into batches of at most
`settings.WECHAT_MASS_BATCH_SIZE` (10,000, WeChat's limit) openids of even size.
"""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from crm.filtersets import segment_customers

from ..models import WeChatUser
from ..models.mass import (
    MAX_OPENIDS_PER_CALL,
    MONTHLY_MASS_QUOTA,
    MassSend,
    MassSendBatch,
    MassSendRecipient,
    WeChatTag,
)

Status = MassSendRecipient.Status


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Start of this local month and of the next one (aware)."""
    local = timezone.localtime(now)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following


def target_followers(send: MassSend):
    """Subscribed followers of the send's account in its target (consent not applied)."""
    followers = WeChatUser.objects.filter(account_id=send.account_id, subscribed=True)
    if send.target == MassSend.Target.SEGMENT and send.segment is not None:
        customers = segment_customers(send.segment)
        return followers.filter(customer__in=customers.order_by().values("pk"))
    if send.target == MassSend.Target.TAG:
        return followers.filter(customer__tags=send.tag_id)
    return followers


def quota_left(user_ids, now: datetime | None = None) -> dict[int, int]:
    """Mass sends each follower may still receive this month {user id: 0..4}."""
    start, _next = month_bounds(now or timezone.now())
    used = dict(
        MassSendRecipient.objects.filter(
            user_id__in=user_ids, status=Status.SENT, sent_at__gte=start
        )
        .values("user_id")
        .annotate(n=Count("id"))
        .values_list("user_id", "n")
    )
    return {uid: max(MONTHLY_MASS_QUOTA - used.get(uid, 0), 0) for uid in user_ids}


def plan_send(send: MassSend, now: datetime | None = None) -> MassSend:
    """Store the recipients and batches of an approved send. Atomic (the send row is locked);
    a send already planned is left as it is (returns it unchanged).

    Raises ValidationError if the segment's filters no longer apply.
    """
    now = now or timezone.now()
    with transaction.atomic():
        send = MassSend.objects.select_for_update().get(pk=send.pk)
        if send.planned_at:
            return send
        followers = target_followers(send)
        consenting = followers.filter(customer__consent_marketing=True)
        counts = followers.aggregate(
            total=Count("id"), consenting=Count("id", filter=Q(customer__consent_marketing=True))
        )
        send.skipped_consent = counts["total"] - counts["consenting"]
        start, following = month_bounds(now)
        select_sql, select_params = (
            consenting.order_by().values("id", "customer_id", "openid").query.sql_with_params()
        )
        send.skipped_consent = counts["total"] - counts["consenting"]
        # Batches are made before the rows, so each row is inserted with its batch (one write
        # per recipient): NTILE spreads the pending ones evenly over enough batches for all
        # consenting followers; batches left empty (deferred followers) are dropped after.
        send.deferred = 0
        by_tag = _can_send_by_tag(send, counts["consenting"])
        batches = 1 if by_tag else max(1, -(-counts["consenting"] // batch_size()))
        first = _new_batches(send, batches)
        recipient, batch = MassSendRecipient._meta.db_table, MassSendBatch._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {recipient}
                    (send_id, user_id, customer_id, openid, status, not_before, error_code,
                     batch_id)
                SELECT %s, x.id, x.customer_id, x.openid,
                       CASE WHEN x.over THEN %s ELSE %s END,
                       CASE WHEN x.over THEN %s::timestamptz END, '',
                       CASE WHEN x.over THEN NULL ELSE b.id END
                FROM (
                    SELECT f.id, f.customer_id, f.openid, COALESCE(q.n, 0) >= %s AS over,
                           NTILE(%s) OVER (PARTITION BY COALESCE(q.n, 0) >= %s ORDER BY f.id)
                               + %s - 1 AS seq
                    FROM ({select_sql}) AS f
                    LEFT JOIN (
                        SELECT user_id, COUNT(*) AS n FROM {recipient}
                        WHERE status = %s AND sent_at >= %s GROUP BY user_id
                    ) AS q ON q.user_id = f.id
                ) AS x
                LEFT JOIN {batch} AS b ON b.send_id = %s AND b.seq = x.seq
                ON CONFLICT (send_id, user_id) DO NOTHING
                """,  # noqa: S608  table names from the models, values as parameters
                [
                    send.pk,
                    Status.DEFERRED,
                    Status.PENDING,
                    following,
                    MONTHLY_MASS_QUOTA,
                    batches,
                    MONTHLY_MASS_QUOTA,
                    first,
                    *select_params,
                    Status.SENT,
                    start,
                    send.pk,
                ],
            )
        _size_batches(send, first)
        planned = dict(
            MassSendRecipient.objects.filter(send=send)
            .values("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        send.targeted = sum(planned.values())
        send.deferred = planned.get(Status.DEFERRED, 0)
        send.use_sendall = by_tag and not send.deferred
        if by_tag and send.deferred:  # the tag reaches deferred followers: openid lists then
            MassSendRecipient.objects.filter(send=send).update(batch=None)
            MassSendBatch.objects.filter(send=send).delete()
            batch_pending(send)
        send.planned_at = now
        send.status = MassSend.Status.SENDING
        send.save()
    return send


def _can_send_by_tag(send: MassSend, pending: int) -> bool:
    """`sendall` to the WeChat tag only when it reaches exactly the planned followers: the tag is
    synced to that many members and nobody of the target was skipped or deferred."""
    if send.target != MassSend.Target.TAG or send.skipped_consent or send.deferred or not pending:
        return False
    linked = WeChatTag.objects.filter(account_id=send.account_id, tag=send.tag).first()
    return bool(linked and linked.synced_at and linked.member_count == pending)


def release_deferred(send: MassSend, now: datetime | None = None) -> int:
    """Deferred recipients whose time has come become pending again, unless their customer
    withdrew marketing consent or they unfollowed meanwhile (failed: `no_consent`,
    `unsubscribed`; never sent). Returns those released. Caller's transaction."""
    due = MassSendRecipient.objects.filter(
        send=send, status=Status.DEFERRED, not_before__lte=now or timezone.now()
    )
    due.exclude(customer__consent_marketing=True).update(
        status=Status.FAILED, error_code="no_consent", not_before=None
    )
    due.filter(user__subscribed=False).update(
        status=Status.FAILED, error_code="unsubscribed", not_before=None
    )
    return due.update(status=Status.PENDING, not_before=None)


def batch_size() -> int:
    configured = int(getattr(settings, "WECHAT_MASS_BATCH_SIZE", MAX_OPENIDS_PER_CALL))
    return min(configured, MAX_OPENIDS_PER_CALL)


def _new_batches(send: MassSend, count: int) -> int:
    """Create `count` batches numbered after the send's last one; returns the first number."""
    first = (MassSendBatch.objects.filter(send=send).aggregate(m=Max("seq"))["m"] or 0) + 1
    MassSendBatch.objects.bulk_create(
        [
            MassSendBatch(
                send=send, seq=seq, clientmsgid=f"crm{send.pk}-{seq}-{secrets.token_hex(4)}"
            )
            for seq in range(first, first + count)
        ]
    )
    return first


def _size_batches(send: MassSend, first: int) -> None:
    """Store each new batch's size; drop the new batches nobody was put in."""
    recipient, batch = MassSendRecipient._meta.db_table, MassSendBatch._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {batch} AS b SET size = x.n
            FROM (SELECT batch_id, COUNT(*) AS n FROM {recipient}
                  WHERE send_id = %s AND batch_id IS NOT NULL GROUP BY batch_id) AS x
            WHERE b.id = x.batch_id AND b.send_id = %s AND b.seq >= %s
            """,  # noqa: S608
            [send.pk, send.pk, first],
        )
    MassSendBatch.objects.filter(send=send, seq__gte=first, size=0).delete()


def batch_pending(send: MassSend) -> int:
    """Put the pending recipients that have no batch (released from deferral, left by a split
    batch) into new batches of even sizes, at most the batch size each (one when sending by
    tag). Returns the batches made. Caller's transaction."""
    count = MassSendRecipient.objects.filter(send=send, status=Status.PENDING, batch=None).count()
    if not count:
        return 0
    batches = 1 if send.use_sendall else -(-count // batch_size())
    first = _new_batches(send, batches)
    recipient, batch = MassSendRecipient._meta.db_table, MassSendBatch._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {recipient} AS r SET batch_id = b.id
            FROM (
                SELECT id, NTILE(%s) OVER (ORDER BY id) - 1 + %s AS seq FROM {recipient}
                WHERE send_id = %s AND status = %s AND batch_id IS NULL
            ) AS x
            JOIN {batch} AS b ON b.send_id = %s AND b.seq = x.seq
            WHERE r.id = x.id
            """,  # noqa: S608
            [batches, first, send.pk, Status.PENDING, send.pk],
        )
    _size_batches(send, first)
    return batches
