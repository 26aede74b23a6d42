"""Demo data for the Weibo side, loaded through the real ingestion code.

- A brand account (花漾美妆) connected to the sandbox (`python -m devtools.sandboxes.weibo`, port
  8102, started by `make demo`), with keyword rules that turn buying intent into leads.
- Four weeks of older history (brand posts with counters, repost cascades, mentions with mixed
  sentiment, comments) imported through `history.HANDLERS`, and six weeks of daily follower
  counts, growing.
- The last two weeks polled from the running sandbox through the real client and poller; a KOL
  campaign over them; new mentions keep arriving (the sandbox makes some every minute and the
  demo polls every minute), and fans write private messages that land in the shared inbox.

Needs `WEIBO_API_BASE=http://127.0.0.1:8102` in the environment (the web process replies through
the sandbox too); without it the history is loaded and live polling is skipped.
"""

import json
import os
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from channels_weibo.history import HANDLERS
from channels_weibo.lead_credit import credit_campaign
from channels_weibo.models import (
    Campaign,
    CampaignKol,
    KeywordRule,
    TokenStatus,
    WeiboAccount,
    WeiboPost,
    WeiboUser,
)
from channels_weibo.polling import poll_account, snapshot_followers
from devtools.sandboxes.weibo import BRAND, KOLS, World

PORT = 8102
TOKEN = "2.00demo-weibo-token-2026"
FANSERVICE_SECRET = "demo-fanservice-secret"
RULES = [
    ("购买意向", "求链接，多少钱，哪里买，怎么买，有没有团购", "代购", True, "高潜力", True, True),
    ("代理加盟", "代理，加盟，批发", "", False, "", True, False),
    ("投诉风险", "过敏，退款，差评，漏，太坑", "", True, "投诉", False, True),
]
FAN_MESSAGES = [
    "你好，我在你们微博看到新品精华液，敏感肌能用吗？",
    "直播间说好的赠品没收到，麻烦查一下",
    "请问会员积分怎么兑换？",
]


def services():
    return [
        [
            sys.executable,
            "-m",
            "devtools.sandboxes.weibo",
            "--port",
            str(PORT),
            "--token",
            TOKEN,
            "--activity-every",
            "60",
        ]
    ]


def _live() -> bool:
    return settings.WEIBO_API_BASE.startswith(("http://127.0.0.1", "http://localhost"))


def load(stdout) -> None:
    account, created = WeiboAccount.objects.get_or_create(
        uid=BRAND["uid"],
        defaults={
            "screen_name": str(BRAND["screen_name"]),
            "access_token": TOKEN,
            "token_status": TokenStatus.OK,
            "token_expires_at": timezone.now() + timedelta(days=6),
            "app_key": "3345678901",
            "app_secret": FANSERVICE_SECRET,
        },
    )
    if not created:
        stdout.write("weibo: demo account already loaded")
        return
    for name, words, exclusions, tag, tag_name, lead, alert in RULES:
        KeywordRule.objects.create(
            name=name,
            words=words,
            exclusions=exclusions,
            action_tag=tag,
            tag_name=tag_name,
            action_lead=lead,
            action_alert=alert,
        )
    now = timezone.now()
    # Older history, from another sandbox world that ended two weeks ago.
    world = World(seed=99, days=28, fans=80, now=now - timedelta(days=14), fan_base=7100000001)
    events: list[dict[str, Any]] = []
    for obj in sorted(world.statuses.values(), key=lambda o: o["id"]):
        events.append({"type": "status", "account": account.uid, "data": World.public(obj)})
    for obj in sorted(world.comments.values(), key=lambda o: o["id"]):
        events.append({"type": "comment", "account": account.uid, "data": World.public(obj)})
    # Daily gains that end, yesterday, just below the count the sandbox reports today, so the
    # live snapshot continues the line instead of jumping.
    gains = {days_ago: 600 + (days_ago * 37) % 700 for days_ago in range(42, 0, -1)}
    followers = BRAND["followers"] - 650 - sum(gains.values())
    for days_ago in range(42, 0, -1):
        followers += gains[days_ago]
        events.append(
            {
                "type": "follower_count",
                "account": account.uid,
                "day": (timezone.localdate() - timedelta(days=days_ago)).isoformat(),
                "followers_count": followers,
            }
        )
    for i, event in enumerate(events, 1):
        HANDLERS[event["type"]](event)
        if i % 100 == 0:
            stdout.write(f"weibo: history {i}/{len(events)}")
    stdout.write(f"weibo: {len(events)} history events imported")
    for uid, _name, category, _followers, _vt in KOLS:
        WeiboUser.objects.filter(uid=uid).update(kol_category=category)
    if _live():
        result = poll_account(account)
        snapshot_followers(account)
        stdout.write(f"weibo: polled the sandbox: {result}")
    else:
        stdout.write("weibo: set WEIBO_API_BASE=http://127.0.0.1:8102 to poll the sandbox live")
    start = timezone.localdate() - timedelta(days=14)
    campaign = Campaign.objects.create(
        name="花漾水光精华液新品种草", account=account, start=start, end=timezone.localdate()
    )
    campaign.posts.set(
        WeiboPost.objects.filter(account=account, is_brand_post=True, created_at__date__gte=start)
    )
    # Each KOL's fee (fen), so the campaign page shows a return on it.
    fees = [30000, 20000, 10000, 5000]
    for (uid, *_rest), fee in zip(KOLS, fees, strict=False):
        kol = WeiboUser.objects.filter(uid=uid).first()
        if kol is not None:
            CampaignKol.objects.create(campaign=campaign, kol=kol, fee_fen=fee)
    # The campaign came after the history it covers: its leads get their credit, as when a
    # campaign is saved in the admin.
    credit_campaign(campaign.pk)


def _poll_forever() -> None:
    while True:
        time.sleep(60)
        close_old_connections()
        for account in WeiboAccount.objects.filter(active=True):
            poll_account(account)
        close_old_connections()


def after_start(stdout) -> None:
    if not _live():
        return
    addr = os.environ.get("DEMO_ADDR", "127.0.0.1:8000")  # what the demo serves on
    for i, text in enumerate(FAN_MESSAGES):
        message = {
            "type": "text",
            "receiver_id": int(BRAND["uid"]),
            "sender_id": 7000000001 + i * 3,
            "created_at": timezone.localtime().strftime("%a %b %d %H:%M:%S %z %Y"),
            "text": text,
            "data": {},
        }
        body = json.dumps(
            {
                "hook": f"http://{addr}/hooks/weibo/{BRAND['uid']}",
                "app_secret": FANSERVICE_SECRET,
                "message": message,
            }
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{PORT}/sandbox/push",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310  loopback sandbox
                pass
        except OSError as exc:
            stdout.write(f"weibo: fan message push failed: {exc}")
    threading.Thread(target=_poll_forever, name="weibo-demo-poller", daemon=True).start()
    stdout.write("weibo: polling the sandbox every minute; fans wrote 3 private messages")


def urls():
    links = [
        ("微博舆情 Weibo listening:", "/weibo/mentions/"),
        ("微博账号 Weibo accounts:", "/admin/channels_weibo/weiboaccount/"),
        ("关键词线索 Keyword alerts:", "/admin/channels_weibo/keywordalert/"),
    ]
    top = WeiboPost.objects.filter(is_brand_post=True).order_by("-reposts_count").first()
    if top:
        links.append(("传播路径 Cascade:", f"/weibo/posts/{top.idstr}/"))
    campaign = Campaign.objects.first()
    if campaign:
        links.append(("KOL 活动 Campaign:", f"/weibo/campaigns/{campaign.pk}/"))
    return links
