"""Marketing staff in a real browser: the listening page with its filters and a cascade page."""

import pytest

from channels_weibo.ingest import ingest_statuses
from channels_weibo.models import WeiboAccount
from tests.conftest import admin_login, make_staff

from .factories import BRAND, status, user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _data():
    brand = WeiboAccount.objects.create(uid="5988800001", screen_name="花漾美妆", token_status="ok")
    root = status(5000000000000001, BRAND, "【新品上市】花漾水光精华液", 0, reposts=3)
    ingest_statuses(brand, [root])
    ingest_statuses(
        brand,
        [
            status(
                5000000000000002,
                user(6100000001, "美妆博主小鹿", 1830000, 0),
                "太好用了，爱了 @花漾美妆",
                5,
                root,
            ),
            status(
                5000000000000003,
                user(7000000001, "晴天"),
                "好看，求链接//@美妆博主小鹿:太好用了",
                9,
                root,
            ),
            status(5000000000000004, user(7000000002, "阿飞"), "快递太慢了，差评 @花漾美妆", 12),
        ],
    )


def test_listening_page_filters_and_opens_a_cascade(live_server, browser_page):
    make_staff("mkt", "marketing")
    _data()
    page = browser_page
    admin_login(page, live_server.url, "mkt", "pw-mkt")
    page.goto(f"{live_server.url}/weibo/mentions/")
    rows = page.locator("#mention-list tbody tr.mention")
    assert rows.count() == 2  # the repost without @ or a keyword is not a mention
    page.select_option("#weibo-mentions select[name=sentiment]", "negative")
    page.click("#weibo-mentions button[type=submit]")
    page.wait_for_url("**sentiment=negative**")
    assert rows.count() == 1
    assert "快递太慢了，差评" in rows.first.inner_text()

    page.goto(f"{live_server.url}/weibo/posts/5000000000000001/")
    tree = page.locator("#cascade-tree")
    assert "@花漾美妆" in tree.inner_text()
    nested = tree.locator("li[data-idstr='5000000000000002'] li[data-idstr='5000000000000003']")
    assert nested.count() == 1
    assert "2" in page.inner_text("#cascade-summary")
