"""Demo: template messages. The demo account's templates are added from WeChat's library (the
sandbox), the order-paid, coupon and expiring-coupon notices are bound to them, and two members
whose 48-hour window is long closed get a coupon, and the first of them buys at a store: each
notice goes out as a template message (shown at the sandbox's /sandbox/templates/sent and in
the admin's template sends).

Needs the WeChat sandbox at WECHAT_API_BASE (make demo sets it); safe to run again.
"""

import urllib.error
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from channels_wechat.models import OfficialAccount, TemplateBinding, WeChatUser
from channels_wechat.templates import add_library_template, save_binding
from devtools.demo.wechat import SANDBOX_URL, _sandbox
from devtools.sandboxes.wechat import DEMO_ACCOUNTS

BINDINGS = [
    (
        "order_paid",
        "TM00015",
        {
            "character_string1": "order_no",
            "amount2": "order_amount",
            "time3": "order_paid_at",
            "thing4": "text:花间集美妆",
        },
        "{orders_url}",
    ),
    (
        "coupon_issued",
        "TM00178",
        {"thing1": "coupon_name", "date2": "coupon_expires_at"},
        "{coupons_url}",
    ),
    (
        "coupon_expiring",
        "TM00503",
        {"thing1": "coupon_name", "date2": "coupon_expires_at", "number3": "days_left"},
        "{coupons_url}",
    ),
]


def services() -> list[list[str]]:
    return []  # the WeChat sandbox is started by devtools.demo.wechat


def load(stdout) -> None:
    account = OfficialAccount.objects.filter(appid=DEMO_ACCOUNTS[0]["appid"]).first()
    if account is None or settings.WECHAT_API_BASE.rstrip("/") != SANDBOX_URL:
        stdout.write("channels_wechat templates: no demo account or no sandbox; skipped")
        return
    if TemplateBinding.objects.filter(account=account).exists():
        stdout.write("channels_wechat templates: demo templates already loaded")
        return
    try:
        for notice, short_id, mapping, url in BINDINGS:
            template = add_library_template(account, short_id)
            save_binding(account, notice, template, mapping, url=url, active=True)
    except (ValidationError, urllib.error.URLError, OSError) as exc:
        stdout.write(f"channels_wechat templates: the sandbox refused the templates ({exc})")
        return
    sent, orders = notify_silent_members(account, count=2)
    stdout.write(
        f"channels_wechat templates: {len(BINDINGS)} templates bound; {sent} coupon notices "
        f"and {orders} order notice sent as template messages outside the 48-hour window"
    )


def notify_silent_members(account: OfficialAccount, count: int) -> tuple[int, int]:
    """Give `count` members silent for over 48 hours a coupon, and the first of them a purchase
    at the first store (its order-paid notice), telling them by template. Returns the coupon
    notices and the order notices sent."""
    from members.actions import issue_coupon, record_cash_sale
    from members.models import CouponTemplate, Store

    coupons = list(CouponTemplate.objects.filter(active=True).order_by("pk"))
    silent = (
        WeChatUser.objects.filter(
            account=account,
            subscribed=True,
            customer__membership__isnull=False,
            last_message_at__lt=timezone.now() - timedelta(hours=48),
        )
        .select_related("customer")
        .order_by("pk")
    )
    done = 0
    buyer = None
    for user in silent:
        if done == count:
            break
        if user.customer is None:  # excluded by the query; for the type checker
            continue
        _sandbox("/sandbox/users", {"appid": account.appid, "openid": user.openid})
        for coupon in coupons:  # the first this member may still receive (limits per customer)
            try:
                issue_coupon(
                    coupon, user.customer, via="wechat", campaign="模板消息演示", notify=True
                )
            except ValidationError:
                continue
            done += 1
            buyer = buyer or user.customer
            break
    store = Store.objects.filter(active=True).order_by("pk").first()
    if buyer is None or store is None:
        return done, 0
    record_cash_sale(amount_fen=16800, store=store, customer=buyer)
    return done, 1


def after_start(stdout) -> None:
    pass


def urls() -> list[tuple[str, str]]:
    return [
        ("模板消息 Template sends:", "/admin/channels_wechat/templatesend/"),
        ("通知模板 Notice templates:", "/admin/channels_wechat/templatebinding/"),
    ]
