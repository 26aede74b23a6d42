"""Secrets in the admin (issue #14, finding 1).

No secret value appears in any admin HTML for any role, superuser included. A secret field shows
whether it is set and, to those who may change the row, a write-only input that replaces the
stored value; leaving it empty keeps it.
"""

import pytest
from django.test import Client

from channels_wechat.models import OfficialAccount
from channels_weibo.models import WeiboAccount
from members.models import MerchantConfig

WX = {
    "app_secret": "wx-secret-7f3a9c1e",
    "token": "wx-push-token-55aa",
    "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
}
WEIBO = {"app_secret": "weibo-fan-secret-9d8c", "access_token": "2.00weibo-access-token"}
MERCHANT = {
    "app_secret": "mch-oauth-secret-3e2d",
    "api_key": "mchapikey0123456789abcdefABCDEF0",
    "apiv3_key": "apiv3key0123456789abcdefABCDEF01",
}
SECRETS = [*WX.values(), *WEIBO.values(), *MERCHANT.values()]


@pytest.fixture
def rows(db):
    wechat = OfficialAccount.objects.create(
        appid="wx0000000000000009", name="服务号", mode="safe", **WX
    )
    weibo = WeiboAccount.objects.create(uid="1000000009", screen_name="品牌", **WEIBO)
    merchant = MerchantConfig.objects.create(
        mchid="1900000199", appid="wx0000000000000009", **MERCHANT
    )
    return {
        "channels_wechat.officialaccount": wechat,
        "channels_weibo.weiboaccount": weibo,
        "members.merchantconfig": merchant,
    }


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _leaks(body: str) -> list[str]:
    return [s for s in SECRETS if s in body]


@pytest.mark.parametrize("role", ["marketing", "agent", "manager", "superuser"])
def test_no_role_sees_a_secret_on_the_change_or_add_pages(
    rows, marketing_user, agent_user, manager_user, admin_user, role
):
    user = {
        "marketing": marketing_user,
        "agent": agent_user,
        "manager": manager_user,
        "superuser": admin_user,
    }[role]
    client = _client(user)
    for label, obj in rows.items():
        app, model = label.split(".")
        change = client.get(f"/admin/{app}/{model}/{obj.pk}/change/")
        may_view = user.has_perm(f"{app}.view_{model}")
        assert change.status_code == (200 if may_view else 403), (label, change.status_code)
        body = change.content.decode()
        assert _leaks(body) == [], label
        if may_view:
            # Each stored secret is shown as "set", never as its value.
            assert body.count('class="secret-state secret-set"') >= 1, label
        add = client.get(f"/admin/{app}/{model}/add/")
        assert _leaks(add.content.decode()) == [], label


def test_superuser_sees_set_and_not_set_and_a_write_only_input(admin_user, rows):
    account = rows["channels_wechat.officialaccount"]
    account.encoding_aes_key = ""
    account.save()
    body = _client(admin_user).get(f"/admin/channels_wechat/officialaccount/{account.pk}/change/")
    html = body.content.decode()
    assert html.count('class="secret-state secret-set"') == 2
    assert html.count('class="secret-state secret-unset"') == 1
    assert '<input type="password" name="app_secret"' in html
    assert _leaks(html) == []


def _wechat_form(account, **changes):
    data = {
        "name": account.name,
        "appid": account.appid,
        "original_id": "",
        "is_active": "on",
        "app_secret": "",
        "token": "",
        "encoding_aes_key": "",
        "mode": account.mode,
        "welcome_message": "",
        "out_of_hours_reply": "",
        "service_start": "",
        "service_end": "",
        "auto_replies-TOTAL_FORMS": "0",
        "auto_replies-INITIAL_FORMS": "0",
    }
    return {**data, **changes}


def test_an_empty_secret_input_keeps_the_stored_value_and_a_typed_one_replaces_it(admin_user, rows):
    account = rows["channels_wechat.officialaccount"]
    client = _client(admin_user)
    url = f"/admin/channels_wechat/officialaccount/{account.pk}/change/"
    response = client.post(url, _wechat_form(account, name="改名"))
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.app_secret, account.token, account.encoding_aes_key) == (
        "改名",
        WX["app_secret"],
        WX["token"],
        WX["encoding_aes_key"],
    )
    response = client.post(url, _wechat_form(account, token="new-token-1"))
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.app_secret, account.token) == (WX["app_secret"], "new-token-1")


def test_a_required_secret_left_empty_on_add_is_a_field_error(admin_user, db):
    account = OfficialAccount(appid="wx0000000000000010", name="新号", mode="plaintext")
    response = _client(admin_user).post(
        "/admin/channels_wechat/officialaccount/add/",
        _wechat_form(account),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {
        "app_secret": ["This field is required."],
        "token": ["This field is required."],
    }
    assert OfficialAccount.objects.count() == 0


def test_weibo_app_secret_is_not_prefilled_for_marketing_and_is_kept(marketing_user, rows):
    account = rows["channels_weibo.weiboaccount"]
    client = _client(marketing_user)
    url = f"/admin/channels_weibo/weiboaccount/{account.pk}/change/"
    html = client.get(url).content.decode()
    assert _leaks(html) == []
    assert '<input type="password" name="app_secret"' in html
    response = client.post(
        url,
        {
            "uid": account.uid,
            "screen_name": "改名",
            "app_key": "k1",
            "app_secret": "",
            "active": "on",
            "created_at_0": "2026-01-01",
            "created_at_1": "10:00:00",
        },
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.screen_name, account.app_secret, account.access_token) == (
        "改名",
        WEIBO["app_secret"],
        WEIBO["access_token"],
    )


def test_merchant_config_answers_a_view_only_manager_without_its_secrets(manager_user, rows):
    merchant = rows["members.merchantconfig"]
    response = _client(manager_user).get(f"/admin/members/merchantconfig/{merchant.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert _leaks(html) == []
    assert html.count('class="secret-state secret-set"') == 3
    assert 'type="password"' not in html  # read-only: nothing to type


def test_api_token_key_is_shown_once_when_added_and_never_again(admin_user, marketing_user):
    """DRF's token admin listed every key and named each token by it (titles, breadcrumbs, the
    recent-actions log); now the key appears once, in the message right after adding it."""
    from rest_framework.authtoken.models import Token

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(admin_user)
    added = client.post(
        "/admin/authtoken/tokenproxy/add/", {"user": marketing_user.pk}, follow=True
    )
    key = Token.objects.get(user=marketing_user).key
    body = added.content.decode()
    assert (added.status_code, body.count(key)) == (200, 1)
    assert "Copy it now: it is not shown again." in body

    pages = [
        "/admin/",
        "/admin/authtoken/tokenproxy/",
        f"/admin/authtoken/tokenproxy/{marketing_user.pk}/change/",
        f"/admin/authtoken/tokenproxy/{marketing_user.pk}/delete/",
        f"/admin/authtoken/tokenproxy/{marketing_user.pk}/history/",
    ]
    for url in pages:
        response = client.get(url)
        assert (url, response.status_code, key in response.content.decode()) == (url, 200, False)
    assert "API token of mkt" in client.get("/admin/").content.decode()
