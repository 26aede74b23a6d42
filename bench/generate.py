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

from devtools.names import CITIES, chinese_name

from .harness import progress

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
    if total and count % BATCH:  # a multiple of BATCH was shown in the loop
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
    orders: int = 0,
    coupons: int = 0,
    days: int = 60,
    seed: int = 20261122,
    agents: list[int] | None = None,
    end: datetime | None = None,
    account: str = ACCOUNT,
) -> dict[str, int]:
    """Fill an empty, migrated database (Django's default connection). Row counts per table."""
    from django.db import connection, transaction

    from crm.models import Conversation, Customer, CustomerKey, Message

    rng = random.Random(seed)
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    agents = agents or []
    counts: dict[str, int] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor

        # Customers at stage `customer` or `member` (and when they were created): the buyers,
        # for the members generator.
        buyers: dict[int, tuple[str, datetime]] = {}

        def customer_rows() -> Iterator[dict]:
            for i in range(1, customers + 1):
                created = start - timedelta(days=rng.randrange(365) - rng.randrange(days + 1))
                phone = f"+86138{i:08d}" if rng.random() < 0.4 else ""
                stage = rng.choice(STAGES)
                if stage in ("customer", "member"):
                    buyers[i] = (stage, created)
                yield {
                    "id": i,
                    "name": chinese_name(rng),
                    "phone": phone,
                    "phone_verified": bool(phone),
                    "email": f"user{i}@example.cn" if rng.random() < 0.2 else "",
                    "gender": rng.choice(["unknown", "male", "female"]),
                    "city": rng.choice(CITIES),
                    "stage": stage,
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
        write_conversations(
            raw,
            rng,
            customers=customers,
            conversations=conversations,
            messages=messages,
            start=start,
            days=days,
            agents=agents,
            counts=counts,
            account=account,
        )
        if weibo_posts:
            counts.update(generate_weibo(raw, rng, weibo_posts, start, days))
        if orders or coupons:
            added = generate_members(
                raw, rng, buyers, customers, orders, coupons, start=start, end=end
            )
            for table, rows in added.items():
                counts[table] = counts.get(table, 0) + rows
        for model in (Customer, Conversation, Message):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
    # VACUUM as well: otherwise autovacuum finds millions of rows inserted since the last one
    # and works through them while the first benchmarks run (a run straight after generating
    # measured the Weibo ratio at 0.42, one on the kept copy, whose statistics start empty,
    # at 0.55). A table in service has been vacuumed. CHECKPOINT then writes the pages all this
    # dirtied now, not during the first measurements.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")
    return counts


def write_conversations(
    raw,
    rng: random.Random,
    *,
    customers: int,
    conversations: int,
    messages: int,
    start: datetime,
    days: int,
    agents: list[int],
    counts: dict[str, int],
    first_conversation: int = 1,
    first_message: int = 1,
    active: set[int] | None = None,
    account: str = ACCOUNT,
) -> None:
    """COPY `conversations` WeChat conversations with `messages` messages between them, and a
    timeline row for each, ids from `first_conversation` and `first_message`; customers are
    drawn from 1..`customers`. `active`: customers already holding an open or pending
    conversation (at most one each). Adds the row counts to `counts`.
    """
    from crm.models import Conversation, Interaction, Message

    per_conversation = max(1, messages // max(conversations, 1))
    batch: dict[str, list[dict]] = {"c": [], "m": [], "i": []}
    message_id = first_message - 1
    active = active if active is not None else set()
    last = first_conversation + conversations - 1
    for c in range(first_conversation, last + 1):
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
        rating = rng.choice([5, 5, 5, 4, 4, 3, 2, 1]) if resolved and rng.random() < 0.4 else None
        agent = rng.choice(agents) if agents and rng.random() < 0.95 else None
        batch["c"].append(
            {
                "id": c,
                "channel": "wechat",
                "account": account,
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
                    "account": account,
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
                "data": {"account": account},
                "created_at": opened,
            }
        )
        if len(batch["c"]) >= BATCH // per_conversation or c == last:
            counts["conversations"] = counts.get("conversations", 0) + copy_model(
                raw, Conversation, batch["c"]
            )
            counts["messages"] = counts.get("messages", 0) + copy_model(raw, Message, batch["m"])
            counts["interactions"] = counts.get("interactions", 0) + copy_model(
                raw, Interaction, batch["i"]
            )
            progress("conversations", c - first_conversation + 1, conversations)
            for rows in batch.values():
                rows.clear()


def add_messages(
    messages: int,
    *,
    per_conversation: int = 10,
    days: int = 60,
    seed: int = 20261123,
    account: str = ACCOUNT,
    agents: list[int] | None = None,
) -> dict[str, int]:
    """Append `messages` more WeChat messages (in conversations of `per_conversation`, with their
    timeline rows) to a generated database, between its existing customers, with COPY and ids
    after the existing ones; then the sequences follow. Row counts added per table."""
    from django.db import connection, transaction

    from crm.models import Conversation, Customer, Message

    rng = random.Random(seed)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    counts: dict[str, int] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {Customer._meta.db_table}")
        customers = cursor.fetchone()[0]
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {Conversation._meta.db_table}")
        first_conversation = cursor.fetchone()[0] + 1
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {Message._meta.db_table}")
        first_message = cursor.fetchone()[0] + 1
        cursor.execute(
            f"SELECT DISTINCT customer_id FROM {Conversation._meta.db_table} "
            "WHERE status IN ('open', 'pending') AND customer_id IS NOT NULL"
        )
        active = {row[0] for row in cursor.fetchall()}
        write_conversations(
            cursor.cursor,
            rng,
            customers=customers,
            conversations=max(1, messages // per_conversation),
            messages=messages,
            start=end - timedelta(days=days),
            days=days,
            agents=agents or [],
            counts=counts,
            first_conversation=first_conversation,
            first_message=first_message,
            active=active,
            account=account,
        )
        for model in (Conversation, Message):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
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


PRODUCTS = [
    ("焕颜精华液 30ml", 39900),
    ("保湿面霜 50g", 25900),
    ("氨基酸洁面乳", 8900),
    ("防晒喷雾 SPF50", 12900),
    ("口红 #520", 19900),
    ("面膜 10片装", 9900),
    ("眼霜 15ml", 32900),
    ("礼盒套装", 69900),
]
TIERS = [("普通会员", 0), ("银卡会员", 500), ("金卡会员", 1_500), ("黑金会员", 5_000)]
TEMPLATES = [
    # name, kind, value, min spend (fen), valid days
    ("满199减30", "cash", 3_000, 19_900, 30),
    ("满500减80", "cash", 8_000, 50_000, 30),
    ("全场八五折", "discount", 85, 0, 14),
    ("直播专享九折", "discount", 90, 0, 7),
    ("生日礼券 50元", "cash", 5_000, 10_000, 30),
    ("新会员礼 小样套装", "gift", 0, 0, 60),
]
CAMPAIGNS = ["双11预热", "618大促", "会员日", "新品首发", "直播间", ""]
ORDER_CHANNELS = ["jsapi"] * 45 + ["pos"] * 25 + ["native"] * 10 + ["cash"] * 20
ORDER_STATUS = ["paid"] * 90 + ["refunded"] * 4 + ["partially_refunded"] * 2
ORDER_STATUS += ["created"] * 2 + ["closed"] * 2
JOINED_VIA = ["wechat"] * 6 + ["pos"] * 3 + ["weibo_campaign"]
PAY_APPID = "wxbenchpay00000001"


def moment(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    """A time between lo and hi, by day as shoppers buy: mostly 10:00-23:00 Beijing time."""
    span = max(int((hi - lo).total_seconds()) // 86400, 1)
    day = lo.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        days=rng.randrange(span)
    )
    hour = rng.randrange(10, 23) if rng.random() < 0.92 else rng.randrange(0, 10)
    at = day + timedelta(hours=hour - 8, seconds=rng.randrange(3600))
    return min(max(at, lo), hi)


def generate_members(
    raw,
    rng: random.Random,
    buyers: dict[int, tuple[str, datetime]],
    customers: int,
    orders: int,
    coupons: int,
    *,
    start: datetime,
    end: datetime,
) -> dict[str, int]:
    """Membership, orders and coupons: tiers, stores, a WeChat Pay merchant and coupon templates;
    a membership (number, tier, points) for every customer at stage `member`; orders over the
    last year for the buyers (stages `customer` and `member`, about `orders` in all: WeChat Pay
    JSAPI/Native, POS, cash; a few refunded, unpaid or closed), with the points ledger of the
    members, refunds, payer openids and an `order` timeline row per paid order; coupons (about
    `coupons`): some redeemed on those orders, the rest issued to customers by campaign, some
    expired. Amounts in fen, as the app keeps them."""
    from django.conf import settings
    from django.contrib.contenttypes.models import ContentType

    from crm.models import Interaction
    from members.models import (
        Coupon,
        CouponTemplate,
        Membership,
        MerchantConfig,
        Order,
        PayerOpenid,
        PointsEntry,
        Refund,
        Store,
        Tier,
    )

    per_yuan = settings.MEMBERS_POINTS_PER_YUAN
    year_ago = end - timedelta(days=365)
    tiers = [
        Tier.objects.create(
            name=name, rank=rank, basis="points", threshold=threshold, benefits="积分抵现"
        )
        for rank, (name, threshold) in enumerate(TIERS)
    ]
    stores = Store.objects.bulk_create(
        Store(code=f"S{n:03d}", name=f"{city}{n}号店", city=city, address=f"{city}南京路{n}号")
        for n, city in enumerate(CITIES * 3, 1)
    )
    merchant = MerchantConfig.objects.create(mchid="1900000109", name="品牌商户", appid=PAY_APPID)
    templates = [
        CouponTemplate.objects.create(
            name=name,
            kind=kind,
            value=value,
            min_spend_fen=min_spend,
            valid_days=valid_days,
            created_at=year_ago,
        )
        for name, kind, value, min_spend, valid_days in TEMPLATES
    ]
    money = [t for t in templates if t.kind != "gift"]
    order_type = ContentType.objects.get_for_model(Order).pk
    member_type = ContentType.objects.get_for_model(Membership).pk
    # Orders per buyer: 1 + a geometric draw; members who never bought (15%) make up.
    members = sum(1 for stage, _created in buyers.values() if stage == "member")
    mean = max(orders / max(len(buyers) - 0.15 * members, 1), 1.0)
    batch: dict[str, list[dict]] = {
        k: [] for k in ("memberships", "orders", "points", "refunds", "payers", "coupons", "i")
    }
    counts: dict[str, int] = {}
    coupon_id = 0
    order_id = 0
    member_id = 0
    held: set[tuple[int, int]] = set()

    def flush() -> None:
        # Coupons before orders (an order names its coupon); FKs are checked at commit anyway.
        for key, model in (
            ("memberships", Membership),
            ("coupons", Coupon),
            ("orders", Order),
            ("points", PointsEntry),
            ("refunds", Refund),
            ("payers", PayerOpenid),
            ("i", Interaction),
        ):
            if batch[key]:
                name = "interactions" if key == "i" else key
                counts[name] = counts.get(name, 0) + copy_model(raw, model, batch[key])
                batch[key].clear()

    for customer, (stage, created) in sorted(buyers.items()):
        member = stage == "member"
        first = max(created, year_ago)
        k = 1
        while rng.random() < (mean - 1) / mean:  # geometric: mean - 1 more on average
            k += 1
        if member and rng.random() < 0.15:
            k = 0  # joined, never bought
        times = sorted(moment(rng, first, end) for _ in range(k))
        balance = 0
        earned = 0
        if member:
            member_id += 1
            joined = min([moment(rng, first, end), *times])
            batch["i"].append(
                {
                    "customer_id": customer,
                    "kind": "member_join",
                    "channel": "wechat",
                    "occurred_at": joined,
                    "summary": f"加入会员 M{joined.year}{member_id:07d}",
                    "data": {},
                    "subject_type_id": member_type,
                    "subject_id": str(member_id),
                    "created_at": joined,
                }
            )
        wechat_payer = False
        for at in times:
            order_id += 1
            channel = rng.choice(ORDER_CHANNELS)
            status = rng.choice(ORDER_STATUS)
            name, price = rng.choice(PRODUCTS)
            amount = price * (1 if rng.random() < 0.8 else rng.randrange(2, 4))
            paid = status in ("paid", "refunded", "partially_refunded")
            paid_at = at + timedelta(seconds=rng.randrange(5, 300)) if paid else None
            wechat = channel != "cash"
            wechat_payer = wechat_payer or wechat
            coupon = None
            discount = 0
            if paid and rng.random() < 0.15:
                template = rng.choice(money)
                if amount >= template.min_spend_fen and (customer, template.pk) not in held:
                    coupon_id += 1
                    coupon = coupon_id
                    discount = template.discount_for(amount)
                    issued = at - timedelta(days=rng.randrange(1, template.valid_days or 30))
                    held.add((customer, template.pk))
                    batch["coupons"].append(
                        {
                            "id": coupon,
                            "code": f"CP{coupon:012d}",
                            "template_id": template.pk,
                            "customer_id": customer,
                            "issued_via": rng.choice(["wechat", "segment", "weibo_campaign"]),
                            "campaign": rng.choice(CAMPAIGNS),
                            "issued_at": issued,
                            "expires_at": template.expiry_for(issued),
                            "redeemed_at": paid_at,
                            "redeemed_store_id": None,
                            "redeemed_order_id": order_id,
                        }
                    )
            store = rng.choice(stores).pk if channel in ("pos", "cash") else None
            if coupon and store:
                batch["coupons"][-1]["redeemed_store_id"] = store
            charged = amount - discount
            refunded = {"refunded": charged, "partially_refunded": charged // 2}.get(status, 0)
            trade_no = f"BN{at:%Y%m%d}{order_id:010d}"
            batch["orders"].append(
                {
                    "id": order_id,
                    "out_trade_no": trade_no,
                    "transaction_id": f"4200{order_id:018d}" if paid and wechat else None,
                    "customer_id": customer,
                    "merchant_id": merchant.pk if wechat else None,
                    "store_id": store,
                    "channel": channel,
                    "description": name,
                    "amount_fen": charged,
                    "discount_fen": discount,
                    "status": status,
                    "payer_openid": f"oPay{customer:09d}" if wechat else "",
                    "coupon_id": coupon,
                    "created_at": at,
                    "paid_at": paid_at,
                    "refunded_fen": refunded,
                    "flags": {},
                }
            )
            if not paid:
                continue
            batch["i"].append(
                {
                    "customer_id": customer,
                    "kind": "order",
                    "channel": "pos" if channel in ("pos", "cash") else "wechat",
                    "occurred_at": paid_at,
                    "summary": f"Paid ¥{charged / 100:.2f}, order {trade_no}",
                    "data": {"amount_fen": charged, "channel": channel},
                    "subject_type_id": order_type,
                    "subject_id": str(order_id),
                    "created_at": paid_at,
                }
            )
            points = (charged // 100) * per_yuan
            if member and points > 0:
                balance += points
                earned += points
                batch["points"].append(
                    {
                        "membership_id": member_id,
                        "kind": "earn",
                        "points": points,
                        "balance_after": balance,
                        "reason": f"订单 {trade_no}",
                        "source_ref": f"order:{trade_no}",
                        "occurred_at": paid_at,
                    }
                )
            if refunded:
                back = min(balance, (refunded // 100) * per_yuan) if member else 0
                batch["refunds"].append(
                    {
                        "order_id": order_id,
                        "out_refund_no": f"RF{order_id:012d}",
                        "refund_id": f"5030{order_id:018d}" if wechat else "",
                        "amount_fen": refunded,
                        "reason": rng.choice(["不想要了", "商品破损", "尺寸不合适"]),
                        "points_reversed": back,
                        "created_at": paid_at + timedelta(days=rng.randrange(1, 7)),
                    }
                )
                if back:
                    balance -= back
                    batch["points"].append(
                        {
                            "membership_id": member_id,
                            "kind": "adjust",
                            "points": -back,
                            "balance_after": balance,
                            "reason": f"退款 RF{order_id:012d}",
                            "source_ref": f"refund:RF{order_id:012d}",
                            "occurred_at": paid_at + timedelta(days=7),
                        }
                    )
        if wechat_payer:
            batch["payers"].append(
                {
                    "appid": PAY_APPID,
                    "openid": f"oPay{customer:09d}",
                    "unionid": f"union-{customer}",
                    "customer_id": customer,
                    "created_at": first,
                }
            )
        if member:
            tier = [t for t in tiers if t.threshold <= earned][-1].pk
            batch["memberships"].append(
                {
                    "id": member_id,
                    "customer_id": customer,
                    "member_number": f"M{joined.year}{member_id:07d}",
                    "tier_id": tier,
                    "points_balance": balance,
                    "joined_at": joined,
                    "joined_via": rng.choice(JOINED_VIA),
                    "tier_changed_at": joined if tier != tiers[0].pk else None,
                }
            )
        if len(batch["orders"]) >= BATCH:
            flush()
            progress("orders", min(order_id, orders), orders)
    flush()
    progress("orders", orders, orders)

    def issued_coupons() -> Iterator[dict]:
        nonlocal coupon_id
        while coupon_id < coupons:
            customer = rng.randrange(1, customers + 1)
            template = rng.choice(templates)
            if (customer, template.pk) in held:
                continue  # one of each per customer (per_customer_limit 1)
            held.add((customer, template.pk))
            coupon_id += 1
            issued = moment(rng, year_ago, end)
            yield {
                "id": coupon_id,
                "code": f"CP{coupon_id:012d}",
                "template_id": template.pk,
                "customer_id": customer,
                "issued_via": rng.choice(["wechat", "segment", "segment", "weibo_campaign", "pos"]),
                "campaign": rng.choice(CAMPAIGNS),
                "issued_at": issued,
                "expires_at": template.expiry_for(issued),
            }

    counts["coupons"] = counts.get("coupons", 0) + copy_model(
        raw, Coupon, issued_coupons(), max(coupons - coupon_id, 0)
    )
    with raw.connection.cursor() as cursor:
        for model in (Membership, Order, Coupon):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        cursor.execute(
            f"UPDATE {CouponTemplate._meta.db_table} t SET issued_count = "
            f"(SELECT COUNT(*) FROM {Coupon._meta.db_table} c WHERE c.template_id = t.id)"
        )
    return counts


def main() -> None:
    import argparse

    from .harness import recreate_database, setup_django

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--weibo-posts", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--coupons", type=int, default=30_000)
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
        orders=args.orders,
        coupons=args.coupons,
        days=args.days,
        seed=args.seed,
    )
    print(json.dumps(counts, ensure_ascii=False))


if __name__ == "__main__":
    main()
