"""Demo: one person across Weibo and WeChat, through the product's own paths and nothing else.

Runs after the channel apps' demo data (their Weibo leads, the official account, the merchant)
and talks to the running sandboxes the way live traffic does; no identity is linked by hand:

1. Channel codes (渠道活码) are created at the WeChat sandbox through `create_channel_code`: two
   store codes, a campaign poster, one code per KOL of the demo's Weibo campaign. New people scan
   them: the sandbox's `/sandbox/scan` pushes the signed `subscribe` (`qrscene_<scene>`) to the
   CRM's webhook.
2. Weibo → WeChat handoffs: recent Weibo leads (the KOL campaign's among them) are sent their
   handoff link through the Weibo sandbox (`crm.handoff.send_handoff`, private message or public
   comment reply); the person opens `/h/<token>` (which makes the handoff's QR code at WeChat)
   and scans it: the sandbox pushes the `subscribe` with the handoff's scene, and the webhook
   links the follower to the Weibo customer.
3. Verified phones: people sign in to the member pages with WeChat OAuth (the WeChat Pay
   sandbox's users), ask for an SMS code (sent through the Tencent SMS sandbox), read it there
   and join with it.
4. Many of them pay: a JSAPI order at the WeChat Pay sandbox (`unifiedorder`), paid with
   `/sandbox/pay`, whose signed notification reaches the CRM's pay hook.

So the funnel's Weibo → WeChat step, the channel-code reports and the KOL campaign's revenue
come from these paths only. Needs the sandboxes (`make demo` starts them and points the
settings at them) and the web server the sandboxes call back (`--no-serve` has none: the step
is skipped with a note). Seeded; a second run adds nothing.
"""

import json
import random
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import Client

SCAN_PEOPLE = 36  # new followers through the store, poster and KOL codes
HANDOFFS = 24  # Weibo leads sent a handoff link (about 5 in 6 of them follow through it)
JOINERS = 12  # members who join on /m/join with an SMS code
OAUTH_USERS = 5001  # the WeChat Pay sandbox's OAuth users from this number on: new people
ORDER_PREFIX = "JNY"
AMOUNTS = [9900, 12900, 19900, 29900, 59900]
CODES = [
    # scene, name, purpose, welcome message
    (
        "store_sh01",
        "上海南京西路店 门店码",
        "store",
        "欢迎来到南京西路店！回复「会员」了解会员权益。",
    ),
    ("store_sh02", "上海徐家汇店 门店码", "store", "欢迎来到徐家汇店！"),
    ("poster_1111", "双十一海报", "campaign", "双十一会员日，满299减50，点击菜单领券~"),
]
LINK = re.compile(r"/h/([A-Za-z0-9_-]+)")


class Unavailable(Exception):
    """A sandbox or the web server does not answer: the step is skipped (the message says why)."""


def _call(url: str, payload: dict | None = None, timeout: float = 20) -> dict[str, Any]:
    data = None if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310  the demo's own loopback sandboxes
        url,
        data=data,
        method="GET" if data is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read().decode("utf-8") or "{}")
    except (urllib.error.URLError, OSError) as exc:
        raise Unavailable(f"{url}: {getattr(exc, 'reason', exc)}") from None


def _loopback(base: str) -> bool:
    return base.startswith(("http://127.0.0.1", "http://localhost"))


def _check_platforms() -> None:
    for name in ("WECHAT_API_BASE", "WEIBO_API_BASE", "WECHATPAY_API_BASE"):
        if not _loopback(getattr(settings, name)):
            raise Unavailable(f"{name} is {getattr(settings, name)}, not a local sandbox")
    if settings.SMS_PROVIDER != "tencent" or not _loopback(settings.TENCENT_SMS_API_BASE):
        raise Unavailable("SMS_PROVIDER=tencent with TENCENT_SMS_API_BASE at the SMS sandbox")
    _call(settings.WECHAT_API_BASE.rstrip("/") + "/sandbox/stats")


def _scan(appid: str, openid: str, scene: str) -> None:
    """The person scans the code: the WeChat sandbox pushes the signed follow to the webhook."""
    answer = _call(
        settings.WECHAT_API_BASE.rstrip("/") + "/sandbox/scan",
        {"appid": appid, "openid": openid, "scene": scene, "subscribe": True},
    )
    if answer.get("status") != 200:
        raise Unavailable(f"the webhook answered the scan with {answer}")


