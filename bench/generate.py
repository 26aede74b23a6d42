"""Seeded, realistic data at a chosen scale, loaded with PostgreSQL COPY.

Customers with WeChat identities (unionid keys), WeChat conversations and messages with realistic
timing (more by day than by night, bursts on campaign days, agents by shift, first responses from
seconds to days), a timeline row per conversation, Weibo brand posts, mentions and comments with
sentiment, and daily follower snapshots. `python -m bench.generate --customers 1000000
--conversations 100000 --messages 1000000` fills the database DATABASE_URL names (migrated).
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from .harness import progress

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁沈"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "子涵",
    "浩然",
]
CITIES = [
    "上海",
    "北京",
    "广州",
    "深圳",
    "杭州",
    "成都",
    "南京",
    "武汉",
    "西安",
    "厦门",
    "苏州",
    "重庆",
]
STAGES = ["follower"] * 60 + ["lead"] * 15 + ["prospect"] * 8 + ["customer"] * 10 + ["member"] * 7
CHANNELS = ["wechat"] * 5 + ["weibo"] * 4 + ["pos"]
QUESTIONS = [
    "你好，我的订单什么时候发货？",
    "可以开发票吗",
    "会员积分怎么用",
    "门店几点关门",
    "退货怎么操作",
]
REPLIES = [
    "您好，已为您查询，今天发出。",
    "可以的，请提供抬头。",
    "积分可在结账时抵扣。",
    "晚上十点。",
]
MENTIONS = ["@品牌 新品什么时候到？", "@品牌 快递太慢了，差评", "种草了@品牌 的精华", "求链接！"]
ACCOUNT = "wxbench0000000001"
WEIBO_UID = "5988800001"
BATCH = 50_000


def copy_rows(cursor, table: str, columns: list[str], rows: Iterable[list], total: int = 0) -> int:
    """COPY rows into table in batches; None becomes NULL. Returns the number of rows."""
    count = 0
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush():
        buffer.seek(0)
        cursor.copy_expert(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer
        )
        buffer.seek(0)
        buffer.truncate()

    for row in rows:
        writer.writerow(["\\N" if v is None else v for v in row])
        count += 1
        if count % BATCH == 0:
            flush()
            if total:
                progress(table, count, total)
    flush()
    if total:
        progress(table, count, total)
    return count


def copy_model(cursor, model, rows: Iterable[dict], total: int = 0) -> int:
    """COPY dict rows (keyed by field attname) into the model's table; missing fields take the
    model's defaults, so a column added later does not break the generator."""
    from django.db import models as m

    fields = [f for f in model._meta.concrete_fields]
    defaults = {}
    for f in fields:
        if f.has_default():
            value = f.get_default()
            defaults[f.attname] = value
        elif f.null:
            defaults[f.attname] = None
        elif isinstance(f, m.CharField | m.TextField):
            defaults[f.attname] = ""
    json_fields = {f.attname for f in fields if isinstance(f, m.JSONField)}

    def encode(row: dict) -> list:
        out = []
        for f in fields:
            value = row[f.attname] if f.attname in row else defaults.get(f.attname)
            if f.attname in json_fields and value is not None:
                value = json.dumps(value, ensure_ascii=False)
            elif isinstance(value, datetime):
                value = value.isoformat()
            out.append(value)
        return out

    has_id = None

    def encoded():
        nonlocal has_id
        for row in rows:
            if has_id is None:
                has_id = "id" in row
            yield encode(row)

    columns = [f.column for f in fields]
    # Without explicit ids, let the sequence number the rows.
    probe = iter(encoded())
    first = next(probe, None)
    if first is None:
        return 0
    if not has_id:
        index = columns.index("id")
        columns = columns[:index] + columns[index + 1 :]
        rows_out = ([*r[:index], *r[index + 1 :]] for r in _chain([first], probe))
    else:
        rows_out = _chain([first], probe)
    return copy_rows(cursor, model._meta.db_table, columns, rows_out, total)


def _chain(head, tail):
    yield from head
    yield from tail


def iso(at: datetime) -> str:
    return at.isoformat()


