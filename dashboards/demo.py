"""Demo steps of the dashboards, run after every channel app has loaded its history.

1. The cross-channel journey the funnel is about: a third of the Weibo-sourced leads later bind
   their phone and WeChat (their unionid joins the master record), subscribe to the official
   account, ask a question, and most of them pay; fed through `import_history` like any
   migration, so their leads convert by the real rules.
2. Snapshot the KPIs of the demo history the way the nightly task would have.
"""

import random
from datetime import timedelta

from django.utils import timezone

from .snapshots import CHANNELS, compute_snapshots, today

DAYS = 60
QUESTIONS = [
    "我在微博上看到你们的新品，想问一下价格",
    "微博上说的满299减50还有吗？",
    "博主推荐的那款精华，门店有货吗",
    "看到微博活动来的，怎么领券？",
]


def journey_events(seed: int = 20261122) -> list[dict]:
    from django.apps import apps

    from crm.identity import resolve_customer, set_verified_phone
    from crm.models import Lead

    try:
        account = apps.get_model("channels_wechat", "OfficialAccount").objects.order_by("pk")[0]
    except (LookupError, IndexError):
        return []
    rng = random.Random(seed)
    now = timezone.now()
    events: list[dict] = []
    leads = Lead.objects.filter(source_channel="weibo").select_related("customer").order_by("pk")
    for index, lead in enumerate(leads):
        if index % 3:
            continue
        start = lead.created_at + timedelta(hours=rng.randint(2, 96))
        if start > now - timedelta(hours=2):
            continue
        customer = lead.customer
        while customer.merged_into is not None:
            customer = customer.merged_into
        unionid, phone = f"demo-weibo-union-{customer.pk}", f"+86139{customer.pk:08d}"
        customer = resolve_customer(channel="wechat", keys={"unionid": unionid}, customer=customer)
        set_verified_phone(customer, phone)
        openid = f"o-weibo-{customer.pk}"
        common = {"account": account.appid, "openid": openid, "unionid": unionid}
        events.append({"type": "subscribe", "ts": start.isoformat(), **common, "qr_scene": "weibo"})
        events.append(
            {
                "type": "message_in",
                "ts": (start + timedelta(minutes=3)).isoformat(),
                **common,
                "msg_id": f"journey-{customer.pk}",
                "msg_type": "text",
                "content": rng.choice(QUESTIONS),
            }
        )
        paid = start + timedelta(hours=rng.randint(1, 72))
        if rng.random() < 0.7 and paid < now:
            events.append(
                {
                    "type": "order",
                    "ts": paid.isoformat(),
                    "out_trade_no": f"WB{customer.pk:010d}",
                    "amount_fen": rng.choice([9900, 12900, 19900, 29900]),
                    "channel": "jsapi",
                    "phone": phone,
                }
            )
    return events


def load(stdout) -> None:
    from crm.history import import_through_command

    events = journey_events()
    if events:
        import_through_command(events, "demo-cross-channel", stdout)
    end = today() - timedelta(days=1)
    start = end - timedelta(days=DAYS - 1)
    rows = sum(compute_snapshots(channel, start, end) for channel in CHANNELS)
    stdout.write(f"dashboards: {rows} KPI snapshot rows for {start}..{end}")


def urls() -> list[tuple[str, str]]:
    return [("数据看板 Dashboards:", "/dashboards/")]
