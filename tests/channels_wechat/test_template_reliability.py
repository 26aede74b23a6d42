"""Exactly once per recipient when the worker sending a template job is SIGKILLed mid-send: a real
broker, real Celery worker processes against the test database, the sandbox over loopback."""

import time

import pytest
from django.db import connection

from channels_wechat.models import TemplateSend, WeChatUser
from channels_wechat.templates import add_library_template, send_template_message
from tests.crm.factories import CustomerFactory

from .conftest import APPID
from .test_reliability import broker, kill, start_worker  # noqa: F401  (broker is a fixture)
from .test_templates import ORDER_DATA, sandbox_post, sandbox_sent

pytestmark = [pytest.mark.django_db(transaction=True)]

RECIPIENTS = 6
SLOW = "oKill02"  # WeChat sends to this one, then answers late: the worker dies meanwhile


def _wait(predicate, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_worker_killed_mid_send_resumes_and_sends_each_message_once(
    wechat_sandbox,
    account,
    broker,  # noqa: F811
):
    template = add_library_template(account, "TM00015")
    users = []
    for n in range(RECIPIENTS):
        openid = f"oKill{n:02d}"
        wechat_sandbox.state.user(APPID, openid)
        users.append(
            WeChatUser.objects.create(
                account=account, openid=openid, customer=CustomerFactory(), subscribed=True
            )
        )
    sandbox_post(wechat_sandbox, "/sandbox/templates/setup", {"appid": APPID, "slow": {SLOW: 30}})
    broker.start()
    env = {"WECHAT_API_BASE": wechat_sandbox.url, "WECHAT_TEMPLATE_LEASE_SECONDS": "3"}
    worker = start_worker(broker, **env)
    try:
        send_template_message(template, users, ORDER_DATA, batch="killed")
        # WeChat has sent the slow recipient's message; the worker waits for the answer.
        assert _wait(lambda: len(sandbox_sent(wechat_sandbox)) == 3)
        time.sleep(0.5)
    finally:
        kill(worker)
    connection.close()
    rows = dict(TemplateSend.objects.values_list("openid", "status"))
    assert rows == {
        "oKill00": "sent",
        "oKill01": "sent",
        "oKill02": "sending",
        "oKill03": "pending",
        "oKill04": "pending",
        "oKill05": "pending",
    }
    sandbox_post(wechat_sandbox, "/sandbox/templates/setup", {"appid": APPID, "slow": {}})
    time.sleep(3.5)  # the dead worker's lease ends
    worker = start_worker(broker, **env)
    try:
        from crm.tasks_queue import publish

        assert publish("channels_wechat.tasks.send_template_messages_task", "")
        assert _wait(lambda: TemplateSend.objects.filter(status="sent").count() == RECIPIENTS, 120)
    finally:
        kill(worker)
    sent = sandbox_sent(wechat_sandbox)
    assert sorted(s["touser"] for s in sent) == [u.openid for u in users]
    rows = {r.openid: (r.status, r.msgid) for r in TemplateSend.objects.all()}
    assert rows == {s["touser"]: ("sent", str(s["msgid"])) for s in sent}
    assert TemplateSend.objects.get(openid=SLOW).attempts == 2