def _pay(merchant, customer, openid: str, amount_fen: int, number: int) -> None:
    """A JSAPI order of `customer`, paid at the WeChat Pay sandbox; its notification reaches
    the CRM's hook (which marks it paid)."""
    from members.actions import create_order
    from members.actions.pos import notify_url
    from members.client import WeChatPayClient

    order = create_order(
        amount_fen=amount_fen,
        channel="jsapi",
        customer=customer,
        merchant=merchant,
        out_trade_no=f"{ORDER_PREFIX}{number:08d}",
        description="花漾水光精华液",
    )
    WeChatPayClient(merchant).unified_order(
        order, trade_type="JSAPI", notify_url=notify_url(merchant), openid=openid
    )
    answer = _call(
        settings.WECHATPAY_API_BASE.rstrip("/") + "/sandbox/pay",
        {"out_trade_no": order.out_trade_no, "openid": openid},
    )
    if answer.get("deliveries") != [200]:
        raise Unavailable(f"the pay hook answered the notification with {answer}")


def _codes(account) -> list:
    from channels_wechat.actions import create_channel_code
    from channels_wechat.models import ChannelCode
    from channels_weibo.models import Campaign

    specs = list(CODES)
    campaign = Campaign.objects.order_by("pk").first()
    if campaign is not None:
        for kol in campaign.kols.order_by("uid"):
            specs.append(
                (
                    f"kol_{kol.uid}",
                    f"KOL {kol.screen_name}"[:64],
                    "kol",
                    "感谢关注！博主专属礼包已备好~",
                )
            )
    codes = []
    for scene, name, purpose, welcome in specs:
        code = ChannelCode.objects.filter(account=account, scene=scene).first()
        if code is None:
            code = create_channel_code(
                account,
                name=name,
                purpose=purpose,
                scene=scene,
                kind=ChannelCode.Kind.PERMANENT,
                welcome_message=welcome,
            )
        codes.append(code)
    return codes


def _customer_of(appid: str, openid: str):
    from channels_wechat.models import WeChatUser

    user = WeChatUser.objects.select_related("customer").get(account__appid=appid, openid=openid)
    customer = user.customer
    if customer is None:
        raise Unavailable(f"the follower {openid} has no customer")
    while customer.merged_into is not None:
        customer = customer.merged_into
    return customer


def _handoff_token(handoff) -> str:
    """The token in the link that went out: the private message's text, or the comment reply's
    (on the Weibo customer's timeline)."""
    from crm.models import Interaction, Message

    texts = list(
        Message.objects.filter(data__handoff=handoff.pk)
        .order_by("-pk")
        .values_list("content", flat=True)
    ) + list(
        Interaction.objects.filter(data__handoff=handoff.pk, channel="weibo")
        .order_by("-pk")
        .values_list("summary", flat=True)
    )
    for text in texts:
        match = LINK.search(text or "")
        if match is not None:
            return match.group(1)
    raise Unavailable(f"no handoff link was sent for handoff {handoff.pk}")


def _handoffs(account, merchant, rng: random.Random, number: int) -> tuple[int, int, int]:
    """Send handoff links to recent Weibo leads, KOL campaign leads first; most follow."""
    from crm.handoff import send_handoff
    from crm.models import Handoff, Lead

    browser = Client()
    leads = list(
        Lead.objects.filter(source_channel="weibo", source_id__isnull=False)
        .select_related("customer")
        .order_by("-created_at", "pk")[:200]
    )
    sent = linked = paid = 0
    seen: set[str] = set()
    for lead in leads:
        if sent >= HANDOFFS:
            break
        try:
            send_handoff(lead=lead, agent=None)
        except (ValidationError, LookupError):
            continue  # a second lead of someone who already followed through their link
        handoff = Handoff.objects.filter(lead=lead).order_by("-created_at").first()
        if handoff is None or handoff.weibo_uid in seen:
            continue
        seen.add(handoff.weibo_uid)
        sent += 1
        if rng.random() < 1 / 6:
            continue  # never opened the link
        page = browser.get(f"/h/{_handoff_token(handoff)}")
        if page.status_code != 200:
            raise Unavailable(f"/h/<token> answered {page.status_code}")
        handoff.refresh_from_db()
        openid = f"oDemoHandoff{handoff.pk:06d}"
        _scan(account.appid, openid, handoff.scene)
        handoff.refresh_from_db()
        if handoff.used_at is None:
            continue
        linked += 1
        if rng.random() < 0.75:
            number += 1
            _pay(merchant, _customer_of(account.appid, openid), openid, rng.choice(AMOUNTS), number)
            paid += 1
    return sent, linked, paid


