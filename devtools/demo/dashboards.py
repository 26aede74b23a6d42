"""Demo steps of the dashboards, run after every channel app has loaded its history.

1. The cross-channel journey the funnel is about: a third of the Weibo-sourced leads later bind
   their phone and WeChat (their unionid joins the master record), subscribe to the official
   account, ask a question (answered and resolved unless asked in the last two days), and most
   of them pay; fed through `import_history` like any migration, so their leads convert by the
   real rules.
2. Snapshot the KPIs of the demo history the way the nightly task would have.
"""

import random
from datetime import timedelta

from django.utils import timezone

from dashboards.snapshots import CHANNELS, compute_snapshots, today

DAYS = 60
QUESTIONS = {
    "我在微博上看到你们的新品，想问一下价格": "您好！水光精华液新品 30ml 299 元，会员再享 95 折哦~",
    "微博上说的满299减50还有吗？": "有的，活动到月底，下单时自动减 50 元。",
    "博主推荐的那款精华，门店有货吗": "门店都有货，您可以在菜单「门店」里查附近门店库存。",
    "看到微博活动来的，怎么领券？": "欢迎！在菜单「会员-领券中心」就能领取微博专享券。",
}
# The demo's customer-service team (devtools.demo.wechat creates them).
AGENTS = ["xiaowang", "xiaoli", "azhen"]


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
    travelled: set[int] = set()
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
        if customer.pk in travelled:  # a second lead of the same person: one journey each
            continue
        travelled.add(customer.pk)
        unionid, phone = f"demo-weibo-union-{customer.pk}", f"+86139{customer.pk:08d}"
        customer = resolve_customer(channel="wechat", keys={"unionid": unionid}, customer=customer)
        set_verified_phone(customer, phone)
        openid = f"o-weibo-{customer.pk}"
        common = {"account": account.appid, "openid": openid, "unionid": unionid}
        events.append({"type": "subscribe", "ts": start.isoformat(), **common, "qr_scene": "weibo"})
        asked, question = start + timedelta(minutes=3), rng.choice(list(QUESTIONS))
        events.append(
            {
                "type": "message_in",
                "ts": asked.isoformat(),
                **common,
                "msg_id": f"journey-{customer.pk}",
                "msg_type": "text",
                "content": question,
            }
        )
        # Answered and resolved, as a working team does, unless asked in the last two days.
        if asked < now - timedelta(days=2):
            agent, answered = rng.choice(AGENTS), asked + timedelta(minutes=rng.randint(2, 45))
            events.append(
                {
                    "type": "agent_reply",
                    "ts": answered.isoformat(),
                    **common,
                    "agent": agent,
                    "msg_id": f"journey-reply-{customer.pk}",
                    "content": QUESTIONS[question],
                }
            )
            resolved = answered + timedelta(minutes=rng.randint(5, 60))
            events.append({"type": "resolve", "ts": resolved.isoformat(), **common, "agent": agent})
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
