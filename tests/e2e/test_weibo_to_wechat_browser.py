"""#16 end to end, in a real browser (system Chromium) against the live server and the four
platform sandboxes: a Weibo fan asks where to buy under a KOL's post → the keyword rule makes a
lead → an agent sends the WeChat handoff from the Lead admin action → the link arrives on Weibo
(a public comment reply in the sandbox) → the fan opens /h/<token> → scans the code: the WeChat
sandbox pushes the signed `subscribe` to the webhook → one customer with both identities, the
funnel's Weibo → WeChat step is 1 → a JSAPI payment notified by the WeChat Pay sandbox → the
campaign page credits the revenue to the KOL."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from channels_wechat.models import WeChatUser
from channels_weibo.lead_credit import credit_campaign
from channels_weibo.models import (
    Campaign,
    KeywordRule,
    TokenStatus,
    WeiboAccount,
    WeiboPost,
    WeiboUser,
)
from channels_weibo.polling import poll_account
from crm.models import Customer, Handoff, Lead, MergeRecord
from dashboards.kpis.funnel import funnel
from devtools.demo import crossings
from devtools.demo import members as members_demo
from devtools.demo import wechat as wechat_demo
from devtools.demo import weibo as weibo_demo
from devtools.sandboxes import weibo as weibo_sandbox
from devtools.sandboxes.wechat import DEMO_ACCOUNTS
from members.models import MerchantConfig, Order
from tests.conftest import admin_login, make_staff
from tests.devtools.platforms import demo_platforms

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
OPENID = "oE2EWeiboFan000000000000001"


def test_weibo_lead_to_wechat_follower_to_kol_revenue(settings, live_server, browser_page):
    page = browser_page
    with demo_platforms(settings, live_server.url) as platforms:
        world = platforms.weibo
        wechat_demo._setup_account()
        members_demo._setup()
        make_staff("e2e_agent", "agent")
        make_staff("e2e_mkt", "marketing")
        brand = WeiboAccount.objects.create(
            uid=weibo_sandbox.BRAND["uid"],
            screen_name=str(weibo_sandbox.BRAND["screen_name"]),
            access_token=weibo_demo.TOKEN,
            token_status=TokenStatus.OK,
            app_secret=weibo_demo.FANSERVICE_SECRET,
        )
        KeywordRule.objects.create(name="购买意向", words="求链接，哪里买", action_lead=True)
        # A brand post, a KOL's repost of it, and a fan asking where to buy under the KOL's
        # repost (the `//@` chain names the KOL): polled through the real client and poller.
        now = datetime.now(UTC)
        kol, fan = world.kols[0], world.fans[0]
        brand_post = world._status(world.brand, "新品水光精华液上市", now - timedelta(hours=2))
        kol_repost = world._status(kol, "真的好用！", now - timedelta(hours=1), root=brand_post)
        world._status(
            fan,
            f"求链接！哪里买//@{kol['screen_name']}:{kol_repost['text']}",
            now - timedelta(minutes=30),
            root=brand_post,
        )
        assert poll_account(brand)["status"] == "ok"
        today = timezone.localdate()
        campaign = Campaign.objects.create(
            name="水光精华液种草", account=brand, start=today - timedelta(days=1), end=today
        )
        campaign.posts.set(WeiboPost.objects.filter(idstr=brand_post["idstr"]))
        campaign.kols.set(WeiboUser.objects.filter(uid=kol["idstr"]))
        credit_campaign(campaign.pk)  # what saving it in the admin does
        lead = Lead.objects.get(customer__weibo_users__uid=fan["idstr"])
        assert (lead.source_channel, lead.source.author.uid) == ("weibo", fan["idstr"])
        assert lead.source.parent.idstr == kol_repost["idstr"]

        # The agent sends the handoff from the Lead admin list.
        admin_login(page, live_server.url, "e2e_agent", "pw-e2e_agent")
        page.goto(f"{live_server.url}/admin/crm/lead/")
        page.check(f"input[name=_selected_action][value='{lead.pk}']")
        page.select_option("select[name=action]", "send_wechat_handoff")
        page.click("button[name=index]")
        page.wait_for_selector(".messagelist")
        assert page.inner_text(".messagelist") == f"{lead}: 已通过公开评论回复发送"
        # The fan's 48-hour window is closed: a public reply under their repost, on Weibo.
        [reply] = [c for c in world.comments.values() if "/h/" in c["text"]]
        assert reply["status"]["user"]["idstr"] == fan["idstr"]
        token = re.search(r"/h/([A-Za-z0-9_-]+)", reply["text"]).group(1)
        handoff = Handoff.objects.get()
        assert (handoff.lead, handoff.sent_by, handoff.used_at) == (lead, "comment", None)

        # The fan opens the link: the page shows the handoff's own QR code, made at WeChat.
        page.goto(f"{live_server.url}/h/{token}")
        image = page.get_attribute("img[src*='showqrcode']", "src")
        handoff.refresh_from_db()
        assert image.startswith(f"{platforms.wechat_url}/cgi-bin/showqrcode?ticket=")
        assert handoff.scene.startswith("ho_")
        # ...and scans it: WeChat (the sandbox) pushes the signed subscribe to the webhook.
        appid = DEMO_ACCOUNTS[0]["appid"]
        crossings._scan(appid, OPENID, handoff.scene)

        handoff.refresh_from_db()
        follower = WeChatUser.objects.get(openid=OPENID)
        weibo_user = WeiboUser.objects.get(uid=fan["idstr"])
        assert handoff.used_openid == OPENID
        assert follower.customer_id == weibo_user.customer_id == lead.customer_id
        assert MergeRecord.objects.get().reason == "handoff"
        customer = Customer.objects.get(pk=lead.customer_id)
        assert customer.first_channel == "weibo" and customer.merged_into_id is None
        lead.refresh_from_db()
        assert lead.status == "qualified"
        # The fan was first seen on Weibo days ago (the sandbox's older comments).
        figures = funnel(today - timedelta(days=29), today)
        assert (figures["weibo_to_wechat"], figures["weibo_to_wechat_by_path"]["handoff_qr"]) == (
            1,
            1,
        )

        # A JSAPI payment: unifiedorder at the WeChat Pay sandbox, paid, notified to the hook.
        crossings._pay(MerchantConfig.objects.get(), customer, OPENID, 29900, 1)
        order = Order.objects.get(out_trade_no=f"{crossings.ORDER_PREFIX}00000001")
        assert (order.status, order.customer_id, order.amount_fen) == (
            "paid",
            customer.pk,
            29900,
        )
        assert order.transaction_id.startswith("4200")

        # The campaign page credits the order to the KOL whose post the lead came from.
        page.context.clear_cookies()
        admin_login(page, live_server.url, "e2e_mkt", "pw-e2e_mkt")
        page.goto(f"{live_server.url}/weibo/campaigns/{campaign.pk}/")
        row = page.locator("tr", has_text=kol["screen_name"]).first
        assert row.locator(".orders").inner_text() == "1"
        assert row.locator(".revenue").inner_text() == "299.00"
        assert row.locator(".customers").inner_text() == "1"
