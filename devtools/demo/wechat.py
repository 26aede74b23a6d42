"""Demo of the WeChat channel: an official account, five weeks of customer service, a live inbox.

- `services()`: the WeChat sandbox on port 8101, which plays the WeChat server for the demo account
  and pushes to this CRM's webhook. The web server reaches it through `WECHAT_API_BASE`, which
  `make demo` sets (the demo does not change settings at run time).
- `load()`: the account, its auto-replies and canned responses, a few agents, and five weeks of
  realistic Chinese customer-service history fed through `history.HANDLERS` (the same ingestion
  code as live pushes), so the KPI pages have shape: conversations per day, first responses with
  working-hours delays, resolutions and ratings. Seeded: every run gives the same story.
  Loading again on the same database adds nothing.
- `after_start()`: tells the sandbox which customers wrote in the last 48 hours (so agents can
  answer them from the demo inbox), then starts a stream of customer messages through the real
  webhook.
"""

import json
import os
import random
import sys
import urllib.error
import urllib.request
from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db.models import Max
from django.utils import timezone

from channels_wechat.history import HANDLERS
from channels_wechat.models import AutoReplyRule, CannedResponse, OfficialAccount
from crm.models import Message
from devtools.sandboxes.wechat import DEMO_ACCOUNTS

SANDBOX_PORT = 8101
SANDBOX_URL = f"http://127.0.0.1:{SANDBOX_PORT}"
DAYS = 35
AGENTS = [("agent", ""), ("xiaowang", "王小雅"), ("xiaoli", "李晓峰"), ("azhen", "陈阿珍")]

TOPICS = [
    (
        "物流",
        [
            "你好，我的订单什么时候发货？",
            "订单号 {order}，三天了还没发货",
            "快递一直显示在转运中，能帮我查一下吗？",
            "显示已签收但是我没收到货",
        ],
        [
            "您好，已为您查询，订单 {order} 已于今天上午从杭州仓发出，顺丰单号稍后短信通知您。",
            "非常抱歉让您久等了，仓库这两天订单较多，已帮您加急处理，预计明天发出。",
            "已联系快递核实，包裹放在了小区驿站，取件码已发到您手机。",
        ],
    ),
    (
        "售后",
        [
            "收到的口红外壳有裂痕，可以换货吗？",
            "精华液用了过敏，想退货",
            "面霜少寄了一瓶",
            "赠品没有收到",
        ],
        [
            "非常抱歉给您带来不好的体验！请拍一张商品照片发给我们，核实后马上为您换新。",
            "已为您登记退货，快递员会在明天上门取件，运费由我们承担。",
            "已核实是仓库漏发，今天为您补寄，再送您一张20元无门槛券表示歉意。",
        ],
    ),
    (
        "会员",
        [
            "会员积分怎么兑换优惠券？",
            "我想查一下我的会员等级",
            "生日礼包什么时候发放？",
            "怎么成为金卡会员？",
        ],
        [
            "您好，在公众号菜单「会员中心-积分商城」即可兑换，100积分可兑换10元券。",
            "您目前是银卡会员，再消费 680 元即可升级金卡，享受95折和生日双倍积分。",
            "生日礼包会在生日当月1号发放到您的卡包，记得在当月使用哦。",
        ],
    ),
    (
        "优惠",
        [
            "双十一的满减活动还有吗？",
            "优惠券显示已过期，能补发吗？",
            "新品有试用装吗？",
            "学生有折扣吗？",
        ],
        [
            "双十一活动满300减50，11月1日至11日有效，可以和会员折扣叠加使用。",
            "已为您补发一张同面额优惠券，有效期7天，请在卡包查收。",
            "新品精华液试用装可以在门店免费领取，也可以在商城0元申领（付邮费）。",
        ],
    ),
    (
        "门店",
        [
            "请问上海有线下门店吗？",
            "门店营业时间是几点？",
            "可以到门店自提吗？",
        ],
        [
            "上海有三家门店：静安嘉里中心、徐汇港汇恒隆、浦东正大广场，营业时间10:00-22:00。",
            "可以的，下单时选择「门店自提」，到店出示取件码即可。",
        ],
    ),
]
FOLLOW_UPS = ["好的，谢谢", "收到，辛苦了", "那我等一下", "好的👌", "麻烦尽快处理", "谢谢客服！"]
CLOSINGS = ["不客气，有任何问题随时联系我们~", "祝您生活愉快！", "感谢您的耐心，我们会持续跟进。"]
AUTO_RULES = [
    ("人工", "exact", "正在为您转接人工客服，请稍候~"),
    ("发票", "contains", "电子发票会在确认收货后24小时内发送到您的邮箱，也可在订单详情页下载。"),
    ("积分", "contains", "积分规则：每消费1元得1积分，100积分可兑换10元券。回复「人工」联系客服。"),
]
CANNED = [
    ("问候", "您好，我是花间集美妆客服，很高兴为您服务，请问有什么可以帮您？"),
    ("发货时间", "您好，订单会在付款后48小时内发货，发货后会短信通知您物流单号。"),
    ("退换货", "我们支持7天无理由退换货，请在订单详情页申请，快递员会上门取件。"),
    ("道歉", "非常抱歉给您带来不便，我们马上为您处理。"),
    ("结束语", "感谢您的咨询，祝您生活愉快！如有问题随时联系我们。"),
]


