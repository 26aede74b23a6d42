"""Demo data for the crm app: a few hundred customers with tags, leads, notes and timelines.

Everything goes through the real actions (resolve_customer, create_lead, add_note...), seeded so
every run gives the same people. Running it again on the same database adds nothing.
"""

import random
from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from crm.actions import add_note, advance_stage, create_lead, record_interaction, tag_customers
from crm.identity import resolve_customer
from crm.models import (
    Channel,
    Customer,
    InteractionKind,
    LeadStatus,
    LostReason,
    Segment,
    Stage,
    Tag,
)
from devtools.names import CITIES, chinese_name

TAGS = [
    ("VIP", "#d4380d", "高价值客户"),
    ("投诉", "#cf1322", "曾公开或私信投诉"),
    ("新品关注", "#1677ff", "关注新品发布"),
    ("母婴", "#eb2f96", "母婴品类兴趣"),
    ("美妆", "#c41d7f", "美妆品类兴趣"),
    ("复购", "#389e0d", "90天内复购"),
    ("高潜力", "#fa8c16", "互动多但未购买"),
    ("价格敏感", "#8c8c8c", "只在促销时购买"),
    ("KOL", "#722ed1", "有影响力的博主"),
    ("门店到访", "#08979c", "到过线下门店"),
]
WEIBO_SNIPPETS = [
    "@品牌 新款精华液什么时候上市？",
    "转发了品牌的新品微博，求链接！",
    "评论：包装太好看了",
    "吐槽：快递三天还没到",
    "#双十一# 已经加购了",
    "求问会员积分怎么兑换",
]
WECHAT_SNIPPETS = [
    "你好，我的订单什么时候发货？",
    "想咨询一下会员权益",
    "优惠券用不了怎么办",
    "收到的商品有破损",
    "门店营业时间是几点？",
    "谢谢客服，问题解决了",
]
NOTES = [
    "电话回访，客户对新品有兴趣，下周再跟进。",
    "客户希望周末联系。",
    "已寄送试用装。",
    "投诉已处理，客户表示满意。",
    "对价格比较敏感，适合推送优惠券。",
]
LEAD_TITLES = [
    "咨询新品精华液",
    "询问门店活动",
    "团购报价",
    "会员升级咨询",
    "想购买礼盒",
    "KOL合作询价",
]


def load(stdout) -> None:
    if Customer.objects.filter(first_channel=Channel.IMPORT).exists():
        stdout.write("crm: demo customers already loaded")
        return
    rng = random.Random(20261122)
    for name, color, description in TAGS:
        Tag.objects.get_or_create(name=name, defaults={"color": color, "description": description})
    marketing = list(User.objects.filter(groups__name="marketing"))
    now = timezone.now()
    count = 300
    for i in range(count):
        created = now - timedelta(days=rng.randint(1, 60), minutes=rng.randint(0, 1440))
        name = chinese_name(rng)
        phone = f"1{rng.choice('3456789')}{rng.randint(0, 999999999):09d}"
        customer = resolve_customer(
            channel=Channel.IMPORT,
            at=created,
            defaults={
                "name": name,
                "phone": phone if rng.random() < 0.7 else "",
                "email": f"user{i}@example.com" if rng.random() < 0.3 else "",
                "city": rng.choice(CITIES),
                "gender": rng.choice(["male", "female", "female", "unknown"]),
                "consent_marketing": rng.random() < 0.6,
                "owner": rng.choice(marketing) if marketing and rng.random() < 0.5 else None,
            },
        )
        tag_customers([customer.pk], rng.sample([t[0] for t in TAGS], rng.randint(0, 3)))
        moment = created
        for _ in range(rng.randint(1, 6)):
            moment += timedelta(hours=rng.randint(1, 72))
            if moment > now:
                break
            if rng.random() < 0.5:
                record_interaction(
                    customer,
                    InteractionKind.MENTION,
                    Channel.WEIBO,
                    occurred_at=moment,
                    summary=rng.choice(WEIBO_SNIPPETS),
                )
            else:
                record_interaction(
                    customer,
                    InteractionKind.MESSAGE_IN,
                    Channel.WECHAT,
                    occurred_at=moment,
                    summary=rng.choice(WECHAT_SNIPPETS),
                )
        roll = rng.random()
        if roll < 0.45:
            lead, _ = create_lead(
                customer,
                rng.choice(LEAD_TITLES),
                source_channel=rng.choice([Channel.WEIBO, Channel.WECHAT]),
                at=min(moment, now),
            )
            status = rng.choice(
                [LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.LOST]
            )
            if status == LeadStatus.LOST:
                lead.lost_reason = rng.choice(LostReason.values)
            lead.status = status
            lead.next_step = rng.choice(["电话回访", "发送优惠券", "邀请到店", ""])
            lead.save()
            if rng.random() < 0.4:
                advance_stage(customer, Stage.PROSPECT, at=min(moment, now), reason="demo")
        if rng.random() < 0.25:
            add_note(
                customer, rng.choice(NOTES), author=rng.choice(marketing) if marketing else None
            )
    # A few pairs that look like the same person, for the duplicates page.
    for i in range(6):
        twin = Customer.objects.active().exclude(phone="").order_by("pk")[i * 7]
        resolve_customer(
            channel=Channel.IMPORT,
            at=now,
            defaults={
                "name": twin.name,
                "city": twin.city,
                "phone": "+86 " + twin.phone[:3] + " " + twin.phone[3:7] + " " + twin.phone[7:],
            },
        )
    Segment.objects.get_or_create(
        name="上海的潜在客户",
        defaults={
            "filters": {"stage": ["lead", "prospect"], "city": "上海"},
            "description": "上海、处于线索或潜在客户阶段",
        },
    )
    Segment.objects.get_or_create(
        name="VIP 会员",
        defaults={"filters": {"tag": ["VIP"]}, "description": "打了 VIP 标签的客户"},
    )
    stdout.write(f"crm: {count} demo customers with tags, leads, notes and timelines")


def urls():
    return [
        ("客户 Customers:", "/admin/crm/customer/"),
        ("线索看板 Lead pipeline:", "/admin/crm/lead/pipeline/"),
    ]
