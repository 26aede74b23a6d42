"""Weibo → WeChat handoffs from a KOL campaign (issue #16 item 2): the campaign's engaged users
page in the admin sends the link to people who reposted or commented on its KOL posts, against
the Weibo sandbox (a private message or a public comment reply) and the WeChat sandbox (the QR
code and the follow pushed signed to the real hook); the follow and the order after it are
credited to the campaign and the KOL in the attribution KPIs, first and last touch."""

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from channels_wechat.models import WeChatUser
from channels_weibo.campaigns import campaign_stats
from channels_weibo.models import (
    Campaign,
    CampaignHandoff,
    CampaignKol,
    WeiboComment,
    WeiboPost,
    WeiboUser,
)
from channels_weibo.polling import poll_account
from crm.models import Handoff, Lead
from dashboards.kpis import attribution_portable as portable
from dashboards.kpis.attribution import WINDOW, campaign_attribution, event_touches
from tests.dashboards.attribution_data import order as pay

from .handoff_helpers import LINK, LINK_START, fan_writes, follow, links, new_fan

CHECKBOX = re.compile(r'name="engagement" value="([a-z]+:\d+)"')


def _campaign(world, brand):
    """A campaign brand post (5 days ago) reposted by KOLs 阿飞 and Lily; fan A reposts 阿飞's
    repost, fan B comments on it (naming the brand), fan C reposts Lily's; fan D reposts the
    brand post directly and 阿飞 comments under his own repost (neither is an engagement through
    a KOL). Polled; the campaign ran from 6 to 3 days ago, so a lead opened today is outside
    its dates."""
    at = datetime.now(UTC) - timedelta(days=5)
    kol1, kol3 = world.kols[1], world.kols[3]
    fan_a, fan_b, fan_c, fan_d = (new_fan(world, n) for n in range(1, 5))
    root = world._status(world.brand, "【新品种草】花漾水光精华液，转发抽奖", at)
    by_kol1 = world._status(kol1, "真心推荐！", at + timedelta(minutes=30), root)
    world._status(kol3, "好物分享", at + timedelta(minutes=40), root)
    world._status(fan_d, "支持一下", at + timedelta(hours=1), root)
    repost_a = world._status(
        fan_a, f"求链接//@{kol1['screen_name']}:真心推荐！", at + timedelta(hours=2), root
    )
    comment_b = world._comment(fan_b, by_kol1, "@花漾美妆 想买，怎么买？", at + timedelta(hours=3))
    repost_c = world._status(
        fan_c, f"种草了//@{kol3['screen_name']}:好物分享", at + timedelta(hours=4), root
    )
    world._comment(kol1, by_kol1, "@花漾美妆 谢谢大家支持", at + timedelta(hours=5))
    assert poll_account(brand)["status"] == "ok"
    today = timezone.localdate()
    campaign = Campaign.objects.create(
        name="新品种草",
        account=brand,
        start=today - timedelta(days=6),
        end=today - timedelta(days=3),
    )
    campaign.posts.add(WeiboPost.objects.get(idstr=root["idstr"]))
    users = {u.uid: u for u in WeiboUser.objects.all()}
    CampaignKol.objects.create(campaign=campaign, kol=users[kol1["idstr"]], fee_fen=100000)
    CampaignKol.objects.create(campaign=campaign, kol=users[kol3["idstr"]], fee_fen=0)
    return SimpleNamespace(
        campaign=campaign,
        kol1=users[kol1["idstr"]],
        kol3=users[kol3["idstr"]],
        fan_a=users[fan_a["idstr"]],
        fan_b=users[fan_b["idstr"]],
        fan_c=users[fan_c["idstr"]],
        repost_a=WeiboPost.objects.get(idstr=repost_a["idstr"]),
        comment_b=WeiboComment.objects.get(idstr=comment_b["idstr"]),
        repost_c=WeiboPost.objects.get(idstr=repost_c["idstr"]),
        root_statuses={"a": repost_a, "b": comment_b},
    )


def _engaged_url(campaign) -> str:
    return f"/admin/channels_weibo/campaign/{campaign.pk}/engaged/"


