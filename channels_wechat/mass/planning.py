"""Who receives a mass send, and in which batches: set-based SQL, no row per customer in Python.

Selection: subscribed followers of the account whose customer is in the target (segment, crm
tag, or everyone). Followers without marketing consent (`Customer.consent_marketing`; a follower
with no customer has not consented) are counted and skipped. Followers who already received
`MONTHLY_MASS_QUOTA` mass sends this month (local month) are kept as `deferred` until the first
day of next month. Everyone else is `pending` and put into batches of at most
`settings.WECHAT_MASS_BATCH_SIZE` (10,000, WeChat's limit) openids of even size.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, Max, Q
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
        start, following = month_bounds(now)
        first = (MassSendBatch.objects.filter(send=send).aggregate(m=Max("seq"))["m"] or 0) + 1
        insert = _insert_recipients if connection.vendor == "postgresql" else _insert_portable
        planned = insert(send, first, start, following)
        send.skipped_consent = planned.total - planned.consenting
        send.targeted = sum(planned.by_status.values())
        send.deferred = planned.by_status.get(Status.DEFERRED, 0)
        _size_batches(send, first, planned.sizes)
        send.use_sendall = planned.by_tag and not send.deferred
        if planned.by_tag and send.deferred:  # the tag reaches deferred followers: openid lists
            MassSendRecipient.objects.filter(send=send).update(batch=None)
            MassSendBatch.objects.filter(send=send).delete()
            batch_pending(send)
        send.planned_at = now
        send.status = MassSend.Status.SENDING
        send.save()
    return send


@dataclass
class _Planned:
    total: int  # followers in the target
    consenting: int  # of them with marketing consent
    by_tag: bool  # one `sendall` to the WeChat tag (see _tag_members)
    by_status: dict[str, int]  # recipients written, by status
    sizes: dict[int, int]  # recipients written, by batch id


def _insert_recipients(
    send: MassSend, first: int, start: datetime, following: datetime
) -> _Planned:
    """Write the send's recipients and their batches in one statement, one pass over the target.

    The target is read once: its followers with their consent and this month's sends are
    counted (skipped for consent, batches needed) and the consenting ones inserted, pending or
    deferred, with their batch. The batches (numbered from `first`) are inserted by the same
    statement, as many as the consenting followers need, or one when the send goes to the
    WeChat tag; NTILE spreads the pending followers evenly over them (ordered by follower id).
    Counting the target first, then inserting, then counting the rows again read the target
    twice and the new rows twice more (bench/mass_send.py).

    No ON CONFLICT: the target has each follower once and the send (locked, not planned) has
    no recipients yet, and the speculative insert it needs cost 0.5-1 s of 2.9-3.4 s for
    225,000 rows (EXPLAIN ANALYZE); a duplicate would fail the plan instead of passing unseen.
    """
    consent = ExpressionWrapper(Q(customer__consent_marketing=True), BooleanField())
    target_sql, target_params = (
        target_followers(send)
        .order_by()
        .annotate(ok=consent)
        .values("id", "customer_id", "openid", "ok")
        .query.sql_with_params()
    )
    # The target's SQL has positional parameters; the statement's are named: name them too.
    names = iter(range(len(target_params)))
    select_sql = re.sub(r"(?<!%)%s", lambda _m: f"%(target{next(names)})s", target_sql)
    recipient, batch = MassSendRecipient._meta.db_table, MassSendBatch._meta.db_table
    sql = f"""
        WITH f AS MATERIALIZED (
            SELECT f.id, f.customer_id, f.openid, COALESCE(f.ok, FALSE) AS ok,
                   COALESCE(q.n, 0) >= %(quota)s AS over
            FROM ({select_sql}) AS f
            LEFT JOIN (
                SELECT user_id, COUNT(*) AS n FROM {recipient}
                WHERE status = %(sent)s AND sent_at >= %(start)s GROUP BY user_id
            ) AS q ON q.user_id = f.id
        ), plan AS (
            SELECT total, consenting,
                   %(tag_members)s::int IS NOT NULL AND consenting > 0
                   AND total = consenting AND consenting = %(tag_members)s::int AS by_tag
            FROM (SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE ok) AS consenting FROM f) AS c
        ), made AS (
            INSERT INTO {batch} (send_id, seq, clientmsgid, status, size, attempts, msg_id,
                                 error_code)
            SELECT %(send)s, seq,
                   'crm' || %(send)s || '-' || seq || '-'
                       || substr(replace(gen_random_uuid()::text, '-', ''), 1, 8),
                   %(batch_pending)s, 0, 0, '', ''
            FROM plan, generate_series(
                %(first)s,
                %(first)s - 1 + CASE WHEN by_tag THEN 1
                                     ELSE GREATEST(1, CEIL(consenting / %(size)s::numeric))::int
                                END
            ) AS seq
            RETURNING id, seq
        ), written AS (
            INSERT INTO {recipient}
                (send_id, user_id, customer_id, openid, status, not_before, error_code, batch_id)
            SELECT %(send)s, x.id, x.customer_id, x.openid,
                   CASE WHEN x.over THEN %(deferred)s ELSE %(pending)s END,
                   CASE WHEN x.over THEN %(following)s::timestamptz END, '',
                   CASE WHEN x.over THEN NULL ELSE b.id END
            FROM (
                SELECT f.id, f.customer_id, f.openid, f.over,
                       NTILE((SELECT COUNT(*) FROM made)::int)
                           OVER (PARTITION BY f.over ORDER BY f.id) + %(first)s - 1 AS seq
                FROM f WHERE f.ok
            ) AS x
            LEFT JOIN made AS b ON b.seq = x.seq
            RETURNING status, batch_id
        )
        SELECT plan.total, plan.consenting, plan.by_tag, w.status, w.batch_id, w.n
        FROM plan LEFT JOIN (
            SELECT status, batch_id, COUNT(*) AS n FROM written GROUP BY status, batch_id
        ) AS w ON TRUE
    """  # noqa: S608  table names from the models, values as parameters
    params = {
        **{f"target{n}": value for n, value in enumerate(target_params)},
        "quota": MONTHLY_MASS_QUOTA,
        "sent": Status.SENT,
        "start": start,
        "tag_members": _tag_members(send),
        "send": send.pk,
        "batch_pending": MassSendBatch.Status.PENDING,
        "first": first,
        "size": batch_size(),
        "deferred": Status.DEFERRED,
        "pending": Status.PENDING,
        "following": following,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    planned = _Planned(rows[0][0], rows[0][1], rows[0][2], {}, {})
    for _total, _consenting, _by_tag, status, batch_id, n in rows:
        if status is None:
            continue
        planned.by_status[status] = planned.by_status.get(status, 0) + n
        if batch_id is not None:
            planned.sizes[batch_id] = n
    return planned


def _insert_portable(send: MassSend, first: int, start: datetime, following: datetime) -> _Planned:
    """_insert_recipients for a database without data-modifying CTEs, casts and
    gen_random_uuid (the demo's SQLite): the same batches and recipients, worked out in Python
    for a demo-sized target (tests/channels_wechat/test_mass_planning.py runs both)."""
    target = list(
        target_followers(send)
        .order_by("id")
        .values_list("id", "customer_id", "openid", "customer__consent_marketing")
    )
    used = dict(
        MassSendRecipient.objects.filter(
            user_id__in=[row[0] for row in target], status=Status.SENT, sent_at__gte=start
        )
        .values("user_id")
        .annotate(n=Count("id"))
        .values_list("user_id", "n")
    )
    consenting = [row for row in target if row[3]]
    members = _tag_members(send)
    by_tag = bool(consenting) and members is not None and len(target) == len(consenting) == members
    count = 1 if by_tag else max(1, -(-len(consenting) // batch_size()))
    batches = MassSendBatch.objects.bulk_create(
        MassSendBatch(send=send, seq=seq, clientmsgid=f"crm{send.pk}-{seq}-{secrets.token_hex(4)}")
        for seq in range(first, first + count)
    )
    pending = [row for row in consenting if used.get(row[0], 0) < MONTHLY_MASS_QUOTA]
    per, extra = divmod(len(pending), count)  # NTILE: the first `extra` batches hold one more
    tiles = [b for b in range(count) for _ in range(per + (1 if b < extra else 0))]
    batch_of = {row[0]: batches[tile] for row, tile in zip(pending, tiles, strict=True)}
    planned = _Planned(len(target), len(consenting), by_tag, {}, {})
    rows = []
    for user_id, customer_id, openid, _ok in consenting:
        batch = batch_of.get(user_id)
        status = Status.PENDING if batch is not None else Status.DEFERRED
        rows.append(
            MassSendRecipient(
                send=send,
                user_id=user_id,
                customer_id=customer_id,
                openid=openid,
                status=status,
                not_before=None if batch is not None else following,
                error_code="",
                batch=batch,
            )
        )
        planned.by_status[status] = planned.by_status.get(status, 0) + 1
        if batch is not None:
            planned.sizes[batch.pk] = planned.sizes.get(batch.pk, 0) + 1
    MassSendRecipient.objects.bulk_create(rows)
    return planned


def _tag_members(send: MassSend) -> int | None:
    """The members of the send's WeChat tag when the send may go to the tag (`sendall`): a
    send to a crm tag whose WeChat tag is synced; it does when that count is exactly the planned
    followers and nobody of the target was skipped for consent (nor deferred: see plan_send)."""
    if send.target != MassSend.Target.TAG:
        return None
    linked = WeChatTag.objects.filter(account_id=send.account_id, tag=send.tag).first()
    return linked.member_count if linked and linked.synced_at else None


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


def _size_batches(send: MassSend, first: int, sizes: dict[int, int] | None = None) -> None:
    """Store each new batch's size (`sizes` {batch id: recipients} when the caller counted them
    as it wrote them, else counted here); drop the new batches nobody was put in."""
    recipient, batch = MassSendRecipient._meta.db_table, MassSendBatch._meta.db_table
    with connection.cursor() as cursor:
        if sizes is None:
            cursor.execute(
                f"""
                UPDATE {batch} AS b SET size = x.n
                FROM (SELECT batch_id, COUNT(*) AS n FROM {recipient}
                      WHERE send_id = %s AND batch_id IS NOT NULL GROUP BY batch_id) AS x
                WHERE b.id = x.batch_id AND b.send_id = %s AND b.seq >= %s
                """,  # noqa: S608
                [send.pk, send.pk, first],
            )
        elif sizes and connection.vendor != "postgresql":  # the demo's SQLite: no arrays
            for batch_id, n in sizes.items():
                MassSendBatch.objects.filter(pk=batch_id, send=send).update(size=n)
        elif sizes:
            cursor.execute(
                f"""
                UPDATE {batch} AS b SET size = x.n
                FROM unnest(%s::bigint[], %s::int[]) AS x (id, n)
                WHERE b.id = x.id AND b.send_id = %s AND b.seq >= %s
                """,  # noqa: S608
                [list(sizes), list(sizes.values()), send.pk, first],
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