def services() -> list[list[str]]:
    addr = os.environ.get("DEMO_ADDR", "127.0.0.1:8000")
    return [
        [
            sys.executable,
            "-m",
            "devtools.sandboxes.wechat",
            "--port",
            str(SANDBOX_PORT),
            "--callback-base",
            f"http://{addr}",
        ]
    ]


def _setup_account() -> OfficialAccount:
    spec = DEMO_ACCOUNTS[0]
    account, _created = OfficialAccount.objects.get_or_create(
        appid=spec["appid"],
        defaults={
            "name": spec["name"],
            "original_id": spec["original_id"],
            "app_secret": spec["secret"],
            "token": spec["token"],
            "encoding_aes_key": spec["encoding_aes_key"],
            "mode": spec["mode"],
            "welcome_message": "欢迎关注花间集美妆🌸 回复「积分」查看积分规则，回复「人工」联系客服。",
            "out_of_hours_reply": "您好，客服工作时间为每天 9:00-21:00，我们上班后会第一时间回复您。",
            "service_start": time(9, 0),
            "service_end": time(21, 0),
        },
    )
    for priority, (keyword, match, reply) in enumerate(AUTO_RULES):
        AutoReplyRule.objects.get_or_create(
            account=account,
            keyword=keyword,
            defaults={"match": match, "reply": reply, "priority": priority * 10},
        )
    for title, text in CANNED:
        CannedResponse.objects.get_or_create(title=title, defaults={"text": text})
    group = Group.objects.get(name="agent")
    for username, full_name in AGENTS:
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
        if created:
            user.set_unusable_password()
            user.first_name = full_name
            user.save()
        user.groups.add(group)
    return account


def _working_time(at: datetime, rng: random.Random) -> datetime:
    """The next moment an agent is at work (9:00-21:00 local) at or after `at`."""
    local = timezone.localtime(at)
    if local.hour < 9:
        local = local.replace(hour=9, minute=rng.randint(0, 40), second=rng.randint(0, 59))
    elif local.hour >= 21:
        local = (local + timedelta(days=1)).replace(
            hour=9, minute=rng.randint(0, 40), second=rng.randint(0, 59)
        )
    return local


