"""Chat media does not slow message processing (issue 19).

Runs of N stored safe-mode pushes each, processed by the same workers as bench/wechat.py
(`celery -A crm worker -c 2` prefork, batched drains), in the same run and on the same database,
alternating T P T P T:
- T, the baseline: text messages only;
- P: 20% picture messages (MsgType image with a MediaId the WeChat sandbox serves, a 480x360
  JPEG); each queues `download_media_task`, which fetches the picture through
  `cgi-bin/media/get`, makes its thumbnail and stores both.
Downloads go to their own queue (CHAT_MEDIA_QUEUE=media), consumed by one more worker process
at a lower CPU priority (`nice 10`), as README recommends for production; it runs during all
runs, and a download waits while 100 or more pushes are pending
(channels_wechat.media.ingestion_backlog). The sandbox, standing for WeChat's servers, runs as
a niced process. Goal: the mean processing throughput of the P runs at least 0.9 of the T runs'.
Also reported: how long after the last run the last picture was stored (downloads happen
"within minutes", not within the processing).

Needs PostgreSQL and Redis (REDIS_URL), like bench/wechat.py.
"""

import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

from .harness import Result, progress
from .wechat import ROOT, TEXTS, _child_env, _free_port, _log_tail, _stop, _wait_port

APPID = "wxbenchmedia000001"
ORIGINAL_ID = "gh_benchmedia01"
SECRET = "bench-media-secret-0123456789ab"
TOKEN = "bench-media-token"
AES_KEY = "mEdIaV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
PICTURE_SHARE = 0.2
ROUNDS = 3  # text runs; picture runs between them


def make_pushes(first_msg_id: int, count: int, openids: int, media_ids: list[str], seed: int):
    """`count` safe-mode pushes: a picture message for each media id (at random positions),
    text messages for the rest."""
    from channels_wechat import protocol

    rng = random.Random(seed)
    pictures = set(rng.sample(range(count), len(media_ids)))
    media = iter(media_ids)
    timestamp = str(int(time.time()))
    pushes = []
    for n in range(count):
        openid = f"oMedia{seed}{rng.randrange(openids):06d}Xq3"
        if n in pictures:
            body = (
                f"<MsgType><![CDATA[image]]></MsgType>"
                f"<PicUrl>{protocol.cdata('http://mmbiz.qpic.cn/bench/0')}</PicUrl>"
                f"<MediaId>{protocol.cdata(next(media))}</MediaId>"
            )
        else:
            body = (
                f"<MsgType><![CDATA[text]]></MsgType>"
                f"<Content>{protocol.cdata(rng.choice(TEXTS))}</Content>"
            )
        xml = (
            f"<xml><ToUserName>{protocol.cdata(ORIGINAL_ID)}</ToUserName>"
            f"<FromUserName>{protocol.cdata(openid)}</FromUserName>"
            f"<CreateTime>{int(timestamp) - count + n}</CreateTime>{body}"
            f"<MsgId>{first_msg_id + n}</MsgId></xml>"
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
        envelope = (
            f"<xml><ToUserName>{protocol.cdata(ORIGINAL_ID)}</ToUserName>"
            f"<Encrypt>{protocol.cdata(ciphertext)}</Encrypt></xml>"
        ).encode()
        pushes.append({"query": query, "body": envelope})
    return pushes


def store_pushes(pushes: list[dict]) -> list[int]:
    from crm.models import RawDelivery

    rows = [
        RawDelivery(
            source="wechat",
            account=APPID,
            method="POST",
            path=f"/hooks/wechat/{APPID}",
            query=p["query"],
            headers={"Host": "127.0.0.1", "Content-Type": "text/xml"},
            body=p["body"],
            remote_addr="127.0.0.1",
        )
        for p in pushes
    ]
    return [row.pk for row in RawDelivery.objects.bulk_create(rows, batch_size=2000)]


def _rates(runs: list[dict]) -> str:
    return ", ".join(f"{run['rate']:,.0f}" for run in runs)


def _post(base: str, path: str, payload: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310  the benchmark's own sandbox
        f"{base}{path}",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


def _worker(queues: str, concurrency: int, env: dict, log: Path, nice: int = 0):
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "crm",
        "worker",
        "-Q",
        queues,
        "-c",
        str(concurrency),
        "-P",
        "prefork",
        "-l",
        "warning",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        f"{queues}-{os.getpid()}@%h",
    ]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    return subprocess.Popen(  # noqa: S603
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        start_new_session=True,
    )


def _process(label: str, pushes: list[dict], env: dict, logs: Path) -> dict:
    """Process the pushes with a fresh processing worker; the rate as bench/wechat.py measures
    it (first to last processed_at, the first batch left out)."""
    from celery import current_app
    from celery.exceptions import AlwaysEagerIgnored
    from django.db.models import Max, Min

    from crm import ingestion
    from crm.models import RawDelivery

    count = len(pushes)
    ids = store_pushes(pushes)
    rows = RawDelivery.objects.filter(pk__gte=min(ids), pk__lte=max(ids), source="wechat")
    ingestion.clear_drain_request("wechat")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlwaysEagerIgnored)
        current_app.send_task(ingestion.DRAIN_TASK, args=["wechat"], ignore_result=True)
    log = logs / f"worker-{label}.log"
    worker = None
    try:
        worker = _worker("celery", 2, env, log)
        deadline = time.monotonic() + max(300, count / 20)
        done = 0
        while done < count:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"processed {done:,} of {count:,}:\n{_log_tail(log)}")
            time.sleep(0.5)
            done = rows.exclude(status=RawDelivery.Status.PENDING).count()
            progress(f"media bench {label}", done, count)
        # The last batch publishes its downloads once its transaction commits: let it.
        time.sleep(3)
    finally:
        _stop(worker)
    failed = rows.exclude(status=RawDelivery.Status.PROCESSED).count()
    assert failed == 0, (failed, _log_tail(log))
    span = rows.aggregate(first=Min("processed_at"), last=Max("processed_at"))
    seconds = (span["last"] - span["first"]).total_seconds()
    rate = (count - rows.filter(processed_at=span["first"]).count()) / seconds
    return {"rate": rate, "seconds": seconds, "last": span["last"]}


