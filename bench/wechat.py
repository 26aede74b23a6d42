"""WeChat processing over the real stack: Celery workers as child processes against the
benchmark database and Redis (issue 7). The webhooks themselves: bench.webhooks (issue 17).

N stored pushes (bodies exactly as the hook stores them) and a drain requested as the hook
requests it, processed by `celery -A crm worker -c 2` (prefork) into followers, customers,
conversations, messages and timeline interactions (crm.ingestion drains: batches of
RAW_DELIVERY_BATCH_SIZE in one transaction). Goal: at least 2,000 messages/s.

Needs PostgreSQL (bench.harness) and Redis (REDIS_URL). `make_pushes` and `_load` also serve
bench.webhooks and bench.scaling.
"""

import http.client
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

from .harness import Result, progress

ROOT = Path(__file__).resolve().parents[1]
APPID = "wxbench00000000001"
ORIGINAL_ID = "gh_bench0000001"
TOKEN = "bench-token-2026"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"  # 43 characters, as the console gives
CONNECTIONS = 50
TEXTS = [
    "你好，我的订单到哪了？",
    "请问这款精华液敏感肌可以用吗",
    "发票怎么开",
    "什么时候发货呀",
    "收到的瓶子漏了，要求退换",
    "会员积分怎么兑换",
    "直播间的优惠券还能用吗？",
    "谢谢客服，问题解决了👍",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen | None) -> None:
    """Stop a child started in its own session, and everything it forked."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _child_env() -> dict[str, str]:
    # DATABASE_URL is already the benchmark database (harness.setup_django set it).
    return {
        **os.environ,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        # Production's persistent connections: tests/services.py sets 0 for the test suite's
        # live servers, and a new PostgreSQL backend per request cost the hooks 5.6 ms of CPU
        # each (209 req/s against 1,758 for the baseline, which keeps its connection).
        "DB_CONN_MAX_AGE": "60",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "WECHAT_API_BASE": "http://127.0.0.1:9",  # nothing listens: no call leaves the machine
        "PYTHONUNBUFFERED": "1",
    }


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def make_pushes(first_msg_id: int, count: int, openids: int, seed: int = 7) -> list[dict]:
    """`count` safe-mode text pushes as WeChat sends them: (query, body) with distinct MsgIds."""
    import random

    from channels_wechat import protocol

    rng = random.Random(seed)
    timestamp = str(int(time.time()))
    pushes = []
    for n in range(count):
        msg_id = first_msg_id + n
        openid = f"oBench{rng.randrange(openids):06d}Xq3vT9"
        xml = (
            f"<xml><ToUserName>{protocol.cdata(ORIGINAL_ID)}</ToUserName>"
            f"<FromUserName>{protocol.cdata(openid)}</FromUserName>"
            f"<CreateTime>{int(timestamp) - count + n}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{protocol.cdata(rng.choice(TEXTS))}</Content>"
            f"<MsgId>{msg_id}</MsgId></xml>"
        )
        nonce = str(rng.randrange(10**9, 10**10))
        ciphertext = protocol.encrypt(AES_KEY, xml, APPID)
        query = {
            "signature": protocol.sha1_signature(TOKEN, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": openid,
            "encrypt_type": "aes",
            "msg_signature": protocol.msg_signature(TOKEN, timestamp, nonce, ciphertext),
        }
        body = (
            f"<xml><ToUserName>{protocol.cdata(ORIGINAL_ID)}</ToUserName>"
            f"<Encrypt>{protocol.cdata(ciphertext)}</Encrypt></xml>"
        ).encode()
        pushes.append({"query": query, "body": body})
    return pushes


def _load(port: int, requests: list[tuple[str, bytes]], connections: int = CONNECTIONS):
    """POST every request over `connections` keep-alive connections, as fast as answered.

    Returns (seconds, latencies in s, errors).
    """
    counter = itertools.count()
    latencies = [0.0] * len(requests)
    errors: list[str] = []
    start_gate = threading.Barrier(connections + 1)
    headers = {"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0"}

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.connect()
        start_gate.wait()
        while (i := next(counter)) < len(requests):
            url, body = requests[i]
            began = time.perf_counter()
            try:
                conn.request("POST", url, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()  # http.client opens a new connection on the next request
                continue
            latencies[i] = time.perf_counter() - began
            if response.status != 200 or data not in (b"success", b""):
                errors.append(f"{response.status} {data[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, latencies, errors


def store_pushes(pushes: list[dict]) -> list[int]:
    """Store pushes as the hook would (store_raw_delivery's fields), in bulk; their ids."""
    from crm.models import RawDelivery

    headers = {
        "Host": "127.0.0.1",
        "Content-Type": "text/xml",
        "User-Agent": "Mozilla/4.0",
        "Accept-Encoding": "identity",
    }
    rows = [
        RawDelivery(
            source="wechat",
            account=APPID,
            method="POST",
            path=f"/hooks/wechat/{APPID}",
            query=p["query"],
            headers={**headers, "Content-Length": str(len(p["body"]))},
            body=p["body"],
            remote_addr="127.0.0.1",
        )
        for p in pushes
    ]
    created = RawDelivery.objects.bulk_create(rows, batch_size=2000)
    return [row.pk for row in created]


def bench_processing(count: int, logs: Path) -> list[Result]:
    from celery import current_app
    from celery.exceptions import AlwaysEagerIgnored
    from django.db.models import Max, Min

    from channels_wechat.models import WeChatUser
    from crm import ingestion
    from crm.models import Conversation, Interaction, InteractionKind, Message, RawDelivery

    openids = max(count // 20, 50)
    ids = store_pushes(make_pushes(20_000_000, count, openids=openids, seed=8))
    first, last = min(ids), max(ids)
    # The queue is filled first, so the figure is the workers' pace, not the publisher's: the
    # pushes are stored, then a drain is requested as the hook requests it after each push.
    # (send_task publishes even though this process runs tasks inline.)
    ingestion.clear_drain_request("wechat")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlwaysEagerIgnored)
        current_app.send_task(ingestion.DRAIN_TASK, args=["wechat"], ignore_result=True)
    rows = RawDelivery.objects.filter(pk__gte=first, pk__lte=last, source="wechat")
    log = logs / "worker.log"
    worker = None
    try:
        began = time.perf_counter()
        worker = subprocess.Popen(
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
                "-l",
                "warning",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=_child_env(),
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab"),
            start_new_session=True,
        )
        deadline = time.monotonic() + max(300, count / 50)
        done = 0
        while done < count:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(
                    f"processed {done:,} of {count:,} before giving up:\n{_log_tail(log)}"
                )
            time.sleep(0.5)
            done = rows.exclude(status=RawDelivery.Status.PENDING).count()
            progress("wechat processing", done, count)
        wall = time.perf_counter() - began
    finally:
        _stop(worker)
    failed = rows.exclude(status=RawDelivery.Status.PROCESSED).count()
    assert failed == 0, (failed, _log_tail(log))
    messages = Message.objects.filter(account=APPID, direction="in").count()
    assert messages == count, ("messages", messages, "deliveries", count)
    conversations = Conversation.objects.filter(account=APPID).count()
    followers = WeChatUser.objects.filter(account__appid=APPID)
    timeline = Interaction.objects.filter(
        kind=InteractionKind.MESSAGE_IN, customer__in=followers.values("customer")
    ).count()
    assert timeline == count, ("interactions", timeline, "deliveries", count)
    span = rows.aggregate(first=Min("processed_at"), last=Max("processed_at"))
    seconds = (span["last"] - span["first"]).total_seconds()
    # Rows of a batch share its processed_at: those of the first batch done are not in the span.
    rate = (count - rows.filter(processed_at=span["first"]).count()) / seconds
    return [
        Result(
            "wechat processing: raw push -> message, conversation, timeline",
            rate,
            "msg/s",
            goal="abs:>=2000",
            notes=(
                f"{count:,} queued safe-mode pushes from {openids:,} new followers, "
                f"celery -c 2 prefork; first to last processed_at; "
                f"{count / wall:,.0f} msg/s counting worker start-up; "
                f"{conversations:,} conversations"
            ),
            extra={"seconds": round(seconds, 2), "wall_seconds": round(wall, 2)},
        )
    ]


def run(scale) -> list[Result]:
    from celery import current_app

    from channels_wechat.models import OfficialAccount

    if not os.environ.get("REDIS_URL"):
        raise SystemExit("the WeChat benchmarks need Redis: set REDIS_URL")
    default = scale.get("messages", 0) >= 1_000_000
    count = 20_000 if default else 2_000
    OfficialAccount.objects.get_or_create(  # bench.webhooks may have made it
        appid=APPID,
        defaults={
            "original_id": ORIGINAL_ID,
            "name": "花漾美妆服务号",
            "app_secret": "bench-secret-0123456789abcdef",
            "token": TOKEN,
            "encoding_aes_key": AES_KEY,
            "mode": "safe",
        },
    )
    logs = Path(tempfile.mkdtemp(prefix="bench-wechat-"))
    # Anything queued before (bench.webhooks) is dropped: this figure counts its own work.
    current_app.control.purge()
    return bench_processing(count, logs)
