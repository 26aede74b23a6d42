"""Demo data for the members app: tiers, stores, coupons, a WeChat Pay merchant and several
weeks of member joins and orders, loaded through `members.history.HANDLERS` (the same actions as
live traffic); coupons issued and redeemed through the coupon actions. Once the web server runs,
a few POS charges are paid through the sandbox's signed notifications to the real hook.

Customers are `demo-union-<n>` (n = 1..300), the unionids the WeChat demo uses, so the people
who chat are the people who pay. Seeded: every run gives the same data; a second run adds nothing.
"""

import json
import random
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from devtools.names import CITIES, chinese_name
from devtools.sandboxes.wechatpay import PLATFORM_SERIAL, new_platform_key, public_pem
from members.history import HANDLERS

SANDBOX_PORT = 8103
SMS_SANDBOX_PORT = 8104  # Tencent Cloud SMS: the join page's verification codes
MCHID = "1230000109"
APPID = "wx2421b1c4370ec43b"
APP_SECRET = "demo-app-secret-7c1f0e9a"
API_KEY = "demo9b5a4c3e2f1d0a9b8c7d6e5f4a3b"  # 32 characters, like the real key
APIV3_KEY = "demoV3k9b5a4c3e2f1d0a9b8c7d6e5f4"  # 32 bytes

STORES = [
    ("SH001", "上海南京西路店", "上海"),
    ("SH002", "上海徐家汇店", "上海"),
    ("BJ001", "北京三里屯店", "北京"),
    ("GZ001", "广州天河城店", "广州"),
    ("SZ001", "深圳万象城店", "深圳"),
    ("HZ001", "杭州湖滨银泰店", "杭州"),
]
TIERS = [
    ("普通会员", 0, "points", 0, "消费1元积1分"),
    ("银卡会员", 1, "points", 500, "生日礼、9.5折"),
    ("金卡会员", 2, "points", 2000, "9折、免费包装"),
    ("黑金会员", 3, "spend", 500000, "年消费满5000元：8.5折、专属顾问"),
]


def _var() -> Path:
    path = Path(settings.BASE_DIR) / "var"
    path.mkdir(exist_ok=True)
    return path


def sandbox_config() -> Path:
    """The sandbox's config file and platform key (created once; the merchant trusts this key)."""
    key_path = _var() / "wechatpay-sandbox-platform-key.pem"
    if not key_path.exists():
        from cryptography.hazmat.primitives import serialization

        key = new_platform_key()
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
    config_path = _var() / "wechatpay-sandbox.json"
    config = {
        "platform_key": str(key_path),
        "merchants": [
            {
                "mchid": MCHID,
                "appid": APPID,
                "app_secret": APP_SECRET,
                "api_key": API_KEY,
                "apiv3_key": APIV3_KEY,
                "sign_type": "HMAC-SHA256",
            }
        ],
    }
    config_path.write_text(json.dumps(config, indent=2))
    config_path.chmod(0o600)
    return config_path


def services() -> list[list[str]]:
    return [
        [
            sys.executable,
            "-m",
            "devtools.sandboxes.wechatpay",
            "--port",
            str(SANDBOX_PORT),
            "--config",
            str(sandbox_config()),
        ],
        # Trusts the TENCENT_SMS_* settings the demo runs with (Makefile DEMO_ENV).
        [sys.executable, "-m", "devtools.sandboxes.sms", "--port", str(SMS_SANDBOX_PORT)],
    ]


def _setup():
    from cryptography.hazmat.primitives import serialization

    from members.models import CouponTemplate, MerchantConfig, Store, Tier

    for name, rank, basis, threshold, benefits in TIERS:
        Tier.objects.get_or_create(
            rank=rank,
            defaults={"name": name, "basis": basis, "threshold": threshold, "benefits": benefits},
        )
    stores = {}
    for code, name, city in STORES:
        stores[code], _created = Store.objects.get_or_create(
            code=code, defaults={"name": name, "city": city}
        )
    key_path = Path(json.loads(sandbox_config().read_text())["platform_key"])
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    MerchantConfig.objects.update_or_create(
        mchid=MCHID,
        defaults={
            "name": "演示品牌 商户号",
            "appid": APPID,
            "app_secret": APP_SECRET,
            "api_key": API_KEY,
            "sign_type": "HMAC-SHA256",
            "apiv3_key": APIV3_KEY,
            "platform_serial": PLATFORM_SERIAL,
            "platform_public_key": public_pem(key),
        },
    )
    now = timezone.now()
    templates = {}
    # Only the Weibo campaign's template has a public claim link; the others are issued by staff.
    for name, kind, value, min_spend, days, stock, description, store_codes, public in [
        ("新人礼 满100减20", "cash", 2000, 10000, 30, None, "新会员专享", [], False),
        ("会员日 八五折", "discount", 85, 0, 14, 1000, "每月18日会员日", [], False),
        ("生日礼 免费咖啡", "gift", 0, 0, 30, None, "生日当月到店领取", ["SH001", "SH002"], False),
        ("微博双十一 满200减50", "cash", 5000, 20000, 20, 500, "微博活动领取", [], True),
    ]:
        template, created = CouponTemplate.objects.get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "value": value,
                "min_spend_fen": min_spend,
                "valid_days": days,
                "stock": stock,
                "description": description,
                "valid_from": now - timedelta(days=90),
                "public_claim": public,
            },
        )
        if created and store_codes:
            template.stores.set([stores[c] for c in store_codes])
        templates[name] = template
    return stores, templates


