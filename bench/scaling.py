"""Scaling: WeChat ingestion throughput with 10,000,000 messages in the table against 100,000
(issue 7: at least 0.8 of it, so the cost per message does not grow with the table).

`python -m bench scaling` (or `make bench-scale`): generates a database holding about 100,000
messages (DATA_SCALES), then for each size stores the same number of new safe-mode text pushes
as the hook stores them (bench.wechat's make_pushes/store_pushes) and processes them in this
process with the code the workers run: `crm.ingestion.drain("wechat")` where WeChat has a batch
processor, else `process_wechat_delivery_task(pk)` per delivery (the task's function, not a
Celery publish). Raw deliveries become followers, customers, messages, conversations and
timeline rows. Between the two sizes the message table is filled to 10,000,000 with COPY
(bench.generate.add_messages), then VACUUM ANALYZE, as a table that size would be in service.

Each size runs a warm-up batch, then the measured batch (new followers, distinct MsgIds); peak
RSS is this process's high-water mark during the measured batch (reset through
/proc/self/clear_refs). Not in the default `make bench`: the 10M load takes a while.
"""

from __future__ import annotations

import os
import sys
import time

from .harness import Result, set_eager

# Generator parameters of the starting database, by --scale.
DATA_SCALES = {
    "default": {"customers": 100_000, "conversations": 10_000, "messages": 100_000},
    "small": {"customers": 20_000, "conversations": 2_000, "messages": 20_000},
}
# Messages in the table at the second measurement, by --scale.
LARGE = {"default": 10_000_000, "small": 400_000}
BATCH = 5_000
ROUNDS = 3  # the median of three batches: one batch of 3 s swings with the machine
WARMUP = 500


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mib() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _processor():
    """(label, callable processing every pending WeChat delivery among `ids`)."""
    from crm import ingestion

    if hasattr(ingestion, "drain") and "wechat" in getattr(ingestion, "BATCH_PROCESSORS", {}):
        return "crm.ingestion.drain('wechat')", lambda ids: ingestion.drain("wechat")

    from channels_wechat.tasks import process_wechat_delivery_task

    def one_by_one(ids: list[int]) -> int:
        for pk in ids:
            process_wechat_delivery_task(pk)
        return len(ids)

    return "process_wechat_delivery_task(pk) per delivery", one_by_one


def _message_count() -> int:
    from django.db import connection

    from crm.models import Message

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {Message._meta.db_table}")
        return cursor.fetchone()[0]


def _measure(label: str, first_msg_id: int, seed: int) -> dict:
    """Warm up, then store and process BATCH new pushes ROUNDS times; the median msg/s, its
    seconds and the peak RSS over the rounds."""
    from crm.models import Message, RawDelivery

    from .wechat import APPID, make_pushes, store_pushes

    how, process = _processor()
    warm = store_pushes(make_pushes(first_msg_id, WARMUP, openids=1_000_000, seed=seed))
    process(warm)
    in_table = _message_count()
    reset = _reset_peak_rss()
    rates = []
    for round_ in range(ROUNDS):
        first = first_msg_id + WARMUP + round_ * BATCH
        ids = store_pushes(make_pushes(first, BATCH, openids=1_000_000, seed=seed + 1 + round_))
        before = Message.objects.filter(account=APPID, direction="in").count()
        start = time.perf_counter()
        process(ids)
        seconds = time.perf_counter() - start
        rows = RawDelivery.objects.filter(pk__in=ids)
        failed = rows.exclude(status=RawDelivery.Status.PROCESSED).count()
        assert failed == 0, (label, "deliveries not processed", failed)
        added = Message.objects.filter(account=APPID, direction="in").count() - before
        assert added == BATCH, (label, "messages added", added, "pushes", BATCH)
        rates.append(BATCH / seconds)
    rss = _peak_rss_mib() if reset else None
    rate = sorted(rates)[len(rates) // 2]
    figures = {
        "messages_in_table": in_table,
        "rate": rate,
        "rates": [round(r) for r in rates],
        "seconds": round(BATCH / rate, 2),
        "peak_rss_mib": round(rss, 1) if rss is not None else None,
        "processor": how,
    }
    sys.stderr.write(f"scaling {label}: {figures}\n")
    return figures


def run(scale) -> list[Result]:
    from celery import current_app
    from django.conf import settings
    from django.db import connection

    from channels_wechat.models import OfficialAccount
    from crm.models import Conversation, Interaction, Message

    from .generate import add_messages
    from .wechat import AES_KEY, APPID, ORIGINAL_ID, TOKEN

    size = "default" if scale["messages"] >= DATA_SCALES["default"]["messages"] else "small"
    large = LARGE[size]
    OfficialAccount.objects.get_or_create(
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
    # As in a worker: follow-up tasks (user info, welcome messages) are published, not run here;
    # with Redis they queue on the broker, and no call leaves the machine.
    set_eager(False)
    settings.WECHAT_API_BASE = "http://127.0.0.1:9"
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("the scaling benchmark needs Redis: set REDIS_URL")

    small = _measure("small table", 40_000_000, seed=31)
    missing = large - _message_count()
    loaded_in = 0.0
    if missing > 0:
        sys.stderr.write(f"loading {missing:,} messages\n")
        started = time.perf_counter()
        add_messages(missing, account=APPID)
        with connection.cursor() as cursor:
            for model in (Message, Conversation, Interaction):
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
        loaded_in = time.perf_counter() - started
        sys.stderr.write(f"loaded {missing:,} messages in {loaded_in:.0f} s\n")
    big = _measure("large table", 60_000_000, seed=41)
    current_app.control.purge()
    note = (
        f"median of {ROUNDS} batches of {BATCH:,} new safe-mode pushes (new followers), in "
        f"process with {small['processor']}; "
        f"{WARMUP} warm-up pushes first at each size; {missing:,} messages loaded by COPY in "
        f"{loaded_in:.0f} s, then VACUUM ANALYZE"
    )
    results = [
        Result(
            f"scaling: wechat ingestion at {big['messages_in_table']:,} messages",
            big["rate"],
            "msg/s",
            small["rate"],
            f"at {small['messages_in_table']:,} messages",
            "ratio:>=0.8",
            note,
            extra={"small": small, "large": big, "load_seconds": round(loaded_in, 1)},
        )
    ]
    if small["peak_rss_mib"] is not None and big["peak_rss_mib"] is not None:
        results.append(
            Result(
                f"scaling: peak RSS processing {BATCH:,} pushes at "
                f"{big['messages_in_table']:,} messages",
                big["peak_rss_mib"],
                "MiB",
                small["peak_rss_mib"],
                f"at {small['messages_in_table']:,} messages",
                "ratio:<=1.2",
                "this process's high-water mark during the measured batch",
            )
        )
    return results
