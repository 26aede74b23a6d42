"""Shared pieces of the Weibo → WeChat handoff tests: the link the brand sends, sandbox users
with no history, a fan-service message that opens the reply window, a follow through a code."""

import json
import re
import secrets
import time

from django.utils import timezone

from channels_weibo.protocol import format_time, signature
from devtools.sandboxes import wechat as wechat_sandbox_module
from devtools.sandboxes import weibo as weibo_sandbox_module
from tests.channels_weibo.conftest import APP_SECRET

from .conftest import APPID, post_push, push_xml

LINK = re.compile(r"http://testserver/h/([A-Za-z0-9_-]+)$")
LINK_START = "关注我们的微信公众号，获取一对一专属服务：http://testserver/h/"


def follow(client, captured, state, openid, scene):
    body = wechat_sandbox_module.qr_event(state, APPID, openid, scene, subscribe=True)
    body.pop("appid")
    with captured(execute=True):
        response = post_push(client, push_xml(msg_id=str(time.time_ns()), **body))
    assert response.status_code == 200


def fan_writes(client, captured, sender, text="你好", at=None):
    """A fan-service private message from `sender` (sent `at`, default now): it opens the
    48-hour window."""
    payload = {
        "type": "text",
        "receiver_id": int(weibo_sandbox_module.BRAND["uid"]),
        "sender_id": int(sender),
        "created_at": format_time(
            (at or timezone.now()).astimezone(timezone.get_default_timezone())
        ),
        "text": text,
        "data": {},
    }
    # A fresh nonce, as the fan service sends: the same nonce and millisecond is a replay.
    stamp, nonce = str(int(time.time() * 1000)), str(secrets.randbelow(10**9))
    query = f"timestamp={stamp}&nonce={nonce}&signature={signature(APP_SECRET, stamp, nonce)}"
    with captured(execute=True):
        response = client.post(
            f"/hooks/weibo/{weibo_sandbox_module.BRAND['uid']}?{query}",
            data=json.dumps(payload, ensure_ascii=False),
            content_type="application/json",
        )
    assert response.status_code == 200


def new_fan(world, n: int) -> dict:
    """A sandbox user with no history: no complaint case, so no reply window, until they write."""
    return world._user(str(7100000000 + n), f"新粉丝{n}", "上海 徐汇区", 10, -1)


def links(world) -> list[dict]:
    """The handoff links the brand posted as comments in the sandbox."""
    return [c for c in world.comments.values() if c["text"].startswith(LINK_START)]
