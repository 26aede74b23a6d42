"""Mass sends (issue #18): planning a send to a segment of 1,000,000 customers, and sending to
100,000 followers through the WeChat sandbox over loopback.

1. Planning: `plan_send` for a segment (`stage` = follower or lead, active customers) of an
   account whose every customer follows it: the target selection, marketing consent, the
   monthly quota (a join on this month's sent recipients) and the openid batching (10,000 a
   call), all stored as recipient and batch rows. Baseline: bare SQL materialising the same
   selection (same joins, same consent and quota conditions) into a temporary table, in the
   same run. Goal: under 5 s.
2. Sending: `run_send` to 100,000 consenting followers, batches of 10,000 `message/mass/send`
   calls to the sandbox (each validated against its 100,000 known followers and quota), the
   recipients marked sent batch by batch (the admin's progress column). The issue asks for
   "the rate the platform allows": WeChat publishes no rate, only its limits, at most 10,000
   openids a call and a daily number of calls; so the goal is the fewest calls those allow
   (10 for 100,000, none repeated) with every follower sent. The rate is reported against the
   same 10 HTTP calls made directly (no database) in the same run, without a goal: the CRM
   must also store and mark 100,000 recipients, which the bare calls do not.

Customers are topped up with SQL to BENCH_MASS_CUSTOMERS (default: 1,000,000, or the scale's
customers if more) and every customer gets a follower of the bench account; BENCH_MASS_SEND
(default 100,000) sets how many consenting followers the sending part targets.
"""

import os
import sys
import time
from typing import Any

from .harness import Result, median, progress

APPID = "wxbenchmass0000001"
SEND_FOLLOWERS = int(os.environ.get("BENCH_MASS_SEND") or 100_000)


def _top_up_customers(target: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0), COUNT(*) FROM crm_customer")
        top, count = cursor.fetchone()
        missing = target - count
        if missing > 0:
            cursor.execute(
                """
                INSERT INTO crm_customer (id, name, phone, phone_verified, email, gender, city,
                    stage, first_channel, consent_marketing, created_at, updated_at)
                SELECT %s + g, '客户' || g, '', false, '', 'unknown',
                    (ARRAY['上海','北京','广州','深圳','杭州'])[1 + g %% 5],
                    (ARRAY['follower','lead','prospect','customer','member'])[1 + g %% 5],
                    'wechat', (g %% 10) < 7, now(), now()
                FROM generate_series(1, %s) AS g
                """,
                [top, missing],
            )
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('crm_customer', 'id'), "
                "(SELECT MAX(id) FROM crm_customer))"
            )
        cursor.execute("SELECT COUNT(*) FROM crm_customer")
        return cursor.fetchone()[0]