def _scans(account, merchant, codes, rng: random.Random, number: int) -> tuple[int, int]:
    scanned = paid = 0
    for n in range(SCAN_PEOPLE):
        code = codes[n % len(codes)]
        openid = f"oDemoScan{n:04d}{code.pk:04d}"
        _scan(account.appid, openid, code.scene)
        scanned += 1
        if rng.random() < 0.45:
            number += 1
            _pay(merchant, _customer_of(account.appid, openid), openid, rng.choice(AMOUNTS), number)
            paid += 1
    return scanned, paid


def _sign_in(browser: Client, user: int) -> None:
    """/m/ → WeChat OAuth at the sandbox (as its user `user`) → back to /m/oauth."""
    start = browser.get("/m/join")
    authorize = start["Location"].replace("#wechat_redirect", "") + f"&as={user}"

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(authorize, timeout=10)  # noqa: S310
        raise Unavailable("the OAuth sandbox did not redirect")
    except urllib.error.HTTPError as exc:
        back = urllib.parse.urlsplit(exc.headers["Location"])
    browser.get(f"{back.path}?{back.query}")


def _joiners(merchant, rng: random.Random, number: int) -> tuple[int, int]:
    from members.models import Membership, PayerOpenid

    joined = paid = 0
    for n in range(JOINERS):
        browser = Client(REMOTE_ADDR=f"10.16.{n // 200}.{n % 200 + 1}")
        user = OAUTH_USERS + n
        _sign_in(browser, user)
        phone = f"1380016{n:04d}"
        asked = browser.post("/m/join/code", {"phone": phone}, HTTP_ACCEPT="application/json")
        if asked.status_code != 200:
            raise Unavailable(f"/m/join/code answered {asked.status_code}: {asked.content!r}")
        code = _call(f"{settings.TENCENT_SMS_API_BASE.rstrip('/')}/sandbox/sms/{phone}")["code"]
        browser.post("/m/join", {"phone": phone, "code": code, "consent": "on"})
        membership = Membership.objects.filter(customer__phone__endswith=phone).first()
        if membership is None:
            continue
        joined += 1
        if rng.random() < 0.6:
            payer = PayerOpenid.objects.filter(customer=membership.customer).first()
            openid = payer.openid if payer else ""
            number += 1
            _pay(merchant, membership.customer, openid, rng.choice(AMOUNTS), number)
            paid += 1
    return joined, paid


def load(stdout) -> None:
    from channels_wechat.models import OfficialAccount
    from members.models import MerchantConfig, Order

    if Order.objects.filter(out_trade_no__startswith=ORDER_PREFIX).exists():
        stdout.write("crossings: already loaded")
        return
    account = OfficialAccount.objects.filter(active=True).order_by("pk").first()
    merchant = MerchantConfig.objects.order_by("pk").first()
    if account is None or merchant is None:
        stdout.write("crossings: no official account or merchant; skipped")
        return
    try:
        _check_platforms()
        rng = random.Random(20261206)
        codes = _codes(account)
        sent, linked, handoff_paid = _handoffs(account, merchant, rng, 0)
        scanned, scan_paid = _scans(account, merchant, codes, rng, 1000)
        joined, join_paid = _joiners(merchant, rng, 2000)
    except Unavailable as exc:
        stdout.write(
            f"crossings: skipped, a sandbox or the web server is not reachable ({exc}); "
            "`make demo` runs them"
        )
        return
    stdout.write(
        f"crossings: {len(codes)} channel codes, {scanned} follows through them ({scan_paid} paid); "
        f"{sent} Weibo handoff links sent, {linked} followed through ({handoff_paid} paid); "
        f"{joined} members joined with an SMS code ({join_paid} paid)"
    )