def _send(client, campaign, *keys):
    response = client.post(_engaged_url(campaign), {"engagement": list(keys)}, follow=True)
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


def _counts():
    return (Lead.objects.count(), Handoff.objects.count(), CampaignHandoff.objects.count())


def test_engaged_users_page_lists_the_reposts_and_comments_through_the_kols(
    client, weibo, brand, marketing_user
):
    s = _campaign(weibo, brand)
    client.force_login(marketing_user)
    page = client.get(_engaged_url(s.campaign))
    assert page.status_code == 200
    html = page.content.decode()
    # Newest first; fan D's direct repost and 阿飞's own comment are not engagements.
    assert CHECKBOX.findall(html) == [
        f"post:{s.repost_c.pk}",
        f"comment:{s.comment_b.pk}",
        f"post:{s.repost_a.pk}",
    ]
    assert "该活动 KOL 微博共有 3 条转发和评论" in html
    assert 'id="send-campaign-handoff"' in html
    changelist = client.get("/admin/channels_weibo/campaign/").content.decode()
    assert f'href="{_engaged_url(s.campaign)}"' in changelist
    results = client.get(f"/weibo/campaigns/{s.campaign.pk}/").content.decode()
    assert 'id="campaign-engaged-link"' in results


def test_campaign_link_is_sent_and_the_follow_is_credited_to_the_campaign_and_kol(
    client, weibo, brand, mp, marketing_user, django_capture_on_commit_callbacks
):
    s = _campaign(weibo, brand)
    client.force_login(marketing_user)
    before = len(weibo.comments)
    # Two engagements of one person would send one link; here fan A's repost alone.
    messages = _send(client, s.campaign, f"post:{s.repost_a.pk}")
    assert messages == [f"@{s.fan_a.screen_name}: 已通过公开评论回复发送"]
    assert weibo.sent == []  # the window is closed: no private message
    [link] = links(weibo)
    assert len(weibo.comments) == before + 1
    assert link["status"] is s.root_statuses["a"]  # under fan A's own repost
    handoff = Handoff.objects.get()
    lead = Lead.objects.get(customer=s.fan_a.customer)
    assert (
        handoff.purpose,
        handoff.weibo_uid,
        handoff.customer,
        handoff.lead,
        handoff.sent_by,
        handoff.send_error,
    ) == ("campaign", s.fan_a.uid, s.fan_a.customer, lead, "comment", "")
    assert (lead.source, lead.origin, lead.source_channel, lead.title) == (
        s.repost_a,
        s.campaign,
        "weibo",
        f"新品种草：求链接//@{s.kol1.screen_name}:真心推荐！",
    )
    link_row = CampaignHandoff.objects.get()
    assert (link_row.handoff, link_row.campaign, link_row.kol) == (handoff, s.campaign, s.kol1)
    page = client.get(_engaged_url(s.campaign)).content.decode()
    assert re.findall(r'class="handoff-state">([^<]*)<', page) == ["—", "—", "链接已发送"]

    token = LINK.search(link["text"]).group(1)
    assert client.get(f"/h/{token}").status_code == 200
    handoff.refresh_from_db()
    follow(client, django_capture_on_commit_callbacks, mp.state, "oCampaign1", handoff.scene)
    assert WeChatUser.objects.get(openid="oCampaign1").customer == s.fan_a.customer
    lead.refresh_from_db()
    assert lead.status == "qualified"
    page = client.get(_engaged_url(s.campaign)).content.decode()
    assert re.findall(r'class="handoff-state">([^<]*)<', page) == ["—", "—", "已通过链接关注"]

    # Fan A pays: the lead (first touch) and the handoff (last touch) are the campaign's and
    # 阿飞's, though the lead was opened after the campaign's dates. (The link went out an hour
    # before the follow: the push's CreateTime has whole seconds, a follow in the same second
    # would come "before" the lead.)
    Lead.objects.filter(pk=lead.pk).update(created_at=lead.created_at - timedelta(hours=1))
    order = pay(s.fan_a.customer, timezone.now(), 12900)
    touches = [
        (r["touch"], r["kind"], r["touch_id"], r["campaign_id"], r["kol_id"])
        for r in event_touches([s.fan_a.customer_id])
        if r["event_id"] == order.pk
    ]
    c, k = s.campaign.pk, s.kol1.pk
    assert touches == [
        ("first", "weibo_lead", lead.pk, c, k),
        ("last", "handoff", handoff.pk, c, k),
    ]
    figures = {"customers": 1, "members": 0, "orders": 1, "revenue_fen": 12900}
    for touch in ("first", "last"):
        assert campaign_attribution([c], touch=touch) == {(c, k): figures, (c, None): figures}
        assert campaign_attribution([c], touch=touch, live=True) == {
            (c, k): figures,
            (c, None): figures,
        }
        assert portable.campaign_attribution([c], touch, WINDOW) == {
            (c, k): figures,
            (c, None): figures,
        }
    stats = {row["kol_id"]: row for row in campaign_stats(s.campaign)["kols"]}
    assert (stats[k]["leads"], stats[k]["orders"], stats[k]["roi"]) == (1, 1, 0.129)
    assert (stats[s.kol3.pk]["leads"], stats[s.kol3.pk]["orders"]) == (0, 0)


