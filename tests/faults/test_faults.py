"""Faults survived, counted exactly: Redis stopped mid-burst, PostgreSQL stopped, a worker
killed with SIGKILL. Black-box: the real web server and a real Celery worker run as child
processes against a throwaway PostgreSQL and Redis that these tests start and stop themselves
(never the shared ones the rest of the suite uses). WeChat pushes go over HTTP, signed.
"""

import hashlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg2
import pytest

from tests import services

pytestmark = pytest.mark.faults
ROOT = Path(__file__).resolve().parents[2]
APPID, TOKEN = "wxfault000000001", "fault-token"


def wait(predicate, seconds: float = 60, step: float = 0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(
        f"timed out after {seconds} s waiting for {predicate.__doc__ or predicate}"
    )


class Stack:
    """Throwaway PostgreSQL and Redis, the web server and a Celery worker, all restartable."""

    def __init__(self, tmp: Path):
        self.cleanup: list = []
        self.tmp = tmp
        info: dict = {}
        url = services.start_postgres(self.cleanup, info)
        if not url:
            pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
        self.pg_port, self.pg_data = info["port"], info["data"]
        self.pg_url = url
        admin = psycopg2.connect(
            dbname="postgres", user="postgres", host="127.0.0.1", port=self.pg_port
        )
        admin.autocommit = True
        admin.cursor().execute("CREATE DATABASE crm")
        admin.close()
        self.redis_port = services.free_port()
        self.redis = None
        self.start_redis()
        self.web_port = services.free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": self.pg_url,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "DB_CONN_MAX_AGE": "0",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "WECHAT_API_BASE": "http://127.0.0.1:9",  # nothing listens: user-info fetches fail fast
            "PYTHONUNBUFFERED": "1",
            # Small drains, so that a worker killed while processing is killed between batches
            # (crm.ingestion): some stored, the rest pending.
            "RAW_DELIVERY_BATCH_SIZE": "5",
        }
        self.manage("migrate", "--verbosity", "0")
        self.manage(
            "shell",
            "-c",
            "from channels_wechat.models import OfficialAccount as A; "
            f"A.objects.create(appid='{APPID}', name='故障号', app_secret='s', token='{TOKEN}', "
            "mode='plaintext')",
        )
        self.web = None
        self.worker = None
        self.start_web()
        self.start_worker()

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    def start_redis(self):
        self.redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        assert services.wait_for("127.0.0.1", self.redis_port)

    def stop_redis(self):
        self.redis.terminate()
        self.redis.wait(10)

    def pg_ctl(self, action: str):
        pg_ctl = services.find_binary("pg_ctl")
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        data = self.pg_data
        options = (
            f"-p {self.pg_port} -k {Path(data).parent} -c listen_addresses=127.0.0.1 -c fsync=off"
        )
        args = [pg_ctl, "-D", data, "-w", "-m", "fast", action]
        if action == "start":
            args = [
                pg_ctl,
                "-D",
                data,
                "-w",
                "-l",
                str(Path(data).parent / "log"),
                "-o",
                options,
                "start",
            ]
        subprocess.run(prefix + args, check=True, stdout=subprocess.DEVNULL)

    def start_web(self):
        self.web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "crm.wsgi",
                "-w",
                "2",
                "-b",
                f"127.0.0.1:{self.web_port}",
                "--timeout",
                "30",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / "web.log", "ab"),
        )
        assert services.wait_for("127.0.0.1", self.web_port, 30)

    def start_worker(self):
        self.worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "crm",
                "worker",
                "-c",
                "2",
                "-l",
                "warning",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / "worker.log", "ab"),
            start_new_session=True,
        )

    def push(
        self, msg_id: int, text: str = "你好，订单到哪了？", openid: str = ""
    ) -> tuple[int, str]:
        # A new nonce per attempt, as for a retry WeChat signs again: an identical request
        # is the same signed push, answered without storing it again.
        timestamp, nonce = str(int(time.time())), f"{msg_id}{int.from_bytes(os.urandom(3))}"
        signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()
        body = (
            f"<xml><ToUserName><![CDATA[gh_fault]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid or f'oFault{msg_id % 7}'}]]></FromUserName>"
            f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
        ).encode()
        url = (
            f"http://127.0.0.1:{self.web_port}/hooks/wechat/{APPID}"
            f"?signature={signature}&timestamp={timestamp}&nonce={nonce}"
        )
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "text/xml"})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def query(self, sql: str, params=()):
        with psycopg2.connect(self.pg_url) as connection, connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    def stored(self, first: int, last: int) -> tuple[int, int]:
        """(raw deliveries, inbound messages) for MsgIds first..last."""
        ids = [str(i) for i in range(first, last + 1)]
        messages = self.query(
            "SELECT COUNT(*) FROM crm_message WHERE platform_msg_id = ANY(%s)", (ids,)
        )
        raw = self.query(
            "SELECT COUNT(*) FROM crm_rawdelivery WHERE source = 'wechat' "
            "AND convert_from(body, 'UTF8') ~ %s",
            (f"<MsgId>({'|'.join(ids)})</MsgId>",),
        )
        return raw, messages

    def sweep(self):
        self.manage(
            "shell",
            "-c",
            "from crm.ingestion import sweep_raw_deliveries; sweep_raw_deliveries(older_than_seconds=0)",
        )

    def close(self):
        for proc in (self.web, self.worker, self.redis):
            if proc and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for step in reversed(self.cleanup):
            step()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("faults"))
    yield stack
    stack.close()


