"""Channel QR codes (issue #16 item 1): created at WeChat (the sandbox over loopback), their
images, follows and scans through the real hook with signed pushes, and the report per code."""

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from PIL import Image

from channels_wechat.actions import create_channel_code, update_channel_code
from channels_wechat.models import ChannelCode, ChannelCodeScan, OfficialAccount, WeChatUser
from crm.models import Interaction, Lead, Message, Tag
from devtools.sandboxes import wechat as sandbox
from tests.conftest import client_for
from tests.crm.factories import CustomerFactory
from tests.members.factories import MembershipFactory, OrderFactory

from .conftest import APPID, post_push, push_xml

API = "/api/v1/wechat/channel-codes/"
ADMIN = "/admin/channels_wechat/channelcode/"
REASON_TEXTS = {
    "expired": "渠道码已过期",
    "inactive": "渠道码已停用",
    "unknown": "未知场景值",
    "foreign": "该场景值属于其他公众号",
}
ACCOUNT_WELCOME = "欢迎关注花间集美妆！"
CODE_WELCOME = "欢迎来到静安店！出示此消息领取小样。"


@pytest.fixture
def mp(wechat_sandbox, settings):
    """The sandbox also plays mp.weixin.qq.com (showqrcode)."""
    settings.WECHAT_MP_BASE = wechat_sandbox.url
    return wechat_sandbox


