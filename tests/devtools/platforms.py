"""The demo's four platform sandboxes on free loopback ports, calling back a live CRM server,
with the settings pointing at them the way `make demo`'s environment does (tests only)."""

import json
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from cryptography.hazmat.primitives import serialization

from devtools.demo import members as members_demo
from devtools.demo import weibo as weibo_demo
from devtools.sandboxes import sms as sms_module
from devtools.sandboxes import wechat as wechat_module
from devtools.sandboxes import wechatpay as pay_module
from devtools.sandboxes import weibo as weibo_module

SMS_SECRET_ID = "AKIDsandboxDemo0000000000000000000"
SMS_SECRET_KEY = "sandbox-demo-sms-secret-key-0000"
SMS_APP_ID = "1400000000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def demo_platforms(settings, crm_url: str):
    """Yield the sandboxes (`.wechat`, `.weibo` (its World), `.pay`, `.sms`, and their `*_url`);
    the WeChat sandbox pushes to `crm_url`'s webhook, the pay sandbox to its pay hook."""
    wechat = wechat_module.start(0, callback_base=crm_url, accounts=wechat_module.DEMO_ACCOUNTS)
    weibo_server, world = weibo_module.serve(0)  # the demo's world: `make demo`'s defaults
    world.tokens[weibo_demo.TOKEN] = {
        "uid": weibo_module.BRAND["uid"],
        "expires_at": time.time() + 86400,
    }
    config = json.loads(members_demo.sandbox_config().read_text())
    key = serialization.load_pem_private_key(
        Path(config["platform_key"]).read_bytes(), password=None
    )
    pay = pay_module.Sandbox(config["merchants"], key)
    pay_port = free_port()
    pay_server = pay_module.serve(pay, pay_port)
    sms = sms_module.Sandbox(SMS_SECRET_ID, SMS_SECRET_KEY, SMS_APP_ID)
    sms_port = free_port()
    sms_server = sms_module.serve(sms, sms_port)
    weibo_url = f"http://127.0.0.1:{weibo_server.server_port}"
    pay_url, sms_url = f"http://127.0.0.1:{pay_port}", f"http://127.0.0.1:{sms_port}"
    settings.WECHAT_API_BASE = settings.WECHAT_MP_BASE = wechat.url
    settings.WEIBO_API_BASE = settings.WEIBO_MESSAGES_API_BASE = weibo_url
    settings.WEIBO_APP_KEY, settings.WEIBO_APP_SECRET = (
        weibo_module.APP_KEY,
        weibo_module.APP_SECRET,
    )
    settings.WECHATPAY_API_BASE = settings.WECHAT_OAUTH_BASE = pay_url
    settings.WECHAT_OAUTH_API_BASE = pay_url
    settings.SMS_PROVIDER = "tencent"
    settings.TENCENT_SMS_API_BASE = sms_url
    settings.TENCENT_SMS_SECRET_ID, settings.TENCENT_SMS_SECRET_KEY = SMS_SECRET_ID, SMS_SECRET_KEY
    settings.TENCENT_SMS_SDK_APP_ID = SMS_APP_ID
    settings.TENCENT_SMS_SIGN_NAME, settings.TENCENT_SMS_TEMPLATE_ID = "演示品牌", "100000"
    settings.PUBLIC_BASE_URL = crm_url
    try:
        yield SimpleNamespace(
            wechat=wechat,
            weibo=world,
            pay=pay,
            sms=sms,
            wechat_url=wechat.url,
            weibo_url=weibo_url,
            pay_url=pay_url,
            sms_url=sms_url,
        )
    finally:
        for server in (wechat, weibo_server, pay_server, sms_server):
            server.shutdown()
            server.server_close()
