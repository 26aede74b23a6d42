"""Peak RSS at two input sizes (issue 7: it must stay flat as the input grows), each in a child
process measured with wait4:

1. The history import (`manage.py import_history`), which streams its file line by line; the
   events are WeChat `message_in` lines, each going through the live ingestion code. Also its
   throughput at both sizes.
2. A Celery worker (`celery -A crm worker -P solo`: the worker process does the work) processing
   N stored WeChat text pushes, published as the hook publishes them
   (`crm.ingestion.enqueue_delivery`), into followers, customers, conversations, messages and
   timeline rows. Its own official account, so the WeChat benchmark's counts are untouched.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

from .harness import Result, bench_database_url, progress, set_eager

SIZES = {"small": (500, 2_500), "default": (2_000, 10_000)}
APPID = "wxbenchimport0001"
WORKER_APPID = "wxbenchworker0001"
WORKER_ORIGINAL_ID = "gh_benchworker01"


def write_events(path: str, count: int, offset: int) -> None:
    from django.utils import timezone

    start = timezone.now() - timedelta(days=20)
    with open(path, "w", encoding="utf-8") as out:
        for i in range(count):
            n = offset + i
            out.write(
                json.dumps(
                    {
                        "type": "message_in",
                        "ts": (start + timedelta(seconds=37 * n)).isoformat(),
                        "account": APPID,
                        "openid": f"oImport{n % 5000}",
                        "unionid": f"union-import-{n % 5000}",
                        "msg_id": str(9 * 10**17 + n),
                        "msg_type": "text",
                        "content": "你好，想问一下会员积分怎么兑换？",
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )


# A child forked from this (large) process inherits its high-water mark: wait4's ru_maxrss
# would report this process's peak, not the child's. So the child reports its own VmHWM (the
# peak of the memory it has since exec) at exit, into the file BENCH_PEAK_FILE names.
PEAK = """
import atexit, os, runpy, sys

def report():
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    with open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write(str(kib))

atexit.register(report)
sys.argv = sys.argv[1:]
if sys.argv[0].endswith(".py"):
    runpy.run_path(sys.argv[0], run_name="__main__")
else:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def with_peak(command: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str], str]:
    """The child command run through PEAK, its environment, and the file it reports to."""
    fd, path = tempfile.mkstemp(prefix="bench-peak-")
    os.close(fd)
    return [sys.executable, "-c", PEAK, *command], {**env, "BENCH_PEAK_FILE": path}, path


def read_peak(path: str, fallback_kib: float) -> float:
    """MiB the child reported, or wait4's figure if it could not (no /proc)."""
    try:
        with open(path) as f:
            text = f.read().strip()
        os.unlink(path)
        return int(text) / 1024
    except (OSError, ValueError):
        return fallback_kib / 1024


def import_file(path: str) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of `manage.py import_history path` in a child process."""
    env = {**os.environ, "DATABASE_URL": bench_database_url(), "CELERY_TASK_ALWAYS_EAGER": "1"}
    command, env, peak = with_peak(["manage.py", "import_history", path, "--quiet-progress"], env)
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(child.pid, 0)
    if status:
        raise SystemExit(f"import_history failed with status {status}")
    return time.perf_counter() - start, read_peak(peak, usage.ru_maxrss)


def store_pushes(first: int, count: int) -> list[int]:
    """`count` plaintext-mode text pushes to WORKER_APPID stored as the hook stores them, from
    count // 4 followers with OpenIDs and MsgIds from `first`; their ids."""
    from channels_wechat import protocol
    from crm.models import RawDelivery

    now = int(time.time())
    rows = []
    for n in range(first, first + count):
        openid = f"oWorker{first + n % max(count // 4, 1):08d}"
        body = (
            f"<xml><ToUserName>{protocol.cdata(WORKER_ORIGINAL_ID)}</ToUserName>"
            f"<FromUserName>{protocol.cdata(openid)}</FromUserName>"
            f"<CreateTime>{now - count + n - first}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{protocol.cdata('请问会员积分怎么兑换？')}</Content>"
            f"<MsgId>{8 * 10**17 + n}</MsgId></xml>"
        ).encode()
        rows.append(
            RawDelivery(
                source="wechat",
                account=WORKER_APPID,
                method="POST",
                path=f"/hooks/wechat/{WORKER_APPID}",
                query={"timestamp": str(now), "nonce": str(n), "openid": openid},
                headers={"Content-Type": "text/xml", "Content-Length": str(len(body))},
                body=body,
                remote_addr="127.0.0.1",
            )
        )
    return [row.pk for row in RawDelivery.objects.bulk_create(rows, batch_size=2000)]