def test_campaign_link_goes_by_private_message_when_the_window_is_open(
    client, weibo, brand, marketing_user, django_capture_on_commit_callbacks
):
    s = _campaign(weibo, brand)
    fan_writes(client, django_capture_on_commit_callbacks, s.fan_b.uid)
    client.force_login(marketing_user)
    messages = _send(client, s.campaign, f"comment:{s.comment_b.pk}")
    assert messages == [f"@{s.fan_b.screen_name}: 已通过私信发送"]
    [sent] = weibo.sent
    assert (sent["receiver_id"], sent["text"].startswith(LINK_START)) == (s.fan_b.uid, True)
    assert links(weibo) == []
    handoff = Handoff.objects.get()
    assert (handoff.purpose, handoff.sent_by, handoff.campaign_link.kol) == (
        "campaign",
        "message",
        s.kol1,
    )


def test_campaign_without_posts_sends_nothing(client, weibo, brand, marketing_user):
    s = _campaign(weibo, brand)
    empty = Campaign.objects.create(
        name="空活动", account=brand, start=s.campaign.start, end=s.campaign.end
    )
    client.force_login(marketing_user)
    page = client.get(_engaged_url(empty)).content.decode()
    assert 'id="campaign-engaged-empty"' in page and CHECKBOX.findall(page) == []
    before, comments = _counts(), len(weibo.comments)
    messages = _send(client, empty, f"comment:{s.comment_b.pk}")
    assert messages == [f"@{s.fan_b.screen_name}: 该活动还没有 KOL 微博，尚无互动用户。"]
    assert (_counts(), len(weibo.comments), weibo.sent) == (before, comments, [])


def test_what_is_not_an_engagement_is_refused_and_writes_nothing(
    client, weibo, brand, marketing_user
):
    s = _campaign(weibo, brand)
    direct = WeiboPost.objects.get(author__uid="7100000004", text="支持一下")
    client.force_login(marketing_user)
    before, comments = _counts(), len(weibo.comments)
    messages = _send(client, s.campaign, f"post:{direct.pk}", "post:999999999", "user:1")
    assert messages == [
        f"@{direct.author.screen_name}: 这不是对该活动 KOL 微博的转发或评论。",
        "post:999999999: 没有这条转发或评论。",
        "user:1: 没有这条转发或评论。",
    ]
    assert _send(client, s.campaign) == ["请选择要发送链接的用户。"]
    assert (_counts(), len(weibo.comments)) == (before, comments)


def test_erased_user_and_used_handoff_are_refused_and_write_nothing(
    client, weibo, brand, marketing_user
):
    s = _campaign(weibo, brand)
    WeiboUser.objects.filter(pk=s.fan_c.pk).update(customer=None)  # erased: no customer
    Handoff.objects.create(
        customer=s.fan_b.customer,
        weibo_uid=s.fan_b.uid,
        purpose="campaign",
        token_hash="b" * 64,
        expires_at=timezone.now(),
        used_at=timezone.now() - timedelta(days=1),
        used_openid="oEarlier",
    )
    client.force_login(marketing_user)
    before, comments = _counts(), len(weibo.comments)
    messages = _send(client, s.campaign, f"post:{s.repost_c.pk}", f"comment:{s.comment_b.pk}")
    assert messages == [
        f"@{s.fan_c.screen_name}: 该微博用户没有客户档案。",
        f"@{s.fan_b.screen_name}: 该微博用户已通过引流链接关注。",
    ]
    # The lead fan B's link would have opened was rolled back with the refusal.
    assert (_counts(), len(weibo.comments), weibo.sent) == (before, comments, [])
    assert not Lead.objects.filter(customer=s.fan_b.customer).exists()


