"""History import at two sizes, in a child process: throughput and peak RSS.

Peak RSS must stay flat as the input grows (the command streams its file line by line); the
events are WeChat `message_in` lines, each going through the live ingestion code.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

from .harness import Result, bench_database_url

SIZES = {"small": (500, 2_500), "default": (2_000, 10_000)}
APPID = "wxbenchimport0001"


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


def import_file(path: str) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of `manage.py import_history path` in a child process."""
    env = {**os.environ, "DATABASE_URL": bench_database_url(), "CELERY_TASK_ALWAYS_EAGER": "1"}
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "manage.py", "import_history", path, "--quiet-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    _pid, status, usage = os.wait4(child.pid, 0)
    if status:
        raise SystemExit(f"import_history failed with status {status}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


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
    return [
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
