"""The drain flag a burst of pushes shares (crm.ingestion): a web process that saw the flag
requests nothing for RAW_DELIVERY_DRAIN_LINGER after, and a drain that cleared its flag keeps
looking that long, so every push committed meanwhile is processed without a request of its own."""

import threading
import time

import pytest
from celery import current_app
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connections

from channels_wechat.models import OfficialAccount
from crm import ingestion
from crm.models import Message, RawDelivery
from tests.conftest import clear_own_cache
from tests.crm.test_webhook_path import APPID, TOKEN, call, push

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued(monkeypatch, settings):
    """Tasks queued, not run inline (as in production), and what the hooks publish recorded;
    SET commands the hooks send to Redis counted."""
    # Set under its Django name: crm/celery.py reads the settings with namespace="CELERY".
    monkeypatch.setitem(current_app.conf, "CELERY_TASK_ALWAYS_EAGER", False)
    settings.RAW_DELIVERY_DRAIN_LINGER = 0.5
    sent: dict[str, list] = {"published": [], "set": []}
    command = ingestion.redis_command

    def counted(client, *args):
        if args[0] == "SET":
            sent["set"].append(args[1])
        return command(client, *args)

    monkeypatch.setattr(ingestion, "redis_command", counted)
    monkeypatch.setattr(ingestion, "publish", lambda *task: sent["published"].append(task) or True)
    clear_own_cache()
    ingestion.clear_drain_request("wechat")
    OfficialAccount.objects.create(
        appid=APPID, name="路径号", app_secret="s", token=TOKEN, mode="plaintext"
    )
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield sent
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    ingestion.clear_drain_request("wechat")
    clear_own_cache()


def post(msg_id: int) -> bytes:
    query, body = push(msg_id)
    return call("POST", f"/hooks/wechat/{APPID}", body, query)["body"]


def test_a_process_that_saw_the_flag_requests_nothing_for_the_linger(queued, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(ingestion, "_clock", lambda: now[0])
    answers = [post(1), post(2), post(3)]
    assert (len(queued["set"]), len(queued["published"])) == (1, 1)
    # The drain finds nothing more and clears its flag; this process saw it 0.4 s ago.
    ingestion._clear_flag(ingestion._drain_flag("wechat", 0))
    now[0] += 0.4
    answers.append(post(4))
    assert (len(queued["set"]), len(queued["published"])) == (1, 1)
    # Past the linger: the flag is asked for again, and it is gone, so a drain is published.
    now[0] += 0.2
    answers.append(post(5))
    assert answers == [b"success"] * 5
    assert (len(queued["set"]), len(queued["published"])) == (2, 2)
    assert queued["published"] == [(ingestion.DRAIN_TASK, "wechat", 0)] * 2
    assert RawDelivery.objects.filter(status="pending").count() == 5


def test_a_drain_that_cleared_its_flag_processes_what_is_committed_during_the_linger(queued):
    """A push committed 0.2 s after the drain found nothing (what a process that saw the flag
    just before would not request a drain for) is processed by that drain."""
    result: list[int] = []

    def run() -> None:
        try:
            result.append(ingestion.drain("wechat"))
        finally:
            connections.close_all()

    drain = threading.Thread(target=run)
    began = time.monotonic()
    drain.start()
    time.sleep(0.2)
    assert post(11) == b"success"
    drain.join(10)
    assert result == [1]
    assert time.monotonic() - began >= 0.5  # it kept looking for the linger after the push
    assert RawDelivery.objects.get().status == "processed"
    assert Message.objects.get().content == "在吗"


def test_a_short_batch_lets_the_next_one_gather_for_the_batch_wait(queued, monkeypatch, settings):
    """RAW_DELIVERY_BATCH_WAIT: after a batch shorter than the batch size the drain waits out
    the rest of the wait from that batch's start; after a full one it goes on at once."""
    settings.RAW_DELIVERY_BATCH_WAIT = 0.1
    settings.RAW_DELIVERY_DRAIN_LINGER = 0.0
    batches = iter([500, 3, 2, 0, 0])
    monkeypatch.setattr(ingestion, "_drain_batch", lambda *args: next(batches))
    monkeypatch.setattr(ingestion, "_clock", lambda: 50.0)  # the batches take no time
    slept: list[float] = []
    monkeypatch.setattr(ingestion.time, "sleep", slept.append)
    assert ingestion.drain("wechat", batch_size=500) == 505
    assert [round(s, 6) for s in slept] == [0.1, 0.1]