def message_time(rng: random.Random, start: datetime, days: int) -> datetime:
    """Mostly 9:00-22:00 Beijing time, a tenth at night; campaign days (every 7th) are busier."""
    day = rng.randrange(days)
    if rng.random() < 0.2:
        day = rng.randrange(3, days, 7) if days > 3 else day
    hour = rng.randrange(9, 22) if rng.random() < 0.9 else rng.randrange(0, 9)
    return start + timedelta(days=day, hours=hour - 8, seconds=rng.randrange(3600))


def generate(
    *,
    customers: int,
    conversations: int,
    messages: int,
    weibo_posts: int = 0,
    days: int = 60,
    seed: int = 20261122,
    agents: list[int] | None = None,
    end: datetime | None = None,
) -> dict[str, int]:
    """Fill an empty, migrated database (Django's default connection). Row counts per table."""
    from django.db import connection, transaction

    from crm.models import Conversation, Customer, CustomerKey, Interaction, Message

    rng = random.Random(seed)
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    agents = agents or []
    counts: dict[str, int] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor

        def customer_rows() -> Iterator[dict]:
            for i in range(1, customers + 1):
                created = start - timedelta(days=rng.randrange(365) - rng.randrange(days + 1))
                phone = f"+86138{i:08d}" if rng.random() < 0.4 else ""
                yield {
                    "id": i,
                    "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                    "phone": phone,
                    "phone_verified": bool(phone),
                    "email": f"user{i}@example.cn" if rng.random() < 0.2 else "",
                    "gender": rng.choice(["unknown", "male", "female"]),
                    "city": rng.choice(CITIES),
                    "stage": rng.choice(STAGES),
                    "first_channel": rng.choice(CHANNELS),
                    "consent_marketing": rng.random() < 0.3,
                    "created_at": created,
                    "updated_at": created,
                }

        counts["customers"] = copy_model(raw, Customer, customer_rows(), customers)
        counts["keys"] = copy_model(
            raw,
            CustomerKey,
            (
                {"kind": "unionid", "value": f"union-{i}", "customer_id": i, "created_at": start}
                for i in range(1, customers + 1)
            ),
            customers,
        )
        per_conversation = max(1, messages // max(conversations, 1))
        batch: dict[str, list[dict]] = {"c": [], "m": [], "i": []}
        message_id = 0
        active: set[int] = set()
        for c in range(1, conversations + 1):
            customer = rng.randrange(1, customers + 1)
            opened = message_time(rng, start, days)
            first = (
                opened + timedelta(seconds=rng.lognormvariate(5.5, 1.6))
                if rng.random() < 0.93
                else None
            )
            resolved = (
                (first or opened) + timedelta(seconds=rng.lognormvariate(7, 1.2))
                if rng.random() < 0.85
                else None
            )
            if resolved is None and customer in active:
                # One open or pending conversation per user: this older one was resolved.
                resolved = (first or opened) + timedelta(hours=rng.randrange(1, 48))
            elif resolved is None:
                active.add(customer)
            rating = (
                rng.choice([5, 5, 5, 4, 4, 3, 2, 1]) if resolved and rng.random() < 0.4 else None
            )
            agent = rng.choice(agents) if agents and rng.random() < 0.95 else None
            batch["c"].append(
                {
                    "id": c,
                    "channel": "wechat",
                    "account": ACCOUNT,
                    "external_user": f"o{customer}",
                    "customer_id": customer,
                    "status": "resolved" if resolved else ("pending" if first else "open"),
                    "assignee_id": agent,
                    "opened_at": opened,
                    "first_response_at": first,
                    "last_inbound_at": opened,
                    "last_message_at": resolved or first or opened,
                    "resolved_at": resolved,
                    "resolved_by_id": agent if resolved else None,
                    "survey_sent_at": resolved,
                    "rating": rating,
                    "rated_at": resolved + timedelta(minutes=3) if rating and resolved else None,
                }
            )
            at = opened
            for k in range(per_conversation):
                message_id += 1
                inbound = k % 2 == 0
                if k == 1 and first:
                    at = first
                elif k:
                    at = at + timedelta(seconds=rng.randrange(20, 900))
                batch["m"].append(
                    {
                        "id": message_id,
                        "conversation_id": c,
                        "customer_id": customer,
                        "channel": "wechat",
                        "account": ACCOUNT,
                        "external_user": f"o{customer}",
                        "direction": "in" if inbound else "out",
                        "msg_type": "text",
                        "content": rng.choice(QUESTIONS) if inbound else rng.choice(REPLIES),
                        "platform_msg_id": str(10**16 + message_id),
                        "sent_at": at,
                        "sender_id": None if inbound else agent,
                        "sender_kind": "customer" if inbound else "agent",
                        "delivery_status": "received" if inbound else "sent",
                    }
                )
            batch["i"].append(
                {
                    "customer_id": customer,
                    "kind": "message_in",
                    "channel": "wechat",
                    "occurred_at": opened,
                    "summary": QUESTIONS[0],
                    "data": {"account": ACCOUNT},
                    "created_at": opened,
                }
            )
            if len(batch["c"]) >= BATCH // per_conversation or c == conversations:
                counts["conversations"] = counts.get("conversations", 0) + copy_model(
                    raw, Conversation, batch["c"]
                )
                counts["messages"] = counts.get("messages", 0) + copy_model(
                    raw, Message, batch["m"]
                )
                counts["interactions"] = counts.get("interactions", 0) + copy_model(
                    raw, Interaction, batch["i"]
                )
                progress("conversations", c, conversations)
                for rows in batch.values():
                    rows.clear()
        if weibo_posts:
            counts.update(generate_weibo(raw, rng, weibo_posts, start, days))
        for model in (Customer, Conversation, Message):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return counts


def generate_weibo(raw, rng: random.Random, posts: int, start: datetime, days: int) -> dict:
    """A brand account, its fans, posts (a tenth by the brand, the rest mentions with
    sentiment) and a daily follower count."""
    from channels_weibo.models import FollowerSnapshot, WeiboAccount, WeiboPost, WeiboUser

    account = WeiboAccount.objects.create(uid=WEIBO_UID, screen_name="品牌官微")
    users = max(10, posts // 5)
    copy_model(
        raw,
        WeiboUser,
        (
            {
                "id": u,
                "uid": WEIBO_UID if u == 1 else str(7_000_000_000 + u),
                "screen_name": "品牌官微" if u == 1 else f"微博用户{u}",
                "location": rng.choice(CITIES),
                "followers_count": int(rng.paretovariate(1.2) * 100),
                "verified": u % 50 == 0,
                "verified_type": 0 if u % 50 == 0 else -1,
                "created_at": start,
                "updated_at": start,
            }
            for u in range(1, users + 1)
        ),
    )

    def post_rows() -> Iterator[dict]:
        for p in range(1, posts + 1):
            brand = p % 10 == 0
            at = message_time(rng, start, days)
            yield {
                "idstr": str(5_000_000_000_000_000 + p),
                "account_id": account.pk,
                "author_id": 1 if brand else rng.randrange(2, users + 1),
                "text": rng.choice(MENTIONS),
                "created_at": at,
                "is_brand_post": brand,
                "reposts_count": rng.randrange(500) if brand else rng.randrange(5),
                "comments_count": rng.randrange(300) if brand else rng.randrange(5),
                "attitudes_count": rng.randrange(3000) if brand else rng.randrange(20),
                "mentions_brand": not brand,
                "keywords": [],
                "sentiment": None if brand else rng.random(),
                "sentiment_label": ""
                if brand
                else rng.choice(["positive", "positive", "neutral", "negative"]),
                "raw": {},
                "fetched_at": at,
            }

    count = copy_model(raw, WeiboPost, post_rows(), posts)
    followers = 100_000
    snapshots = []
    for d in range(days + 1):
        followers += rng.randrange(-50, 400)
        snapshots.append(
            {
                "account_id": account.pk,
                "day": (start + timedelta(days=d)).date(),
                "followers_count": followers,
                "taken_at": start + timedelta(days=d),
            }
        )
    copy_model(raw, FollowerSnapshot, snapshots)
    with raw.connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('channels_weibo_weibouser', 'id'), %s)", [users]
        )
    return {"weibo_posts": count, "weibo_users": users}


def main() -> None:
    import argparse

    from .harness import recreate_database, setup_django

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--weibo-posts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    recreate_database()
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    counts = generate(
        customers=args.customers,
        conversations=args.conversations,
        messages=args.messages,
        weibo_posts=args.weibo_posts,
        days=args.days,
        seed=args.seed,
    )
    print(json.dumps(counts, ensure_ascii=False))


if __name__ == "__main__":
    main()
