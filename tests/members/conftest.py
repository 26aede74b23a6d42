"""Fixtures for the members tests: a merchant with real keys, the sandbox on a free port."""

import socket
import urllib.error
import urllib.parse
import urllib.request

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from crm.identity import resolve_customer
from devtools.sandboxes import wechatpay as sandbox_module
from members.actions import create_order, join_membership
from members.models import MerchantConfig, Store, Tier
from tests.conftest import clear_own_cache

API_KEY = "192006250b4c09247ec02edce69f6a2d"
APIV3_KEY = "0123456789abcdef0123456789ABCDEF"
MCHID = "10000100"
APPID = "wxd930ea5d5a258f4f"
APP_SECRET = "sandbox-app-secret-0001"

_PLATFORM_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def platform_key():
    return _PLATFORM_KEY


@pytest.fixture
def merchant(db, platform_key):
    return MerchantConfig.objects.create(
        mchid=MCHID,
        name="上海旗舰店商户",
        appid=APPID,
        app_secret=APP_SECRET,
        api_key=API_KEY,
        apiv3_key=APIV3_KEY,
        sign_type="MD5",
        platform_serial=sandbox_module.PLATFORM_SERIAL,
        platform_public_key=sandbox_module.public_pem(platform_key),
    )


@pytest.fixture
def store(db):
    return Store.objects.create(code="SH001", name="上海南京西路店", city="上海")


@pytest.fixture
def tiers(db):
    return [
        Tier.objects.create(name="普通会员", rank=0, basis="points", threshold=0),
        Tier.objects.create(name="银卡会员", rank=1, basis="points", threshold=500),
        Tier.objects.create(name="金卡会员", rank=2, basis="points", threshold=2000),
    ]


@pytest.fixture
def customer(db):
    return resolve_customer(
        channel="wechat",
        keys={"unionid": "o6_bmasdasdsad6_2sgVt7hMZOPfL"},
        defaults={"name": "王芳"},
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pay_sandbox(settings, platform_key):
    """The WeChat Pay + OAuth sandbox over loopback, with the settings pointing at it."""
    box = sandbox_module.Sandbox(
        [
            {
                "mchid": MCHID,
                "appid": APPID,
                "app_secret": APP_SECRET,
                "api_key": API_KEY,
                "apiv3_key": APIV3_KEY,
                "sign_type": "MD5",
            }
        ],
        platform_key,
    )
    port = _free_port()
    server = sandbox_module.serve(box, port)
    base = f"http://127.0.0.1:{port}"
    settings.WECHATPAY_API_BASE = base
    settings.WECHAT_OAUTH_BASE = base
    settings.WECHAT_OAUTH_API_BASE = base
    box.base_url = base
    yield box
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty cache: the hooks' replay cache and error-record counts
    must not carry one test's notifications into the next."""
    clear_own_cache()


@pytest.fixture(autouse=True)
def english_by_default(settings):
    """API errors are asserted in English; a request that asks for Chinese still gets Chinese."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def order(merchant, store, customer, tiers):
    """A member's unpaid POS order of 129.00 yuan."""
    join_membership(customer, via="wechat")
    return create_order(
        amount_fen=12900,
        channel="pos",
        store=store,
        customer=customer,
        merchant=merchant,
        out_trade_no="202610031200000001",
    )


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _sign_in(client, user_number: int):
    """Follow /m/ → WeChat authorize (the sandbox) → back to /m/oauth, as WeChat's browser does."""
    start = client.get("/m/")
    assert start.status_code == 302
    authorize = start["Location"]
    assert authorize.split("?")[0].endswith("/connect/oauth2/authorize")
    assert "scope=snsapi_base" in authorize
    opener = urllib.request.build_opener(NoRedirect)
    url = authorize.replace("#wechat_redirect", "") + f"&as={user_number}"
    try:
        opener.open(url, timeout=5)
        raise AssertionError("the sandbox did not redirect")
    except urllib.error.HTTPError as exc:
        assert exc.code == 302
        back = urllib.parse.urlsplit(exc.headers["Location"])
    assert back.path == "/m/oauth"
    return client.get(f"{back.path}?{back.query}")


@pytest.fixture
def sign_in(pay_sandbox):
    """`sign_in(client, n)`: the client signs in to the member pages as the sandbox's WeChat user
    n (OAuth through the sandbox); the response of the CRM's /m/oauth."""
    return _sign_in


SMS_SECRET_ID = "AKIDsandbox0000000000000000000000SMS"
SMS_SECRET_KEY = "sandbox-sms-secret-key-000000000"
SMS_APP_ID = "1400000001"


@pytest.fixture
def sms_sandbox(settings):
    """The Tencent Cloud SMS sandbox over loopback, with the TENCENT_SMS_* settings pointing at
    it and trusting the same secret; `box.base_url` for its /sandbox/sms/<phone> page."""
    from devtools.sandboxes import sms as sms_sandbox_module

    box = sms_sandbox_module.Sandbox(SMS_SECRET_ID, SMS_SECRET_KEY, SMS_APP_ID)
    port = _free_port()
    server = sms_sandbox_module.serve(box, port)
    settings.SMS_PROVIDER = "tencent"
    settings.TENCENT_SMS_API_BASE = f"http://127.0.0.1:{port}"
    settings.TENCENT_SMS_SECRET_ID = SMS_SECRET_ID
    settings.TENCENT_SMS_SECRET_KEY = SMS_SECRET_KEY
    settings.TENCENT_SMS_SDK_APP_ID = SMS_APP_ID
    settings.TENCENT_SMS_SIGN_NAME = "示例品牌"
    settings.TENCENT_SMS_TEMPLATE_ID = "1234567"
    box.base_url = f"http://127.0.0.1:{port}"
    yield box
    server.shutdown()
    server.server_close()