def load(stdout) -> None:
    from members.actions import issue_coupon, redeem_coupon, refund_order
    from members.actions.coupons import CouponError
    from members.models import Coupon, Membership, Order

    stores, templates = _setup()
    if Order.objects.filter(out_trade_no__startswith="DEMO").exists():
        stdout.write("members: demo orders already loaded")
        return
    rng = random.Random(20261122)
    now = timezone.now()
    joins = orders = 0
    for n in range(1, 301):
        unionid = f"demo-union-{n}"
        person = {
            "unionid": unionid,
            "name": chinese_name(rng),
            "city": rng.choice(CITIES),
        }
        start = now - timedelta(days=rng.randint(7, 56), minutes=rng.randint(0, 1440))
        if rng.random() < 0.6:
            # No join is "via weibo_campaign" here: a Weibo person becomes a WeChat member only
            # through the crossings loader's real paths (handoff, channel code, verified phone).
            via = rng.choices(["wechat", "pos"], [7, 3])[0]
            HANDLERS["member_join"](
                {"type": "member_join", "ts": start.isoformat(), "via": via, **person}
            )
            joins += 1
        if rng.random() < 0.7:
            moment = start
            heavy = rng.random() < 0.1  # a few big spenders reach the upper tiers
            for k in range(rng.randint(1, 8 if heavy else 4)):
                moment += timedelta(hours=rng.randint(2, 240))
                if moment >= now:
                    break
                amount = rng.choice([2900, 4900, 8800, 12900, 19900, 29900, 59900, 129900])
                if heavy:
                    amount *= 3
                channel = rng.choices(["pos", "native", "jsapi", "cash"], [5, 2, 2, 1])[0]
                HANDLERS["order"](
                    {
                        "type": "order",
                        "ts": moment.isoformat(),
                        "out_trade_no": f"DEMO{n:04d}{k:02d}",
                        "transaction_id": f"42000{n:05d}{k:02d}2026" if channel != "cash" else "",
                        "amount_fen": amount,
                        "channel": channel,
                        "store": rng.choice(list(stores)) if channel in ("pos", "cash") else "",
                        **person,
                    }
                )
                orders += 1
    issued = redeemed = 0
    for membership in Membership.objects.select_related("customer").order_by("pk"):
        at = membership.joined_at + timedelta(hours=1)
        for name in ("新人礼 满100减20", "会员日 八五折", "微博双十一 满200减50"):
            if name != "新人礼 满100减20" and rng.random() < 0.6:
                continue
            via = "weibo_campaign" if name.startswith("微博") else "wechat"
            try:
                coupon = issue_coupon(templates[name], membership.customer, via=via, at=at)
            except CouponError:
                continue
            issued += 1
            used_at = at + timedelta(days=rng.randint(1, 10))
            if rng.random() < 0.4 and used_at < now:
                try:
                    redeem_coupon(coupon.code, store=stores[rng.choice(list(stores))], at=used_at)
                    redeemed += 1
                except CouponError:
                    pass
    for order in Order.objects.filter(status="paid", out_trade_no__startswith="DEMO").order_by(
        "pk"
    )[:8:2]:
        refund_order(
            order,
            order.amount_fen // 2,
            reason="部分退货",
            at=(order.paid_at or now) + timedelta(days=1),
        )
    stdout.write(
        f"members: {joins} members, {orders} orders, {issued} coupons issued "
        f"({redeemed} redeemed, {Coupon.objects.filter(redeemed_at__isnull=True).count()} open)"
    )


def after_start(stdout) -> None:
    """Three POS charges at the till, each paid in the sandbox: QR code → notification → points."""
    from members.actions.pos import start_pos_charge
    from members.models import Membership, Order, Store
    from members.qr import member_code

    base = settings.WECHATPAY_API_BASE.rstrip("/")
    if base != f"http://127.0.0.1:{SANDBOX_PORT}":
        stdout.write(
            f"members: WECHATPAY_API_BASE is {base}; set it to http://127.0.0.1:{SANDBOX_PORT} "
            "to see POS charges paid through the sandbox"
        )
        return
    store = Store.objects.get(code="SH001")
    members = list(Membership.objects.select_related("customer").order_by("pk")[:3])
    for index, membership in enumerate(members):
        try:
            charge = start_pos_charge(
                store=store,
                amount_fen=[26800, 52000, 99900][index],
                member_code=member_code(membership),
            )
            request = urllib.request.Request(  # noqa: S310  loopback sandbox
                f"{base}/sandbox/pay",
                data=json.dumps(
                    {
                        "out_trade_no": charge.order.out_trade_no,
                        "version": ["v2", "v3", "v2"][index],
                    }
                ).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=20) as resp:  # noqa: S310  loopback
                resp.read()
        except Exception as exc:  # noqa: BLE001  the demo goes on without them
            stdout.write(f"members: POS charge through the sandbox failed: {exc}")
            return
    paid = Order.objects.filter(pos_charge__isnull=False, status="paid").count()
    stdout.write(f"members: {paid} POS charges paid through the WeChat Pay sandbox")


def urls():
    return [
        ("会员 Members:", "/admin/members/membership/"),
        ("订单 Orders:", "/admin/members/order/"),
        ("支付通知 Pay notices:", "/admin/members/paymentnotification/"),
        ("会员自助 Member pages:", "/m/"),
        ("短信验证码 SMS codes:", f"http://127.0.0.1:{SMS_SANDBOX_PORT}/sandbox/sms/<phone>"),
    ]