def test_platform_refusal_is_shown_and_kept_on_the_handoff(client, weibo, brand, marketing_user):
    s = _campaign(weibo, brand)
    weibo.failures.append(
        {"path": "/2/comments/create.json", "error_code": 20019, "error": "repeat content!"}
    )
    client.force_login(marketing_user)
    messages = _send(client, s.campaign, f"post:{s.repost_c.pk}")
    assert messages == [f"@{s.fan_c.screen_name}: 20019: repeat content!"]
    assert links(weibo) == []
    handoff = Handoff.objects.get()
    assert (handoff.sent_by, handoff.send_error, handoff.campaign_link.kol) == (
        "",
        "20019: repeat content!",
        s.kol3,
    )
    assert Lead.objects.get(customer=s.fan_c.customer).source == s.repost_c
    page = client.get(_engaged_url(s.campaign)).content.decode()
    assert "发送失败：20019: repeat content!" in page
    # Sent again, it goes out and the error is cleared.
    assert _send(client, s.campaign, f"post:{s.repost_c.pk}") == [
        f"@{s.fan_c.screen_name}: 已通过公开评论回复发送"
    ]
    handoff.refresh_from_db()
    assert (handoff.sent_by, handoff.send_error, len(links(weibo))) == ("comment", "", 1)


def test_a_second_campaign_takes_over_an_unused_campaign_handoff(
    client, weibo, brand, marketing_user
):
    s = _campaign(weibo, brand)
    other = Campaign.objects.create(
        name="双十一", account=brand, start=s.campaign.start, end=s.campaign.end
    )
    other.posts.set(s.campaign.posts.all())
    CampaignKol.objects.create(campaign=other, kol=s.kol1, fee_fen=0)
    client.force_login(marketing_user)
    _send(client, s.campaign, f"post:{s.repost_a.pk}")
    first_token = LINK.search(links(weibo)[0]["text"]).group(1)
    assert _send(client, other, f"post:{s.repost_a.pk}") == [
        f"@{s.fan_a.screen_name}: 已通过公开评论回复发送"
    ]
    # One handoff per person and purpose: it moved to the second campaign, the first link died.
    assert CampaignHandoff.objects.get().campaign == other
    assert client.get(f"/h/{first_token}").status_code == 404
    page = client.get(_engaged_url(s.campaign)).content.decode()
    assert "链接已发送 (双十一)" in page


@pytest.mark.parametrize(
    "role,get_status,post_status",
    [("manager", 200, 403), ("agent", 403, 403)],
)
def test_read_only_roles_cannot_send_campaignlinks(
    client, weibo, brand, manager_user, agent_user, role, get_status, post_status
):
    s = _campaign(weibo, brand)
    client.force_login({"manager": manager_user, "agent": agent_user}[role])
    page = client.get(_engaged_url(s.campaign))
    assert page.status_code == get_status
    if get_status == 200:  # the manager reads the list, without checkboxes or the button
        html = page.content.decode()
        assert CHECKBOX.findall(html) == [] and 'id="send-campaign-handoff"' not in html
        assert f"@{s.fan_a.screen_name}" in html
    before, comments = _counts(), len(weibo.comments)
    response = client.post(_engaged_url(s.campaign), {"engagement": [f"post:{s.repost_a.pk}"]})
    assert response.status_code == post_status
    assert (_counts(), len(weibo.comments)) == (before, comments)
    client.logout()
    anonymous = client.post(_engaged_url(s.campaign), {"engagement": [f"post:{s.repost_a.pk}"]})
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    assert _counts() == before