def _admin(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _code(account, scene="store_jingan", kind="permanent", **extra) -> ChannelCode:
    values = {"name": "静安店海报", "purpose": "store", "scene": scene, "kind": kind}
    return create_channel_code(account, **{**values, **extra})


def _admin_add(client, account, **fields):
    data = {
        "account": account.pk,
        "name": "双十一活动",
        "purpose": "campaign",
        "scene": "campaign_1111",
        "kind": "temporary",
        "expire_seconds": "604800",
        "welcome_message": "",
        "active": "on",
        **fields,
    }
    return client.post(f"{ADMIN}add/", data, HTTP_ACCEPT_LANGUAGE="en")


# --- creating codes -----------------------------------------------------------------------------


def test_admin_creates_a_temporary_code_at_wechat(mp, account, marketing_user):
    tag = Tag.objects.create(name="双十一")
    client = _admin(marketing_user)
    before = timezone.now()
    response = _admin_add(client, account, tags=[tag.pk], owner=marketing_user.pk)
    assert response.status_code == 302
    assert mp.state.qrcode_requests == [
        '{"expire_seconds": 604800, "action_name": "QR_STR_SCENE", '
        '"action_info": {"scene": {"scene_str": "campaign_1111"}}}'
    ]
    code = ChannelCode.objects.get()
    issued = mp.state.qrcodes[code.ticket]
    assert (issued["appid"], issued["scene"], issued["url"]) == (APPID, "campaign_1111", code.url)
    assert (code.kind, code.expire_seconds, code.owner, list(code.tags.all())) == (
        "temporary",
        604800,
        marketing_user,
        [tag],
    )
    assert before + timedelta(seconds=604800) <= code.expires_at
    assert code.expires_at <= timezone.now() + timedelta(seconds=604800)


def test_api_creates_a_permanent_code_at_wechat(mp, account, marketing_user):
    response = client_for(marketing_user).post(
        API,
        {
            "account": account.pk,
            "name": "KOL 小红",
            "purpose": "kol",
            "scene": "kol_xiaohong",
            "kind": "permanent",
            "welcome_message": "谢谢关注",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert mp.state.qrcode_requests == [
        '{"action_name": "QR_LIMIT_STR_SCENE", '
        '"action_info": {"scene": {"scene_str": "kol_xiaohong"}}}'
    ]
    code = ChannelCode.objects.get()
    body = response.json()
    assert (body["ticket"], body["url"], body["expires_at"], body["scans"]) == (
        code.ticket,
        code.url,
        None,
        0,
    )
    assert code.ticket in mp.state.qrcodes


def test_expire_over_30_days_is_refused_before_calling_wechat(mp, account, marketing_user):
    response = _admin_add(_admin(marketing_user), account, expire_seconds="2592001")
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "expire_seconds": ["A temporary code lives at most 2592000 seconds (30 days)."]
    }
    api = client_for(marketing_user).post(
        API,
        {
            "account": account.pk,
            "name": "x",
            "purpose": "event",
            "scene": "event_1",
            "kind": "temporary",
            "expire_seconds": 2592001,
        },
        format="json",
    )
    assert api.status_code == 400
    assert api.json()["expire_seconds"] == ["临时二维码有效期最长 2592000 秒（30 天）。"]
    assert (mp.state.qrcode_requests, ChannelCode.objects.count()) == ([], 0)


def test_bad_scenes_are_refused_before_calling_wechat(mp, account, marketing_user):
    _code(account, scene="taken")
    mp.state.qrcode_requests.clear()
    client = _admin(marketing_user)
    long = _admin_add(client, account, scene="s" * 65)
    assert long.context["adminform"].form.errors == {
        "scene": ["Ensure this value has at most 64 characters (it has 65)."]
    }
    taken = _admin_add(client, account, scene="taken")
    assert taken.context["adminform"].form.errors == {
        "__all__": ["Channel QR code with this Account and Scene already exists."]
    }
    api = client_for(marketing_user).post(
        API,
        {
            "account": account.pk,
            "name": "n",
            "purpose": "store",
            "scene": "taken",
            "kind": "permanent",
        },
        format="json",
    )
    assert (api.status_code, api.json()["scene"]) == (
        400,
        ["该公众号已有使用此场景值的渠道码。"],
    )
    with pytest.raises(ValidationError) as refused:
        _code(account, scene="x" * 65)
    assert refused.value.message_dict == {"scene": ["场景值最多 64 个字符（微信的限制）。"]}
    assert (mp.state.qrcode_requests, ChannelCode.objects.count()) == ([], 1)


def test_wechat_refusal_is_surfaced_and_nothing_stored(mp, account, marketing_user):
    mp.state.failures["/cgi-bin/qrcode/create"] = [40097]
    response = _admin_add(_admin(marketing_user), account)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "scene": ["WeChat refused the code: 40097 injected failure"]
    }
    assert ChannelCode.objects.count() == 0


def test_sandbox_validates_qrcode_create_as_wechat_does(mp, account):
    from channels_wechat.client import WeChatClient
    from crm.inbox import SendError

    client = WeChatClient(account)
    with pytest.raises(SendError) as over:
        client.create_qrcode("s1", 2592001)
    with pytest.raises(SendError) as long:
        client.create_qrcode("s" * 65, None)
    with pytest.raises(SendError) as missing:
        client.call("POST", "cgi-bin/qrcode/create", {"action_name": "QR_LIMIT_STR_SCENE"})
    assert [e.value.code for e in (over, long, missing)] == ["40097", "40097", "40097"]
    assert missing.value.message == "invalid args hint: scene_str missing"
    mp.state.tokens.clear()  # the cached token stops working: 40001, then a fresh token
    assert client.create_qrcode("s2", None)["ticket"].startswith("gQ")
    assert mp.state.stats["stable_token"] == 2
    assert mp.state.stats["qrcode_create"] == 1


# --- images -------------------------------------------------------------------------------------


def test_png_and_svg_downloads(mp, account, agent_user):
    code = _code(account)
    client = _admin(agent_user)
    png = client.get(f"{ADMIN}{code.pk}/image/?format=png")
    assert (png.status_code, png["Content-Type"]) == (200, "image/png")
    assert png["Content-Disposition"] == (
        f'attachment; filename="channel-code-{code.pk}-store_jingan.png"'
    )
    image = Image.open(io.BytesIO(png.content))
    assert (image.format, image.size) == ("PNG", (1280, 1280))
    svg = client.get(f"{ADMIN}{code.pk}/image/?format=svg")
    assert (svg.status_code, svg["Content-Type"]) == (200, "image/svg+xml")
    text = svg.content.decode()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg')
    assert "<path" in text
    page = client.get(f"{ADMIN}{code.pk}/image/")
    assert page.status_code == 200


def test_png_of_an_unknown_ticket_is_a_502_with_the_reason(mp, account, agent_user):
    code = _code(account)
    ChannelCode.objects.filter(pk=code.pk).update(ticket="gQunknown")
    response = _admin(agent_user).get(f"{ADMIN}{code.pk}/image/?format=png")
    assert response.status_code == 502
    assert response.context["error"] == "http_404: HTTP 404"


# --- follows and scans through the hook ---------------------------------------------------------


def _push(client, capture, state, openid, scene, subscribe=True, create_time=None):
    body = sandbox.qr_event(state, APPID, openid, scene, subscribe=subscribe)
    body.pop("appid")
    with capture(execute=True):
        response = post_push(client, push_xml(create_time=create_time, **body))
    assert response.status_code == 200
    return body


def _reasons(customer):
    return list(
        Interaction.objects.filter(customer=customer, kind="other").values_list(
            "data__scene", "data__applied", "data__reason"
        )
    )


@pytest.fixture
def welcome_account(account):
    account.welcome_message = ACCOUNT_WELCOME
    account.save()
    return account


def test_subscribe_with_scene_applies_the_code(
    client, mp, welcome_account, django_capture_on_commit_callbacks
):
    tag = Tag.objects.create(name="静安店")
    code = _code(welcome_account, welcome_message=CODE_WELCOME, tags=[tag])
    body = _push(client, django_capture_on_commit_callbacks, mp.state, "oScan1", "store_jingan")
    assert (body["event_key"], body["ticket"]) == ("qrscene_store_jingan", code.ticket)
    user = WeChatUser.objects.get(openid="oScan1")
    assert (user.subscribed, user.qr_scene, user.channel_code) == (True, "store_jingan", code)
    assert list(user.customer.tags.values_list("name", flat=True)) == ["静安店"]
    assert [s["text"]["content"] for s in mp.state.sent] == [CODE_WELCOME]
    welcome = Message.objects.get(direction="out")
    assert (welcome.sender_kind, welcome.delivery_status) == ("welcome", "sent")
    assert _reasons(user.customer) == [("store_jingan", True, "")]
    timeline = Interaction.objects.get(customer=user.customer, kind="other")
    assert timeline.summary == "通过渠道码「静安店海报」关注或扫码"
    scan = ChannelCodeScan.objects.get()
    assert (scan.code, scan.user, scan.event, scan.new_follower, scan.applied) == (
        code,
        user,
        "subscribe",
        True,
        True,
    )


def test_scan_by_a_follower_applies_the_code_and_keeps_first_touch(
    client, mp, welcome_account, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    first = _code(welcome_account, scene="kol_a", purpose="kol")
    second = _code(
        welcome_account, scene="event_b", purpose="event", welcome_message="活动签到成功"
    )
    second.tags.set([Tag.objects.create(name="线下活动")])
    _push(client, capture, mp.state, "oScan2", "kol_a", create_time=1790000000)
    _push(client, capture, mp.state, "oScan2", "event_b", subscribe=False)
    user = WeChatUser.objects.get(openid="oScan2")
    assert (user.channel_code, user.channel_code_at.timestamp()) == (first, 1790000000)
    assert list(user.customer.tags.values_list("name", flat=True)) == ["线下活动"]
    assert [s["text"]["content"] for s in mp.state.sent] == [ACCOUNT_WELCOME, "活动签到成功"]
    assert list(
        ChannelCodeScan.objects.order_by("pk").values_list("code", "event", "new_follower")
    ) == [
        (first.pk, "subscribe", True),
        (second.pk, "scan", False),
    ]


# A weibo_handoff code's scene is the handoff flow's: tests/channels_wechat/test_handoff.py.
@pytest.mark.parametrize("case", ["expired", "inactive", "unknown", "foreign"])
def test_bad_scenes_record_the_follow_and_apply_nothing(
    client, mp, welcome_account, django_capture_on_commit_callbacks, case
):
    other = OfficialAccount.objects.create(
        appid="wxother0000000001", name="别的号", app_secret="s", token="tok", mode="plaintext"
    )
    code = ChannelCode.objects.create(
        account=other if case == "foreign" else welcome_account,
        name="问题码",
        purpose="store",
        scene="scene_x",
        kind="temporary",
        expire_seconds=60,
        welcome_message=CODE_WELCOME,
        active=case != "inactive",
        ticket="gQx",
        expires_at=timezone.now() + timedelta(days=-1 if case == "expired" else 1),
    )
    code.tags.set([Tag.objects.create(name="不该加")])
    if case == "unknown":
        code.delete()
    _push(client, django_capture_on_commit_callbacks, mp.state, "oBad", "scene_x")
    user = WeChatUser.objects.get(openid="oBad")
    customer = user.customer
    assert (user.subscribed, user.qr_scene, user.channel_code) == (True, "scene_x", None)
    assert list(customer.interactions.values_list("kind", flat=True).order_by("kind")) == [
        "other",
        "subscribe",
    ]
    assert _reasons(customer) == [("scene_x", False, case)]
    summary = customer.interactions.get(kind="other").summary
    assert summary == f"渠道码场景值 scene_x 未生效：{REASON_TEXTS[case]}"
    assert customer.tags.count() == 0
    assert [s["text"]["content"] for s in mp.state.sent] == [ACCOUNT_WELCOME]
    scans = list(ChannelCodeScan.objects.values_list("applied", flat=True))
    assert scans == ([] if case in ("unknown", "foreign") else [False])


def test_a_redelivered_scene_push_applies_once(
    client, mp, welcome_account, django_capture_on_commit_callbacks
):
    _code(welcome_account, welcome_message=CODE_WELCOME)
    body = sandbox.qr_event(mp.state, APPID, "oTwice", "store_jingan")
    body.pop("appid")
    xml = push_xml(create_time=1790000000, **body)
    with django_capture_on_commit_callbacks(execute=True):
        post_push(client, xml)
        post_push(client, xml)
    assert (ChannelCodeScan.objects.count(), len(mp.state.sent)) == (1, 1)


# --- report -------------------------------------------------------------------------------------


def _attributed(code, at, *, unsubscribed_after=None):
    customer = CustomerFactory()
    user = WeChatUser.objects.create(
        account=code.account,
        openid=f"o{customer.pk}",
        customer=customer,
        subscribed=unsubscribed_after is None,
        subscribe_time=at,
        unsubscribe_time=at + unsubscribed_after if unsubscribed_after else None,
        channel_code=code,
        channel_code_at=at,
    )
    ChannelCodeScan.objects.create(
        code=code, user=user, event="subscribe", new_follower=True, at=at
    )
    return customer


def _report_data(account):
    now = timezone.now()
    a = ChannelCode.objects.create(
        account=account, name="A", purpose="store", scene="a", kind="permanent"
    )
    b = ChannelCode.objects.create(
        account=account, name="B", purpose="kol", scene="b", kind="permanent"
    )
    start = now - timedelta(days=20)
    c1 = _attributed(a, start)
    c2 = _attributed(a, start, unsubscribed_after=timedelta(days=3))
    _attributed(a, start, unsubscribed_after=timedelta(days=8))  # not within 7 days
    c4 = _attributed(b, start)
    # A scan by an existing follower: counted as a scan, not as a new follower.
    ChannelCodeScan.objects.create(
        code=a, user=WeChatUser.objects.get(customer=c4), event="scan", at=now
    )
    Lead.objects.create(customer=c1, title="询价", created_at=start + timedelta(days=1))
    Lead.objects.create(customer=c1, title="再询价", created_at=start + timedelta(days=2))
    Lead.objects.create(customer=c2, title="早于扫码", created_at=start - timedelta(days=1))
    MembershipFactory(customer=c1, joined_at=start + timedelta(hours=1))
    MembershipFactory(customer=c4, joined_at=start - timedelta(days=1))  # before: not counted
    OrderFactory(customer=c1, amount_fen=9900, paid_at=start + timedelta(days=2))
    OrderFactory(
        customer=c1,
        amount_fen=5000,
        refunded_fen=2000,
        status="partially_refunded",
        paid_at=start + timedelta(days=3),
    )
    OrderFactory(customer=c2, amount_fen=7000, paid_at=start - timedelta(days=1))  # before
    OrderFactory(customer=c2, amount_fen=3000, status="created", paid_at=None)  # unpaid
    OrderFactory(customer=c4, amount_fen=12000, paid_at=start + timedelta(days=5))
    return a, b


def test_report_figures_are_exact(account, marketing_user):
    a, b = _report_data(account)
    rows = {r["name"]: r for r in client_for(marketing_user).get(API).json()["results"]}
    figures = (
        "scans",
        "new_followers",
        "unsubscribed_7d",
        "leads",
        "members",
        "orders",
        "revenue_fen",
    )
    assert {name: [rows[name][f] for f in figures] for name in rows} == {
        "A": [4, 3, 1, 1, 1, 2, 12900],
        "B": [1, 1, 0, 0, 0, 1, 12000],
    }
    page = _admin(marketing_user).get(ADMIN)
    assert page.status_code == 200
    assert "129.00" in page.content.decode()


def test_report_query_count_does_not_grow_with_codes(account, marketing_user, get_counting_queries):
    client = client_for(marketing_user)
    _report_data(account)
    few, _response = get_counting_queries(client, API)
    for n in range(5):
        code = ChannelCode.objects.create(
            account=account, name=f"C{n}", purpose="event", scene=f"c{n}", kind="permanent"
        )
        code.tags.set([Tag.objects.get_or_create(name=f"t{n}")[0]])
        _attributed(code, timezone.now() - timedelta(days=1))
    many, response = get_counting_queries(client, API)
    assert len(response.json()["results"]) == 7
    assert many == few
    admin = _admin(marketing_user)
    admin_few, _r = get_counting_queries(admin, ADMIN)
    ChannelCode.objects.create(
        account=account, name="D", purpose="event", scene="d", kind="permanent"
    )
    admin_many, _r = get_counting_queries(admin, ADMIN)
    assert admin_many == admin_few


# --- roles --------------------------------------------------------------------------------------


def test_roles(mp, account, role_clients):
    code = _code(account)
    new = {
        "account": account.pk,
        "name": "n",
        "purpose": "store",
        "scene": "s9",
        "kind": "permanent",
    }
    statuses = {
        role: (
            client.get(f"{API}{code.pk}/").status_code,
            client.post(API, new, format="json").status_code,
        )
        for role, client in role_clients.items()
    }
    assert statuses["marketing"] == (200, 201)
    assert statuses["agent"] == (200, 403)
    assert statuses["manager"] == (200, 403)
    assert statuses["anonymous"] == (401, 401)
    assert ChannelCode.objects.count() == 2


def test_admin_change_goes_through_the_action_and_keeps_wechat_fields(mp, account, marketing_user):
    code = _code(account)
    tag = Tag.objects.create(name="新标签")
    client = _admin(marketing_user)
    response = client.post(
        f"{ADMIN}{code.pk}/change/",
        {
            "name": "静安店海报（新）",
            "purpose": "store",
            "welcome_message": "新欢迎语",
            "tags": [tag.pk],
            "active": "",
            "scene": "changed",  # read-only on the change form: ignored
        },
    )
    assert response.status_code == 302
    code.refresh_from_db()
    assert (code.name, code.welcome_message, code.active, code.scene) == (
        "静安店海报（新）",
        "新欢迎语",
        False,
        "store_jingan",
    )
    assert list(code.tags.all()) == [tag]
    with pytest.raises(ValidationError) as refused:
        update_channel_code(code, {"scene": "other", "name": "x"})
    assert refused.value.message_dict == {"scene": ["二维码创建后此字段不能修改。"]}
    code.refresh_from_db()
    assert (code.scene, code.name) == ("store_jingan", "静安店海报（新）")


HANDLED = []


def fake_handoff(code, user, message, *, event, at):
    HANDLED.append((code.scene, user.openid, message.msg_type, event))
    return "" if user.openid == "oLinked" else "no handoff issued to this person"


def test_a_registered_purpose_handler_takes_over_the_scan(
    client, mp, welcome_account, django_capture_on_commit_callbacks, monkeypatch
):
    from channels_wechat import codes

    # The registry the Weibo handoff plugs into (apps.py), tried here with another purpose.
    assert codes._PURPOSE_HANDLERS["weibo_handoff"] == (
        "channels_wechat.handoff_claim.claim_through_code"
    )
    monkeypatch.setitem(
        codes._PURPOSE_HANDLERS,
        "event",
        "tests.channels_wechat.test_channel_codes.fake_handoff",
    )
    HANDLED.clear()
    code = _code(welcome_account, scene="handoff_1", purpose="event", welcome_message="x")
    code.tags.set([Tag.objects.create(name="不该加")])
    capture = django_capture_on_commit_callbacks
    _push(client, capture, mp.state, "oLinked", "handoff_1")
    _push(client, capture, mp.state, "oOther", "handoff_1")
    assert HANDLED == [
        ("handoff_1", "oLinked", "event", "subscribe"),
        ("handoff_1", "oOther", "event", "subscribe"),
    ]
    linked = WeChatUser.objects.get(openid="oLinked")
    other = WeChatUser.objects.get(openid="oOther")
    # The handler owns the timeline entry: the codes' own entry is not written.
    assert (_reasons(linked.customer), _reasons(other.customer)) == ([], [])
    assert (linked.channel_code, linked.customer.tags.count()) == (None, 0)
    assert [s["text"]["content"] for s in mp.state.sent] == [ACCOUNT_WELCOME, ACCOUNT_WELCOME]
    assert list(ChannelCodeScan.objects.order_by("pk").values_list("applied", flat=True)) == [
        True,
        False,
    ]