def run(scale) -> list[Result]:
    from celery import current_app

    from channels_wechat.models import OfficialAccount
    from crm.models import Message, MessageMedia
    from devtools.sandboxes.wechat_media import sample_image

    if not os.environ.get("REDIS_URL"):
        raise SystemExit("the media benchmark needs Redis: set REDIS_URL")
    default = scale.get("messages", 0) >= 1_000_000
    count = 10_000 if default else 2_000
    openids = max(count // 20, 50)
    OfficialAccount.objects.get_or_create(
        appid=APPID,
        defaults={
            "original_id": ORIGINAL_ID,
            "name": "花漾美妆图片测试号",
            "app_secret": SECRET,
            "token": TOKEN,
            "encoding_aes_key": AES_KEY,
            "mode": "safe",
        },
    )
    # The sandbox plays WeChat's servers, which are not on this machine: a separate process at
    # a lower CPU priority, so serving pictures does not count against processing.
    port = _free_port()
    sandbox_proc = subprocess.Popen(  # noqa: S603
        ["nice", "-n", "10", sys.executable, "-m", "devtools.sandboxes.wechat"]
        + ["--port", str(port), "--no-demo-accounts", "--callback-base", "http://127.0.0.1:9"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    if not _wait_port(port, 30):
        _stop(sandbox_proc)
        raise RuntimeError("the WeChat sandbox did not start")
    sandbox_url = f"http://127.0.0.1:{port}"
    _post(sandbox_url, "/sandbox/accounts", {"appid": APPID, "secret": SECRET, "token": TOKEN})
    picture = base64.b64encode(sample_image("BENCH ORDER 2026")).decode()
    pictures = int(count * PICTURE_SHARE)
    media_ids = [
        _post(
            sandbox_url,
            "/sandbox/media",
            {"appid": APPID, "kind": "image", "content_b64": picture, "content_type": "image/jpeg"},
        )["media_id"]
        for _ in range((ROUNDS - 1) * pictures)
    ]
    logs = Path(tempfile.mkdtemp(prefix="bench-media-"))
    env = {
        **_child_env(),
        "WECHAT_API_BASE": sandbox_url,
        "CHAT_MEDIA_QUEUE": "media",
        "CHAT_MEDIA_ROOT": str(logs / "chat_media"),
    }
    media_worker = _worker("media", 1, env, logs / "media-worker.log", nice=10)
    try:
        # Text and picture runs alternate (T P T P T): the figures are the means of each kind,
        # so neither gains from running first or last on a machine shared with other work.
        texts, mixes = [], []
        for n in range(ROUNDS):
            texts.append(
                _process(
                    f"text{n}",
                    make_pushes(30_000_000 + n * count, count, openids, [], n),
                    env,
                    logs,
                )
            )
            if n < ROUNDS - 1:
                ids = media_ids[n * pictures : (n + 1) * pictures]
                mixes.append(
                    _process(
                        f"pictures{n}",
                        make_pushes(40_000_000 + n * count, count, openids, ids, 100 + n),
                        env,
                        logs,
                    )
                )
        media = MessageMedia.objects.filter(message__account=APPID)
        deadline = time.monotonic() + 300
        while media.filter(status="pending").exists() and time.monotonic() < deadline:
            time.sleep(1)
            progress("media downloads", media.filter(status="stored").count(), media.count())
        stored = media.filter(status="stored").count()
        last_stored = media.order_by("-stored_at").values_list("stored_at", flat=True).first()
    finally:
        _stop(media_worker)
        _stop(sandbox_proc)
        current_app.control.purge()
    messages = Message.objects.filter(account=APPID, direction="in").count()
    assert messages == (2 * ROUNDS - 1) * count, ("messages", messages)
    lag = (last_stored - texts[-1]["last"]).total_seconds() if last_stored else None
    text_rate = sum(t["rate"] for t in texts) / len(texts)
    mixed_rate = sum(m["rate"] for m in mixes) / len(mixes)
    return [
        Result(
            "media: processing with 20% pictures vs text only",
            mixed_rate,
            "msg/s",
            baseline=text_rate,
            baseline_label="text-only processing, same run (alternating runs)",
            goal="ratio:>=0.9",
            notes=(
                f"{count:,} pushes per run, T P T P T, celery -c 2 prefork for processing; "
                f"downloads on queue 'media' (1 worker, nice 10, waiting while 100+ pushes are "
                f"pending); text runs {_rates(texts)} msg/s, picture runs {_rates(mixes)} msg/s; "
                f"{stored:,}/{media.count():,} pictures stored, the last "
                f"{lag if lag is None else round(lag, 1)} s after the last run ended"
            ),
            extra={
                "text_rates": [round(t["rate"], 1) for t in texts],
                "picture_rates": [round(m["rate"], 1) for m in mixes],
                "pictures_stored": stored,
                "download_lag_seconds": lag,
            },
        ),
    ]
