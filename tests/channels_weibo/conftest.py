"""The Weibo sandbox over loopback, a connected brand account, and the reference payloads."""

import time

import pytest

from channels_weibo.models import TokenStatus, WeiboAccount
from devtools.sandboxes import weibo as sandbox

TOKEN = "2.00sandboxtesttoken"
APP_SECRET = "xyz123xyz"


@pytest.fixture
def weibo_sandbox(settings):
    server, world = sandbox.serve(0, seed=7, days=6, fans=25)
    world.tokens[TOKEN] = {"uid": sandbox.BRAND["uid"], "expires_at": time.time() + 86400}
    base = f"http://127.0.0.1:{server.server_port}"
    settings.WEIBO_API_BASE = base
    settings.WEIBO_MESSAGES_API_BASE = base
    settings.WEIBO_APP_KEY = sandbox.APP_KEY
    settings.WEIBO_APP_SECRET = sandbox.APP_SECRET
    world.base = base
    yield world
    server.shutdown()
    server.server_close()


@pytest.fixture
def account(db):
    return WeiboAccount.objects.create(
        uid=sandbox.BRAND["uid"],
        screen_name=sandbox.BRAND["screen_name"],
        access_token=TOKEN,
        token_status=TokenStatus.OK,
        app_secret=APP_SECRET,
    )
