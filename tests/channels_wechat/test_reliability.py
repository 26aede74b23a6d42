"""Nothing stored is lost, nothing is done twice: a stopped broker and a killed worker.

These tests run a real Redis broker (started here, on a free port) and real Celery worker
processes against the test database, and push through the real webhook.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time

import kombu.pools
import psycopg2
import pytest
from celery import current_app
from django.conf import settings
from django.db import connection
from django.test import Client

from channels_wechat.models import WeChatUser
from crm import ingestion
from crm.models import Message, RawDelivery
from tests.services import free_port, wait_for

from .conftest import post_push, push_xml

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]


class Broker:
    """A throwaway Redis that can be stopped and started again on the same port."""

    def __init__(self):
        self.port = free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        assert wait_for("127.0.0.1", self.port)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def broker(monkeypatch):
    """The Celery app publishing to a real broker (not inline); restored afterwards."""
    broker = Broker()
    conf = current_app.conf
    # The namespaced keys: once the configuration is read, setting `conf.broker_url` changes
    # nothing with namespace="CELERY" (crm/celery.py), and the test would run eagerly.
    saved = (conf["CELERY_BROKER_URL"], conf["CELERY_TASK_ALWAYS_EAGER"])
    conf["CELERY_BROKER_URL"], conf["CELERY_TASK_ALWAYS_EAGER"] = broker.url, False
    assert (conf.broker_url, conf.task_always_eager) == (broker.url, False)
    drop_broker_connections()
    try:
        yield broker
    finally:
        # Eager again whatever happened: a test left publishing to a dead broker would fail
        # every later test of this process that processes a push.
        conf["CELERY_BROKER_URL"], conf["CELERY_TASK_ALWAYS_EAGER"] = saved
        # A drain killed with its worker leaves its request flagged; later (inline) pushes of
        # this process would wait for it to expire.
        ingestion.clear_drain_request("wechat")
        broker.stop()
        drop_broker_connections()


def drop_broker_connections() -> None:
    """Forget pooled connections, so the next publish connects to the configured broker.

    Celery caches both the connection pool and a producer pool bound to it, and kombu keeps
    producer pools in a global registry keyed by broker URL; a pool kept from an earlier test
    (whose broker may have had the same free port) would fail with "Acquire on closed pool".
    """
    if current_app._pool is not None:
        current_app._pool.force_close_all()
    current_app._pool = None
    current_app.amqp._producer_pool = None
    kombu.pools.reset()


def start_worker(broker: Broker, **extra_env: str) -> subprocess.Popen:
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        # The broker is this test's Redis; the cache (where drains are flagged) is shared with
        # the test process, as workers and web processes share it in production.
        "CELERY_BROKER_URL": broker.url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONPATH": str(settings.BASE_DIR),
        **extra_env,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "crm",
            "worker",
            "-c",
            "2",
            "-P",
            "prefork",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "warning",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)


def wait_processed(count: int, seconds: float = 120) -> int:
    deadline = time.monotonic() + seconds
    done = 0
    while time.monotonic() < deadline:
        done = RawDelivery.objects.filter(status="processed").count()
        if done >= count:
            return done
        time.sleep(0.2)
    return done


def push_many(n: int, prefix: str) -> None:
    client = Client()
    for i in range(n):
        xml = push_xml(
            openid=f"o{prefix}{i % 50:03d}", content=f"第{i}条消息", msg_id=f"{prefix}{i:06d}"
        )
        assert post_push(client, xml).content == b"success"
    connection.close()


def test_broker_stopped_during_1000_pushes_then_all_processed_exactly_once(account, broker):
    # The broker is down: every push is still stored and acknowledged.
    push_many(1000, "9")
    assert RawDelivery.objects.filter(status="pending").count() == 1000
    assert Message.objects.count() == 0
    broker.start()
    worker = start_worker(broker)
    try:
        assert ingestion.sweep_raw_deliveries(older_than_seconds=0, limit=5000) == 1000
        assert wait_processed(1000) == 1000
        # A second sweep (say the beat fired again) finds nothing left to do.
        assert ingestion.sweep_raw_deliveries(older_than_seconds=0, limit=5000) == 0
    finally:
        kill(worker)
    assert Message.objects.count() == 1000
    assert Message.objects.values("platform_msg_id").distinct().count() == 1000
    assert set(RawDelivery.objects.values_list("attempts", flat=True)) == {1}


def test_worker_killed_mid_batch_loses_and_doubles_nothing(account, broker):
    # One drain, 100 pushes per transaction; the fourth batch holds a push from a follower whose
    # row this test keeps locked, so the worker is inside that batch when it is killed.
    held = WeChatUser.objects.create(account=account, openid="o8held")
    broker.start()
    push_many(300, "8")
    client = Client()
    xml = push_xml(openid="o8held", content="我的订单到哪了", msg_id="8held")
    assert post_push(client, xml).content == b"success"
    push_many(299, "7")
    with holding_row_lock(held):
        worker = start_worker(broker, RAW_DELIVERY_BATCH_SIZE="100", RAW_DELIVERY_DRAINS="1")
        try:
            assert wait_processed(300) == 300
            time.sleep(1.0)
            assert RawDelivery.objects.filter(status="processed").count() == 300  # blocked
            kill(worker)  # SIGKILL inside the fourth batch's transaction
        except BaseException:
            kill(worker)
            raise
    # The killed batch rolled back whole: nothing of it was stored.
    assert Message.objects.count() == 300
    assert RawDelivery.objects.filter(status="pending").count() == 300
    worker = start_worker(broker, RAW_DELIVERY_BATCH_SIZE="100", RAW_DELIVERY_DRAINS="1")
    try:
        # The beat's sweep hands the unfinished rows to the new worker.
        assert ingestion.sweep_raw_deliveries(older_than_seconds=0, limit=5000) == 300
        assert wait_processed(600) == 600
    finally:
        kill(worker)
    assert Message.objects.count() == 600
    assert Message.objects.values("platform_msg_id").distinct().count() == 600
    assert RawDelivery.objects.exclude(status="processed").count() == 0
    assert set(RawDelivery.objects.values_list("attempts", flat=True)) == {1}


@contextlib.contextmanager
def holding_row_lock(user):
    """Keep the follower's row locked (SELECT ... FOR UPDATE) from another connection."""
    db = settings.DATABASES["default"]
    conn = psycopg2.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"])
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM channels_wechat_wechatuser WHERE id = %s FOR UPDATE", [user.pk]
            )
        yield
    finally:
        conn.rollback()
        conn.close()