def test_redis_stopped_mid_burst_loses_nothing(stack):
    answers = [stack.push(i) for i in range(1000, 1020)]
    stack.stop_redis()
    began = time.monotonic()
    answers += [stack.push(i) for i in range(1020, 1050)]  # broker down: store and answer
    slowest = (time.monotonic() - began) / 30
    assert answers == [(200, "success")] * 50
    assert slowest < 2, f"{slowest:.1f} s per push with the broker down: WeChat allows 5"
    assert stack.stored(1000, 1049)[0] == 50
    stack.start_redis()
    stack.start_worker() if stack.worker.poll() is not None else None
    stack.sweep()

    def all_processed():
        """50 messages stored from 50 pushes"""
        return stack.stored(1000, 1049) == (50, 50)

    wait(all_processed, 120)


def test_postgres_stopped_hooks_answer_5xx_never_success(stack):
    stack.pg_ctl("stop")
    try:
        down = [stack.push(i) for i in range(2000, 2010)]
    finally:
        stack.pg_ctl("start")
    assert [status for status, _ in down] == [500] * 10
    assert all(body != "success" for _, body in down)
    # WeChat retries each push; now they are stored once and processed once.
    assert [stack.push(i) for i in range(2000, 2010)] == [(200, "success")] * 10
    again = [stack.push(i) for i in range(2000, 2010)]  # a second retry: deduplicated
    assert again == [(200, "success")] * 10

    def processed():
        """10 messages from 10 pushes, each retried"""
        return stack.stored(2000, 2009)[1] == 10

    wait(processed, 120)
    assert stack.stored(2000, 2009) == (20, 10)  # two stored deliveries each, one message each


def test_worker_killed_mid_batch_loses_and_doubles_nothing(stack):
    # A follower whose row this test keeps locked writes in the middle of the batch: the worker
    # processes the batches before it, blocks in that one, and is killed there. (Killing after
    # "20 processed" raced with a worker that had finished all 200 by the time the kill landed.)
    assert stack.push(2999, openid="oFaultHeld") == (200, "success")
    wait(lambda: stack.stored(2999, 2999) == (1, 1), 120)
    os.killpg(stack.worker.pid, signal.SIGKILL)
    stack.worker.wait(10)
    for i in range(3000, 3200):
        assert stack.push(i, openid="oFaultHeld" if i == 3100 else "") == (200, "success")
    held = psycopg2.connect(stack.pg_url)
    try:
        held.cursor().execute(
            "SELECT id FROM channels_wechat_wechatuser WHERE openid = 'oFaultHeld' FOR UPDATE"
        )
        stack.start_worker()
        # A drain killed with its worker holds its flag for a few seconds, and pushes in that
        # time request none: the beat's sweep (every minute) hands those to the new worker.
        stack.sweep()

        def blocked():
            """the worker has processed some pushes and waits for the held follower"""
            waiting = stack.query(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            )
            return waiting and stack.stored(3000, 3199)[1] >= 20

        wait(blocked, 120, 0.05)
        os.killpg(stack.worker.pid, signal.SIGKILL)
        stack.worker.wait(10)
    finally:
        held.rollback()
        held.close()
    partial = stack.stored(3000, 3199)[1]
    stack.start_worker()
    stack.sweep()  # what the killed worker held is published again; processing is idempotent

    def all_processed():
        """200 messages from 200 pushes"""
        return stack.stored(3000, 3199) == (200, 200)

    wait(all_processed, 180)
    assert 20 <= partial < 200
    assert (
        stack.query(
            "SELECT COUNT(*) FROM (SELECT platform_msg_id FROM crm_message "
            "GROUP BY channel, account, platform_msg_id HAVING COUNT(*) > 1) d"
        )
        == 0
    )