def _account_with_followers():
    from django.db import connection

    from channels_wechat.models import OfficialAccount

    account, _created = OfficialAccount.objects.get_or_create(
        appid=APPID,
        defaults={"name": "群发压测", "app_secret": "s" * 32, "token": "tok", "mode": "plaintext"},
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO channels_wechat_wechatuser (account_id, openid, unionid, customer_id,
                nickname, language, remark, subscribed, subscribe_scene, qr_scene,
                window_quota, window_used, created_at)
            SELECT %s, 'oBench' || c.id, '', c.id, '', '', '', true, '', '', 0, 0, now()
            FROM crm_customer c
            WHERE NOT EXISTS (SELECT 1 FROM channels_wechat_wechatuser u
                              WHERE u.account_id = %s AND u.customer_id = c.id)
            """,
            [account.pk, account.pk],
        )
        cursor.execute("ANALYZE channels_wechat_wechatuser")
        cursor.execute("ANALYZE crm_customer")
    return account


def _new_send(account, author, approver, **fields):
    from django.utils import timezone

    from channels_wechat.mass.approval import save_draft
    from channels_wechat.models import MassSend

    send = save_draft(
        MassSend(account=account, title="压测", kind="text", text="会员日全场八折", **fields),
        author,
    )
    MassSend.objects.filter(pk=send.pk).update(
        status="sending", approved_by=approver, approved_at=timezone.now()
    )
    send.refresh_from_db()
    return send


def _baseline_sql(account, segment_sql: str, params: list, month_start) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_mass_baseline")
        cursor.execute(
            f"""
            CREATE TEMP TABLE bench_mass_baseline AS
            WITH sel AS (
                SELECT u.id, u.customer_id, u.openid,
                       CASE WHEN COALESCE(q.n, 0) >= 4 THEN 'deferred' ELSE 'pending' END AS status
                FROM channels_wechat_wechatuser u
                JOIN crm_customer c ON c.id = u.customer_id
                LEFT JOIN (SELECT user_id, COUNT(*) AS n FROM channels_wechat_masssendrecipient
                           WHERE status = 'sent' AND sent_at >= %s GROUP BY user_id) q
                    ON q.user_id = u.id
                WHERE u.account_id = %s AND u.subscribed AND c.consent_marketing
                  AND c.id IN ({segment_sql})
            )
            SELECT sel.*, NTILE((SELECT GREATEST(1, CEIL(COUNT(*) / 10000.0))::int FROM sel))
                OVER (ORDER BY sel.id) AS batch
            FROM sel
            """,  # noqa: S608  bench SQL, values as parameters
            [month_start, account.pk, *params],
        )
        return cursor.rowcount


def run(scale: dict) -> list:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from channels_wechat.mass.planning import month_bounds, plan_send
    from channels_wechat.mass.sending import run_send
    from channels_wechat.models import MassSend
    from crm.filtersets import segment_customers
    from crm.models import Segment
    from devtools.sandboxes import wechat as sandbox

    target = int(os.environ.get("BENCH_MASS_CUSTOMERS") or max(scale["customers"], 1_000_000))
    t = time.perf_counter()
    customers = _top_up_customers(target)
    account = _account_with_followers()
    sys.stderr.write(
        f"mass: {customers:,} customers with followers in {time.perf_counter() - t:.0f} s\n"
    )
    author = User.objects.get_or_create(username="bench-mkt", defaults={"is_staff": True})[0]
    approver = User.objects.get_or_create(username="bench-mgr", defaults={"is_staff": True})[0]
    segment, _created = Segment.objects.get_or_create(
        name="压测分群", defaults={"filters": {"stage": ["follower", "lead"]}}
    )
    members = segment_customers(segment).count()

    # 1. Planning, three fresh sends; baseline three times the same selection in bare SQL.
    plans, planned = [], 0
    for _ in range(3):
        send = _new_send(account, author, approver, target="segment", segment=segment)
        start = time.perf_counter()
        send = plan_send(send)
        plans.append(time.perf_counter() - start)
        planned = send.targeted
        MassSend.objects.filter(pk=send.pk).update(status="cancelled")
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM channels_wechat_masssendrecipient WHERE send_id = %s", [send.pk]
            )
    sql, params = segment_customers(segment).order_by().values("pk").query.sql_with_params()
    month_start, _next = month_bounds(timezone.now())
    bases, base_rows = [], 0
    for _ in range(3):
        start = time.perf_counter()
        base_rows = _baseline_sql(account, sql, list(params), month_start)
        bases.append(time.perf_counter() - start)
    results = [
        Result(
            "mass: plan a send to a segment",
            median(plans),
            "s",
            baseline=median(bases),
            baseline_label="bare SQL of the same selection",
            goal="abs:<5",
            notes=f"{customers:,} customers, segment {members:,}, planned {planned:,} "
            f"(consenting), bare SQL rows {base_rows:,}",
        )
    ]

    # 2. Sending to 100,000 followers through the sandbox.
    server: Any = sandbox.start(accounts=[{"appid": APPID, "secret": "s" * 32, "token": "tok"}])
    from django.conf import settings

    settings.WECHAT_API_BASE = server.url
    from django.core.cache import cache

    cache.delete(f"wechat:token:{APPID}")
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT u.openid FROM channels_wechat_wechatuser u
               JOIN crm_customer c ON c.id = u.customer_id
               WHERE u.account_id = %s AND c.consent_marketing ORDER BY u.id LIMIT %s""",
            [account.pk, SEND_FOLLOWERS],
        )
        openids = [r[0] for r in cursor.fetchall()]
    with server.state.lock:
        for openid in openids:
            server.state.user(APPID, openid)
    from devtools.sandboxes.wechat_mass import mass_state

    mass_state(server.state)["config"].update(daily_limit=10_000, monthly_quota=10_000)
    # The target: a crm tag on exactly these followers' customers.
    from crm.models import Tag

    tag, _created = Tag.objects.get_or_create(name="压测十万")
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO crm_customer_tags (customer_id, tag_id)
               SELECT u.customer_id, %s FROM channels_wechat_wechatuser u
               WHERE u.account_id = %s AND u.openid = ANY(%s) ON CONFLICT DO NOTHING""",
            [tag.pk, account.pk, openids],
        )
    send = _new_send(account, author, approver, target="tag", tag=tag)
    total = len(openids)
    start = time.perf_counter()
    status = run_send(send.pk)
    sending = time.perf_counter() - start
    send.refresh_from_db()
    progress("mass: sent", send.sent, total)
    from django.db.models import Sum

    calls = send.batches.aggregate(n=Sum("attempts"))["n"] or 0
    allowed = -(-total // 10_000)  # WeChat: at most 10,000 openids a call
    # Baseline: the same calls, straight to the sandbox.
    from channels_wechat.mass_client import MassClient

    client = MassClient(account)
    message = {"msgtype": "text", "text": {"content": "会员日全场八折"}}
    mass_state(server.state)["config"].update(monthly_quota=10_000)
    start = time.perf_counter()
    for n in range(0, total, 10_000):
        client.mass_send(openids[n : n + 10_000], message, f"bench-baseline-{n}-{time.time()}")
    bare = time.perf_counter() - start
    server.shutdown()
    results.append(
        Result(
            f"mass: send to {total:,} followers",
            total / sending,
            "followers/s",
            baseline=total / bare,
            baseline_label="the same API calls without the CRM",
            notes=f"status {status}, sent {send.sent:,} of {send.targeted:,} in {sending:.1f} s "
            f"(plan included), {calls} calls; no goal: see the next row",
        )
    )
    results.append(
        Result(
            f"mass: calls to send to {total:,} followers (at most 10,000 openids a call)",
            calls if send.sent == total else float("inf"),
            "calls",
            goal=f"abs:<={allowed}",
            notes=f"sent {send.sent:,} of {total:,}, progress stored after each call",
        )
    )
    return results
