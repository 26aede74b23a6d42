"""A worker killed (SIGKILL) in the middle of a mass send: the resumed send reaches every
follower exactly once. Real Redis broker, real Celery worker processes, the sandbox over
loopback; the kill lands while WeChat (the sandbox) holds a batch it has accepted but not yet
answered, the one moment where a naive resend would send twice."""

import shutil
import time

import pytest

from channels_wechat.mass.approval import start_send
from channels_wechat.models import MassSend, MassSendBatch, MassSendRecipient
from channels_wechat.tasks import send_due_mass_sends_task
from devtools.sandboxes.wechat_mass import mass_state

from .mass_helpers import approved, followers
from .test_reliability import broker, kill, start_worker  # noqa: F401  (broker is a fixture)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]


def wait(condition, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_worker_killed_mid_send_resumes_without_sending_twice(
    account,
    wechat_sandbox,
    broker,  # noqa: F811
):
    followers(account, wechat_sandbox, 20)
    mass = mass_state(wechat_sandbox.state)
    mass["config"]["delay"] = 1.0  # WeChat takes a second to answer each call
    jobs = mass["jobs"]
    broker.start()
    env = {"WECHAT_API_BASE": wechat_sandbox.url, "WECHAT_MASS_BATCH_SIZE": "4"}
    send = approved(account)
    worker = start_worker(broker, **env)
    try:
        start_send(send)  # queued after commit to the real broker
        # The second call has reached WeChat, which is still answering it: kill now.
        assert wait(lambda: len(jobs) >= 2)
        kill(worker)
    except BaseException:
        kill(worker)
        raise
    assert len(jobs) == 2
    assert MassSendBatch.objects.filter(send=send, status="sent").count() == 1
    assert MassSendRecipient.objects.filter(send=send, status="sent").count() == 4
    worker = start_worker(broker, **env)
    try:
        # The beat's task finds the interrupted send and hands it to the new worker.
        send_due_mass_sends_task.delay()
        assert wait(lambda: MassSend.objects.get(pk=send.pk).status == "done", 120)
    finally:
        kill(worker)
    received: dict[str, int] = {}
    for job in jobs.values():
        for openid in job["delivered"]:
            received[openid] = received.get(openid, 0) + 1
    assert received == {f"oMass{i:04d}": 1 for i in range(20)}
    assert len(jobs) == 5
    batches = list(MassSendBatch.objects.filter(send=send).order_by("seq"))
    assert [(b.status, b.size) for b in batches] == [("sent", 4)] * 5
    # The batch in flight at the kill went out once: its second call was answered 45065.
    by_clientmsgid = {j["clientmsgid"]: str(j["msg_id"]) for j in jobs.values()}
    assert {b.clientmsgid: b.msg_id for b in batches} == by_clientmsgid
    assert batches[1].attempts == 1  # the killed attempt rolled back with its transaction
    send.refresh_from_db()
    assert (send.targeted, send.sent, send.failed) == (20, 20, 0)