def process_in_worker(ids: list[int]) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of a solo Celery worker processing the stored pushes `ids`."""
    from celery import current_app

    from crm import ingestion
    from crm.models import RawDelivery

    current_app.control.purge()
    # The purge dropped any queued drain: its "drain requested" flag would publish nothing.
    clear = getattr(ingestion, "clear_drain_request", None)
    if clear is not None:
        clear("wechat")
    eager = set_eager(False)
    try:
        for pk in ids:
            ingestion.enqueue_delivery(RawDelivery(pk=pk, source="wechat"))
    finally:
        set_eager(eager)
    env = {
        **os.environ,
        "DATABASE_URL": bench_database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "WECHAT_API_BASE": "http://127.0.0.1:9",  # nothing listens: no call leaves the machine
    }
    rows = RawDelivery.objects.filter(pk__in=ids)
    command, env, peak = with_peak(
        ["celery", "-A", "crm", "worker", "-P", "solo", "-l", "warning"]
        + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
        env,
    )
    start = time.perf_counter()
    worker = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + max(120, len(ids) / 20)
        done = 0
        while done < len(ids):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"the worker processed {done:,} of {len(ids):,}")
            time.sleep(0.5)
            done = rows.exclude(status=RawDelivery.Status.PENDING).count()
            progress("worker", done, len(ids))
        seconds = time.perf_counter() - start
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)  # warm shutdown
    _pid, _status, usage = os.wait4(worker.pid, 0)
    failed = rows.exclude(status=RawDelivery.Status.PROCESSED).count()
    assert failed == 0, ("worker: deliveries not processed", failed)
    return seconds, read_peak(peak, usage.ru_maxrss)


def run(scale) -> list[Result]:
    from channels_wechat.models import OfficialAccount

    OfficialAccount.objects.get_or_create(
        appid=APPID, defaults={"name": "导入基准号", "mode": "plaintext"}
    )
    small, large = SIZES["default" if scale["messages"] >= 1_000_000 else "small"]
    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        offset = 0
        for size in (small, large):
            path = os.path.join(folder, f"events-{size}.jsonl")
            write_events(path, size, offset)
            offset += size
            figures[size] = import_file(path)
    (t_small, rss_small), (t_large, rss_large) = figures[small], figures[large]
    OfficialAccount.objects.get_or_create(
        appid=WORKER_APPID,
        defaults={"original_id": WORKER_ORIGINAL_ID, "name": "内存基准号", "mode": "plaintext"},
    )
    workers = {}
    first = 0
    for size in (small, large):
        workers[size] = process_in_worker(store_pushes(first, size))
        first += size
    (w_small, wrss_small), (w_large, wrss_large) = workers[small], workers[large]
    return [
        Result(
            f"worker peak RSS at {large:,} pushes",
            wrss_large,
            "MiB",
            wrss_small,
            f"at {small:,} pushes",
            goal="ratio:<=1.2",
            notes=(
                "celery -P solo, WeChat text pushes published as the hook does; "
                f"{small / w_small:,.0f} and {large / w_large:,.0f} msg/s counting start-up"
            ),
        ),
        Result(
            f"import_history peak RSS at {large:,} events",
            rss_large,
            "MiB",
            rss_small,
            f"at {small:,} events",
            goal="ratio:<=1.2",
        ),
        Result(
            f"import_history throughput at {large:,} events",
            large / t_large,
            "events/s",
            small / t_small,
            f"at {small:,} events",
            goal="ratio:>=0.8",
            notes="each event through the live WeChat ingestion (user, customer, conversation)",
        ),
    ]
