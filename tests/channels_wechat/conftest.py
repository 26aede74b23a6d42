"""Fixtures of the WeChat tests: an official account per mode, the sandbox, signed pushes."""

import secrets
import time
import urllib.parse

import pytest

from channels_wechat import protocol
from channels_wechat.models import OfficialAccount
from channels_weibo.models import TokenStatus, WeiboAccount
from devtools.sandboxes import wechat as sandbox
from devtools.sandboxes import weibo as weibo_sandbox
from tests.channels_weibo.conftest import APP_SECRET as WEIBO_APP_SECRET
from tests.channels_weibo.conftest import TOKEN as WEIBO_TOKEN
from tests.conftest import clear_own_cache

APPID = "wx1234567890abcdef"
SECRET = "s3cr3t-app-secret-0123456789abcd"
TOKEN = "tok2026"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture
def account(db):
    return OfficialAccount.objects.create(
        appid=APPID,
        original_id="gh_10f6c3c3ac5a",
        name="花间集美妆",
        app_secret=SECRET,
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        mode="safe",
    )


@pytest.fixture(scope="session")
def sandbox_server():
    server = sandbox.start()
    yield server
    server.shutdown()


@pytest.fixture
def wechat_sandbox(sandbox_server, settings, account):
    """The sandbox, emptied, knowing the test account; the CRM's API base points at it."""
    state = sandbox_server.state
    state.__init__()
    sandbox._add_account_to(
        state,
        {
            "appid": APPID,
            "secret": SECRET,
            "token": TOKEN,
            "encoding_aes_key": AES_KEY,
            "mode": "safe",
            "original_id": "gh_10f6c3c3ac5a",
            "callback": "http://invalid/",
        },
    )
    settings.WECHAT_API_BASE = sandbox_server.url
    clear_own_cache()  # cached access tokens; not cache.clear(), FLUSHDB for every worker
    yield sandbox_server
    clear_own_cache()


def push_xml(openid="oUser1", msg_type="text", create_time=None, msg_id="1001", **fields):
    """A push document as WeChat builds it (the sandbox's builder)."""
    body = {"openid": openid, "msg_type": msg_type, "msg_id": msg_id, **fields}
    return sandbox.build_push_xml(
        {"original_id": "gh_10f6c3c3ac5a"}, body, int(create_time or time.time())
    )


def signed_query(token=TOKEN, timestamp=None, nonce=None, **extra) -> dict:
    """A signed push query; a fresh nonce each time, as WeChat sends (the same nonce and second
    is the same signed push, answered as a replay)."""
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or str(secrets.randbelow(10**9))
    return {
        "signature": protocol.sha1_signature(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        **extra,
    }


def post_push(client, xml: str, mode="safe", appid=APPID, query=None, **extra):
    """POST a push to the hook the way WeChat does in `mode`."""
    query = query or signed_query()
    payload = xml
    if mode in ("safe", "compatible"):
        ciphertext = protocol.encrypt(AES_KEY, xml, appid)
        query["encrypt_type"] = "aes"
        query["msg_signature"] = protocol.msg_signature(
            TOKEN, query["timestamp"], query["nonce"], ciphertext
        )
        envelope = f"<Encrypt>{protocol.cdata(ciphertext)}</Encrypt>"
        payload = (
            f"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>{envelope}</xml>"
            if mode == "safe"
            else xml[: -len("</xml>")] + envelope + "</xml>"
        )
    url = f"/hooks/wechat/{appid}?{urllib.parse.urlencode(query)}"
    return client.post(url, data=payload.encode("utf-8"), content_type="text/xml", **extra)


# The Weibo → WeChat handoff tests: the Weibo sandbox, the brand's Weibo account, and the WeChat
# sandbox as the QR code's image host.


@pytest.fixture
def weibo(settings):
    server, world = weibo_sandbox.serve(0, seed=7, days=6, fans=25)
    world.tokens[WEIBO_TOKEN] = {
        "uid": weibo_sandbox.BRAND["uid"],
        "expires_at": time.time() + 86400,
    }
    base = f"http://127.0.0.1:{server.server_port}"
    settings.WEIBO_API_BASE = base
    settings.WEIBO_MESSAGES_API_BASE = base
    settings.PUBLIC_BASE_URL = "http://testserver"
    yield world
    server.shutdown()
    server.server_close()


@pytest.fixture
def brand(db):
    return WeiboAccount.objects.create(
        uid=weibo_sandbox.BRAND["uid"],
        screen_name=weibo_sandbox.BRAND["screen_name"],
        access_token=WEIBO_TOKEN,
        token_status=TokenStatus.OK,
        app_secret=WEIBO_APP_SECRET,
    )


@pytest.fixture
def mp(wechat_sandbox, settings):
    settings.WECHAT_MP_BASE = wechat_sandbox.url
    return wechat_sandbox