def demo_events(appid: str, now: datetime, seed: int = 20261122) -> list[dict]:
    """Five weeks of history events for the demo account, in time order."""
    rng = random.Random(seed)
    start = timezone.localtime(now - timedelta(days=DAYS)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    followers = []
    for n in range(320):
        openid = f"oHjJ{n:04d}{rng.getrandbits(60):015x}"[:28]
        back = rng.randint(0, 200) if rng.random() < 0.7 else -rng.randint(0, DAYS - 1)
        joined = start - timedelta(days=back, minutes=rng.randint(0, 1439))
        followers.append((openid, joined, f"demo-union-{n + 1}" if rng.random() < 0.6 else ""))
    events: list[dict] = []

    def ev(type_, at, openid, **fields):
        events.append(
            {"type": type_, "ts": at.isoformat(), "account": appid, "openid": openid, **fields}
        )

    for openid, joined, unionid in followers:
        if joined >= start:  # followed during the demo period: counts in the subscribe KPI
            # No QR scene: follows through channel codes are devtools.demo.journeys' (real codes,
            # scanned through the sandbox). The two draws keep the seeded story as it was.
            rng.choice(range(3)), rng.random()
            ev("subscribe", joined, openid, unionid=unionid)
    msg_seq, out_seq = 24601000000000000, 0
    busy_until: dict[str, datetime] = {}
    for day in range(DAYS + 1):
        date = start + timedelta(days=day)
        weekday_boost = 1.4 if date.weekday() in (0, 5, 6) else 1.0
        campaign = 2.0 if 10 <= day <= 12 else 1.0  # a promotion brings a wave of questions
        for _ in range(int(rng.randint(8, 16) * weekday_boost * campaign)):
            opened = date + timedelta(
                hours=rng.choices(
                    range(24),
                    weights=[
                        1,
                        1,
                        1,
                        1,
                        1,
                        1,
                        2,
                        4,
                        6,
                        8,
                        9,
                        9,
                        8,
                        7,
                        8,
                        9,
                        9,
                        8,
                        9,
                        10,
                        10,
                        9,
                        6,
                        3,
                    ],
                )[0],
                minutes=rng.randint(0, 59),
                seconds=rng.randint(0, 59),
            )
            if opened > now - timedelta(minutes=20):
                continue
            openid, joined, unionid = rng.choice(followers)
            if joined > opened or busy_until.get(openid, start) > opened:
                continue
            topic, questions, answers = rng.choice(TOPICS)
            order = f"2026{rng.randint(10**11, 10**12 - 1)}"
            msg_seq += rng.randint(1, 9999)
            ev(
                "message_in",
                opened,
                openid,
                unionid=unionid,
                msg_id=str(msg_seq),
                msg_type="text",
                content=rng.choice(questions).format(order=order),
            )
            if rng.random() < 0.08:
                msg_seq += 1
                ev(
                    "message_in",
                    opened + timedelta(seconds=20),
                    openid,
                    msg_id=str(msg_seq),
                    msg_type="image",
                    media_id=f"MEDIA_{msg_seq}",
                )
            agent = rng.choice([a for a, _name in AGENTS])
            age = now - opened
            # Unanswered: a few of the last two days (a real team closes its backlog), and most
            # of the last three hours.
            if (age < timedelta(days=2) and rng.random() < 0.15) or (
                age < timedelta(hours=3) and rng.random() < 0.6
            ):
                busy_until[openid] = now + timedelta(days=1)  # still waiting for an answer
                continue
            delay = timedelta(seconds=int(rng.lognormvariate(5.3, 1.1)))
            first = max(_working_time(opened, rng), opened) + delay
            if first > now - timedelta(minutes=5):
                busy_until[openid] = now + timedelta(days=1)
                continue
            out_seq += 1
            ev(
                "agent_reply",
                first,
                openid,
                agent=agent,
                msg_id=f"out-{out_seq:06d}",
                content=rng.choice(answers).format(order=order),
            )
            last = first
            if rng.random() < 0.7:
                last = first + timedelta(minutes=rng.randint(1, 30))
                msg_seq += 1
                ev("message_in", last, openid, msg_id=str(msg_seq), content=rng.choice(FOLLOW_UPS))
                if rng.random() < 0.5:
                    last += timedelta(minutes=rng.randint(1, 10))
                    out_seq += 1
                    ev(
                        "agent_reply",
                        last,
                        openid,
                        agent=agent,
                        msg_id=f"out-{out_seq:06d}",
                        content=rng.choice(CLOSINGS),
                    )
            resolved = last + timedelta(minutes=rng.randint(2, 240))
            # Left unresolved: some of the last two days only; older ones a team has closed.
            if (age < timedelta(days=2) and rng.random() < 0.3) or resolved > now - timedelta(
                minutes=10
            ):
                busy_until[openid] = now + timedelta(days=1)
                continue
            ev("resolve", resolved, openid, agent=agent)
            busy_until[openid] = resolved
            if rng.random() < 0.55:
                rated = resolved + timedelta(minutes=rng.randint(1, 120))
                if rated < now:
                    msg_seq += 1
                    score = rng.choices([5, 4, 3, 2, 1], weights=[60, 22, 9, 5, 4])[0]
                    ev("message_in", rated, openid, msg_id=str(msg_seq), content=str(score))
                    busy_until[openid] = rated
    for openid, joined, _unionid in rng.sample(followers, 18):
        left = now - timedelta(days=rng.randint(1, DAYS), minutes=rng.randint(0, 1439))
        if left > joined and busy_until.get(openid, start) < left:
            ev("unsubscribe", left, openid)
            busy_until[openid] = now + timedelta(days=1)
    events.sort(key=lambda e: e["ts"])
    return events


def load(stdout) -> None:
    account = _setup_account()
    if Message.objects.filter(channel="wechat", account=account.appid).exists():
        stdout.write("channels_wechat: demo history already loaded")
        return
    events = demo_events(account.appid, timezone.now())
    created = 0
    for number, event in enumerate(events, start=1):
        created += HANDLERS[event["type"]](event) == "created"
        if number % 500 == 0:
            stdout.write(f"channels_wechat: {number}/{len(events)} history events")
    stdout.write(
        f"channels_wechat: account {account.name} ({account.appid}), {created} history events "
        "of five weeks of customer service"
    )


def _sandbox(path: str, payload: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310  the demo's own sandbox
        f"{SANDBOX_URL}{path}",
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
        return json.loads(response.read().decode("utf-8"))


def after_start(stdout) -> None:
    account = OfficialAccount.objects.filter(appid=DEMO_ACCOUNTS[0]["appid"]).first()
    if account is None:
        return
    if settings.WECHAT_API_BASE.rstrip("/") != SANDBOX_URL:
        # Agents' replies would go to the real WeChat API, which knows no demo account.
        stdout.write(
            f"channels_wechat: WECHAT_API_BASE is {settings.WECHAT_API_BASE}; set it to "
            f"{SANDBOX_URL} (make demo does) to answer customers through the sandbox"
        )
    # Every follower's last message, so the sandbox answers as WeChat would: a reply within 48 h
    # is sent, an older one is refused with 45015 (not 40003 "unknown openid").
    recent = (
        Message.objects.filter(channel="wechat", account=account.appid, direction="in")
        .exclude(msg_type="event")
        .values("external_user")
        .annotate(last=Max("sent_at"))
        .values_list("external_user", "last")
    )
    try:
        for openid, sent_at in recent:
            _sandbox(
                "/sandbox/interact",
                {"appid": account.appid, "openid": openid, "at": sent_at.timestamp()},
            )
        _sandbox(
            "/sandbox/push",
            {
                "appid": account.appid,
                "openid": "oDemoLive0001xYz",
                "msg_type": "text",
                "content": "你好，刚下的单能改地址吗？",
            },
        )
        _sandbox("/sandbox/stream", {"interval": 30})
    except (urllib.error.URLError, OSError) as exc:
        stdout.write(f"channels_wechat: the WeChat sandbox is not reachable ({exc})")
        return
    stdout.write("channels_wechat: the WeChat sandbox sends a customer message every 30 s")


def urls() -> list[tuple[str, str]]:
    return [
        ("客服收件箱 Inbox:", "/inbox/"),
        ("公众号 WeChat accounts:", "/admin/channels_wechat/officialaccount/"),
        ("微信沙箱 WeChat sandbox:", f"{SANDBOX_URL}/sandbox/sent"),
    ]
