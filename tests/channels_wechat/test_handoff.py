"""Weibo → WeChat handoffs (issue #16 item 2): the link sent on Weibo (private message inside the
48-hour window, else a public comment reply, against the Weibo sandbox), the /h/<token> page
with its one-off QR code (made at the WeChat sandbox), and the follow through it pushed signed
to the real hook: linked and merged, or refused with the reason on the timeline."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from channels_wechat.models import ChannelCode, ChannelCodeScan, WeChatUser
from channels_weibo.models import WeiboUser
from channels_weibo.polling import poll_account
from crm.handoff import send_handoff
from crm.models import Conversation, Customer, Handoff, Interaction, Lead, MergeRecord
from devtools.sandboxes import wechat as wechat_sandbox_module

from .conftest import APPID, post_push, push_xml
from .handoff_helpers import LINK, fan_writes

REFUSED = {
    "expired": "微博引流场景值 {scene} 未关联：引流链接已过期",
    "used": "微博引流场景值 {scene} 未关联：该引流链接已被其他微信用户使用",
}


def _fan_writes(client, captured, sender, text="想了解一下精华液", at=None):
    fan_writes(client, captured, sender, text, at)


def _weibo_lead(world, brand):
    """A fan's mention polled from the sandbox, and a lead on that fan's customer from it."""
    fan = world.fans[0]
    world._status(fan, "求链接！这个精华液哪里买 @花漾美妆", datetime.now(UTC))
    poll_account(brand)
    user = WeiboUser.objects.get(uid=fan["idstr"])
    post = user.posts.first() if hasattr(user, "posts") else None
    lead = Lead.objects.create(
        customer=user.customer, title="求链接", source_channel="weibo", source=post
    )
    return user, lead


def _token(text: str) -> str:
    return LINK.search(text).group(1)


def _follow(client, captured, state, openid, scene, subscribe=True):
    body = wechat_sandbox_module.qr_event(state, APPID, openid, scene, subscribe=subscribe)
    body.pop("appid")
    with captured(execute=True):
        response = post_push(client, push_xml(msg_id=str(time.time_ns()), **body))
    assert response.status_code == 200


def _open_page(client, token):
    response = client.get(f"/h/{token}")
    assert response.status_code == 200
    return Handoff.objects.get()


def test_lead_inside_the_window_gets_a_private_message_and_the_follow_links_it(
    client, weibo, brand, mp, agent_user, django_capture_on_commit_callbacks
):
    captured = django_capture_on_commit_callbacks
    user, lead = _weibo_lead(weibo, brand)
    _fan_writes(client, captured, user.uid)
    assert send_handoff(lead=lead, agent=agent_user) == "message"
    [sent] = weibo.sent
    assert (sent["receiver_id"], sent["text"][:21]) == (
        user.uid,
        "关注我们的微信公众号，获取一对一专属服务：",
    )
    token = _token(sent["text"])
    handoff = Handoff.objects.get()
    assert (
        handoff.customer,
        handoff.weibo_uid,
        handoff.purpose,
        handoff.lead,
        handoff.sent_by,
    ) == (user.customer, user.uid, "lead", lead, "message")
    assert token not in handoff.token_hash and len(token) == 32

    page = client.get(f"/h/{token}")
    assert page.status_code == 200
    code = ChannelCode.objects.get()
    handoff.refresh_from_db()
    assert (code.purpose, code.scene, code.kind) == ("weibo_handoff", handoff.scene, "temporary")
    assert 86300 < code.expire_seconds <= 86400
    assert f'src="{mp.url}/cgi-bin/showqrcode?ticket={code.ticket}"' in page.content.decode()
    assert client.get(f"/h/{token}").status_code == 200 and ChannelCode.objects.count() == 1

    _follow(client, captured, mp.state, "oHandoff1", handoff.scene)
    follower = WeChatUser.objects.get(openid="oHandoff1")
    assert follower.customer == user.customer  # the Weibo customer survives
    merge = MergeRecord.objects.get()
    assert (merge.target, merge.reason) == (user.customer, "handoff")
    assert Customer.objects.get(pk=merge.source_id).merged_into == user.customer
    handoff.refresh_from_db()
    assert (handoff.used_openid, handoff.used_at is not None, handoff.used_via) == (
        "oHandoff1",
        True,
        "qr",
    )
    lead.refresh_from_db()
    assert lead.status == "qualified"
    entry = Interaction.objects.get(customer=user.customer, kind="other", data__handoff=handoff.pk)
    assert entry.summary == f"微信粉丝已通过 {user.uid} 的微博引流关联"
    assert (entry.data["applied"], entry.data["reason"]) == (True, "")
    assert list(ChannelCodeScan.objects.values_list("applied", flat=True)) == [True]
    assert client.get(f"/h/{token}").status_code == 410  # used: the link shows no code again
    # The follow moved onto the Weibo customer (first touch Weibo): the funnel counts the step.
    from dashboards.kpis.funnel import funnel

    today = timezone.localdate()
    figures = funnel(today - timedelta(days=30), today)
    assert figures["weibo_to_wechat"] == 1
    assert (
        figures["weibo_sourced"] == Customer.objects.active().filter(first_channel="weibo").count()
    )


def test_complaint_case_outside_the_window_gets_a_public_comment_reply(
    client, weibo, brand, mp, agent_user
):
    fan = weibo.fans[1]
    # Mentioned 49 hours ago: the one reply a mention allows is no longer possible.
    at = datetime.now(UTC) - timedelta(hours=49)
    status = weibo._status(fan, "快递一个星期还没到，太差了 @花漾美妆", at)
    poll_account(brand)
    case = Conversation.objects.get(kind="complaint", external_user=fan["idstr"])
    assert send_handoff(conversation=case, agent=agent_user) == "comment"
    assert weibo.sent == []  # the window is closed: no private message
    [comment] = [c for c in weibo.comments.values() if c["status"] is status]
    assert comment["text"].startswith(
        "关注我们的微信公众号，获取一对一专属服务：http://testserver/h/"
    )
    handoff = Handoff.objects.get()
    assert (handoff.purpose, handoff.weibo_uid, handoff.sent_by) == (
        "complaint",
        fan["idstr"],
        "comment",
    )
    assert client.get(f"/h/{_token(comment['text'])}").status_code == 200


def test_no_window_and_no_post_is_refused(client, weibo, brand, agent_user):
    user = WeiboUser.objects.create(uid="1234567890", screen_name="路人")
    customer = Customer.objects.create(name="路人")
    WeiboUser.objects.filter(pk=user.pk).update(customer=customer)
    lead = Lead.objects.create(customer=customer, title="手动线索", source_channel="weibo")
    with pytest.raises(ValidationError) as error:
        send_handoff(lead=lead, agent=agent_user)
    assert error.value.message_dict == {
        "handoff": ["48 小时会话窗口已关闭，且没有可公开回复的微博。"]
    }
    assert weibo.sent == [] and Handoff.objects.get().sent_by == ""


def test_forwarded_link_second_follower_gets_nothing(
    client, weibo, brand, mp, agent_user, django_capture_on_commit_callbacks
):
    captured = django_capture_on_commit_callbacks
    user, lead = _weibo_lead(weibo, brand)
    _fan_writes(client, captured, user.uid)
    send_handoff(lead=lead, agent=agent_user)
    handoff = _open_page(client, _token(weibo.sent[0]["text"]))
    _follow(client, captured, mp.state, "oFirst", handoff.scene)
    _follow(client, captured, mp.state, "oSecond", handoff.scene)
    second = WeChatUser.objects.get(openid="oSecond")
    assert second.customer != user.customer and second.customer.merged_into is None
    assert MergeRecord.objects.count() == 1
    entry = Interaction.objects.get(customer=second.customer, kind="other")
    assert entry.summary == REFUSED["used"].format(scene=handoff.scene)
    assert (entry.data["applied"], entry.data["reason"]) == (False, "used")
    # The first follower scanning again stays linked and nothing new is merged.
    _follow(client, captured, mp.state, "oFirst", handoff.scene, subscribe=False)
    assert WeChatUser.objects.get(openid="oFirst").customer == user.customer
    assert MergeRecord.objects.count() == 1


def test_expired_handoff_records_the_follow_and_links_nothing(
    client, weibo, brand, mp, agent_user, django_capture_on_commit_callbacks
):
    captured = django_capture_on_commit_callbacks
    user, lead = _weibo_lead(weibo, brand)
    _fan_writes(client, captured, user.uid)
    send_handoff(lead=lead, agent=agent_user)
    token = _token(weibo.sent[0]["text"])
    handoff = _open_page(client, token)
    Handoff.objects.filter(pk=handoff.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    _follow(client, captured, mp.state, "oLate", handoff.scene)
    late = WeChatUser.objects.get(openid="oLate")
    assert (late.subscribed, late.customer == user.customer) == (True, False)
    assert MergeRecord.objects.count() == 0
    entry = Interaction.objects.get(customer=late.customer, kind="other")
    assert entry.summary == REFUSED["expired"].format(scene=handoff.scene)
    assert (entry.data["applied"], entry.data["reason"]) == (False, "expired")
    lead.refresh_from_db()
    assert lead.status == "new"
    assert Handoff.objects.get().used_at is None
    page = client.get(f"/h/{token}")
    assert page.status_code == 410 and "链接已过期" in page.content.decode()


def test_unknown_token_is_404_and_makes_no_code(client, mp):
    assert client.get("/h/not-a-real-token").status_code == 404
    assert ChannelCode.objects.count() == 0


def test_lead_admin_action_sends_the_link(
    client, weibo, brand, mp, agent_user, django_capture_on_commit_callbacks
):
    user, lead = _weibo_lead(weibo, brand)
    _fan_writes(client, django_capture_on_commit_callbacks, user.uid)
    client.force_login(agent_user)
    response = client.post(
        "/admin/crm/lead/",
        {"action": "send_wechat_handoff", "_selected_action": [lead.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["求链接: 已通过私信发送"]
    assert [s["receiver_id"] for s in weibo.sent] == [user.uid]
    assert Handoff.objects.get().sent_by == "message"


def test_lead_admin_action_reports_a_refusal_and_sends_nothing(client, weibo, brand, agent_user):
    customer = Customer.objects.create(name="无微博")
    lead = Lead.objects.create(customer=customer, title="电话线索", source_channel="weibo")
    client.force_login(agent_user)
    response = client.post(
        "/admin/crm/lead/",
        {"action": "send_wechat_handoff", "_selected_action": [lead.pk]},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == ["电话线索: 该客户没有微博身份。"]
    assert (weibo.sent, Handoff.objects.count()) == ([], 0)


def test_case_page_button_sends_the_link_as_a_public_reply(client, weibo, brand, mp, agent_user):
    fan = weibo.fans[2]
    status = weibo._status(
        fan, "面膜过敏了，太差了 @花漾美妆", datetime.now(UTC) - timedelta(hours=49)
    )
    poll_account(brand)
    case = Conversation.objects.get(kind="complaint", external_user=fan["idstr"])
    assert client.post(f"/weibo/cases/{case.pk}/handoff/").status_code == 302  # anonymous
    assert Handoff.objects.count() == 0
    client.force_login(agent_user)
    page = client.get(f"/weibo/cases/{case.pk}/reply/")
    assert 'id="case-handoff"' in page.content.decode()
    response = client.post(f"/weibo/cases/{case.pk}/handoff/")
    assert (response.status_code, response["Location"]) == (302, f"/weibo/cases/{case.pk}/reply/")
    [comment] = [c for c in weibo.comments.values() if c["status"] is status]
    assert LINK.search(comment["text"]) is not None
    assert Handoff.objects.get().sent_by == "comment"


def test_scene_pushed_through_another_account_links_nothing(
    client, weibo, brand, mp, agent_user, django_capture_on_commit_callbacks
):
    from channels_wechat.models import OfficialAccount

    from .conftest import AES_KEY
    from .conftest import TOKEN as WX_TOKEN

    captured = django_capture_on_commit_callbacks
    user, lead = _weibo_lead(weibo, brand)
    _fan_writes(client, captured, user.uid)
    send_handoff(lead=lead, agent=agent_user)
    handoff = _open_page(client, _token(weibo.sent[0]["text"]))
    other = OfficialAccount.objects.create(
        appid="wxbbbbbbbbbbbbbbbb",
        original_id="gh_10f6c3c3ac5a",
        name="另一个公众号",
        app_secret="x" * 32,
        token=WX_TOKEN,
        encoding_aes_key=AES_KEY,
        mode="safe",
    )
    xml = push_xml(
        openid="oOther",
        msg_type="event",
        event="subscribe",
        event_key=f"qrscene_{handoff.scene}",
        ticket="",
    )
    with captured(execute=True):
        assert post_push(client, xml, appid=other.appid).status_code == 200
    follower = WeChatUser.objects.get(openid="oOther")
    assert (follower.account, follower.subscribed) == (other, True)
    assert follower.customer != user.customer and MergeRecord.objects.count() == 0
    entry = Interaction.objects.get(customer=follower.customer, kind="other")
    assert (entry.data["applied"], entry.data["reason"]) == (False, "foreign")
    assert entry.summary == f"渠道码场景值 {handoff.scene} 未生效：该场景值属于其他公众号"
    assert Handoff.objects.get().used_at is None


# --- opened inside WeChat: OAuth (snsapi_base) against the sandbox ----------------------------

WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 MicroMessenger/8.0.50 NetType/WIFI"


@pytest.fixture
def oauth_box(settings, account):
    import socket

    from devtools.sandboxes import wechatpay

    from .conftest import SECRET

    merchant = {
        "mchid": "1900000109",
        "appid": APPID,
        "app_secret": SECRET,
        "api_key": "k" * 32,
        "apiv3_key": "v" * 32,
        "sign_type": "MD5",
    }
    box = wechatpay.Sandbox([merchant], wechatpay.new_platform_key())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = wechatpay.serve(box, port)
    settings.WECHAT_OAUTH_BASE = settings.WECHAT_OAUTH_API_BASE = f"http://127.0.0.1:{port}"
    yield box
    server.shutdown()
    server.server_close()


def _oauth(client, token, as_user: int):
    """Open the link in WeChat's browser → the sandbox's authorize → back to /h/<token>/oauth."""
    import urllib.error
    import urllib.parse
    import urllib.request

    start = client.get(f"/h/{token}", HTTP_USER_AGENT=WECHAT_UA)
    assert start.status_code == 302
    authorize = start["Location"]
    assert authorize.split("?")[0].endswith("/connect/oauth2/authorize")
    assert "scope=snsapi_base" in authorize and f"appid={APPID}" in authorize

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    url = authorize.replace("#wechat_redirect", "") + f"&as={as_user}"
    with pytest.raises(urllib.error.HTTPError) as redirect:
        urllib.request.build_opener(NoRedirect).open(url, timeout=5)
    back = urllib.parse.urlsplit(redirect.value.headers["Location"])
    assert back.path == f"/h/{token}/oauth"
    return client.get(f"{back.path}?{back.query}", HTTP_USER_AGENT=WECHAT_UA)


def test_opened_inside_wechat_signs_in_with_oauth_and_links(
    client, weibo, brand, wechat_sandbox, oauth_box, agent_user, django_capture_on_commit_callbacks
):
    from devtools.sandboxes.wechatpay import sandbox_openid

    user, lead = _weibo_lead(weibo, brand)
    _fan_writes(client, django_capture_on_commit_callbacks, user.uid)
    send_handoff(lead=lead, agent=agent_user)
    token = _token(weibo.sent[0]["text"])
    done = _oauth(client, token, 3)
    assert done.status_code == 200 and 'id="handoff-linked"' in done.content.decode()
    assert ChannelCode.objects.count() == 0  # no QR code was needed
    wx = WeChatUser.objects.get(openid=sandbox_openid(3))
    assert (wx.customer, wx.subscribed, wx.unionid) == (user.customer, False, "demo-union-3")
    assert MergeRecord.objects.get().reason == "handoff"
    handoff = Handoff.objects.get()
    assert (handoff.used_openid, handoff.appid, handoff.used_via) == (
        sandbox_openid(3),
        APPID,
        "oauth",
    )
    entry = Interaction.objects.get(customer=user.customer, kind="other", data__handoff=handoff.pk)
    assert (entry.data["via"], entry.data["reason"]) == ("oauth", "")
    lead.refresh_from_db()
    assert lead.status == "qualified"
    # Forwarded and opened by another WeChat user: the link is spent, nothing is linked.
    second = client.get(f"/h/{token}", HTTP_USER_AGENT=WECHAT_UA)
    assert second.status_code == 410
    assert MergeRecord.objects.count() == 1


def test_oauth_callback_with_a_wrong_state_links_nothing(
    client, weibo, brand, wechat_sandbox, oauth_box, agent_user, django_capture_on_commit_callbacks
):
    user, lead = _weibo_lead(weibo, brand)
    _fan_writes(client, django_capture_on_commit_callbacks, user.uid)
    send_handoff(lead=lead, agent=agent_user)
    token = _token(weibo.sent[0]["text"])
    client.get(f"/h/{token}", HTTP_USER_AGENT=WECHAT_UA)
    response = client.get(f"/h/{token}/oauth?code=abc&state=forged")
    assert response.status_code == 400
    assert (WeChatUser.objects.count(), MergeRecord.objects.count()) == (0, 0)
    assert Handoff.objects.get().used_at is None


def test_handoff_code_without_a_handoff_links_nothing(
    client, mp, account, django_capture_on_commit_callbacks
):
    """A weibo_handoff channel code made by hand (no handoff issued with its scene)."""
    code = ChannelCode.objects.create(
        account=account,
        name="手工引流码",
        purpose="weibo_handoff",
        scene="ho_manual",
        kind="temporary",
        expire_seconds=600,
        ticket="gQx",
        expires_at=timezone.now() + timedelta(minutes=10),
    )
    _follow(client, django_capture_on_commit_callbacks, mp.state, "oStray", code.scene)
    stray = WeChatUser.objects.get(openid="oStray")
    assert (stray.subscribed, stray.channel_code) == (True, None)
    entry = Interaction.objects.get(customer=stray.customer, kind="other")
    assert entry.summary == "微博引流场景值 ho_manual 未关联：没有以该场景值发放的引流链接"
    assert (entry.data["applied"], entry.data["reason"]) == (False, "unknown")
    assert list(ChannelCodeScan.objects.values_list("applied", flat=True)) == [False]
    assert MergeRecord.objects.count() == 0


def test_inside_wechat_without_an_account_shows_the_refusal_not_an_error(
    client, weibo, brand, agent_user, django_capture_on_commit_callbacks
):
    user, lead = _weibo_lead(weibo, brand)
    _fan_writes(client, django_capture_on_commit_callbacks, user.uid)
    send_handoff(lead=lead, agent=agent_user)
    response = client.get(f"/h/{_token(weibo.sent[0]['text'])}", HTTP_USER_AGENT=WECHAT_UA)
    assert response.status_code == 503
    assert "二维码暂时无法显示，请稍后再试。" in response.content.decode()
    assert Handoff.objects.get().scene == ""
