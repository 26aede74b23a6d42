"""The three webhooks against a minimal Django view, each alone on the machine's cores (#17).

Targets, one at a time, each in its own gunicorn (`SERVER`: sync workers, one more than the
cores), driven by wrk over 50 connections for WRK_SECONDS with distinct, validly signed bodies
(a push sent twice would be answered as a replay, without a row, which is cheaper):

- baseline: `bench.minimal_hook`, a Django app with no middleware whose view runs one INSERT
  of the body (the same table) and answers `success`; fed the WeChat pushes' bodies;
- `/hooks/wechat/<appid>`: safe-mode (AES, msg_signature) text pushes: signature, replay
  window, decrypt, XML check, store with the replay check (push key), drain request (Redis);
- `/hooks/weibo/<uid>`: fan-service private messages, signed;
- `/hooks/wechatpay/<mchid>`: API v2 payment notifications (MD5 `sign`);
- `/hooks/wechatpay/<mchid>/v3`: API v3 notifications (RSA-SHA256 headers, AES-256-GCM).

Goals for each hook: throughput at least 0.6 of the baseline's, p99 under 100 ms.

What else ran is measured, not assumed: during each load the CPU time of every process on the
machine is read from /proc and reported by group (the server, wrk, PostgreSQL for this
database, PostgreSQL for other databases, Redis, anything else), beside the machine's total
busy time. A figure taken while other processes held the cores says so in its notes.
Nothing else of the benchmark runs during a load: bodies are generated before the server
starts, no Celery worker runs (the queued work is purged afterwards), the benchmark database is
vacuumed and checkpointed first, and the servers log warnings only.

`python -m bench webhooks --scale small` runs only this (about 3 minutes).
"""

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .harness import BENCH_DB, Result, set_eager
from .wechat import (
    AES_KEY,
    APPID,
    CONNECTIONS,
    ORIGINAL_ID,
    ROOT,
    TEXTS,
    TOKEN,
    _child_env,
    _free_port,
    _log_tail,
    _stop,
    _wait_port,
    make_pushes,
)

# gunicorn's sync worker class, one process more than the cores (BENCH_WEBHOOK_WORKERS to try
# others): the same for the baseline and the hooks.
SERVER = ["--workers", os.environ.get("BENCH_WEBHOOK_WORKERS") or str((os.cpu_count() or 2) + 1)]
WRK_SECONDS = 8
WRK_THREADS = 2
WARM = 300
# Distinct bodies per target: enough for WRK_SECONDS at this many requests a second.
MAX_RATE = {"minimal": 4000, "wechat": 3000, "weibo": 3000, "pay-v2": 3000, "pay-v3": 2000}
WEIBO_UID = "5678901234"
WEIBO_SECRET = "bench-weibo-fanservice-secret"  # noqa: S105  a benchmark's own account
MCHID, PAY_APPID = "1900000109", "wxbenchpay0000001"
API_KEY = "bench2026apikey0123456789abcdefg"  # 32 characters, as WeChat Pay's
APIV3_KEY = "bench2026apiv3key0123456789abcde"  # 32 characters
PLATFORM_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
HOOK_GOALS = ("ratio:>=0.6", "abs:<100")

WRK_SCRIPT = r"""
-- Each line: path, body, then header name / value pairs, tab-separated. Each wrk thread sends
-- its own slice of the lines, each once.
local requests, index, threads = {}, 0, {}
exhausted = 0
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  local n = 0
  for line in io.lines(args[1]) do
    if n % tonumber(args[2]) == id then
      local fields = {}
      for field in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = field end
      local headers = {}
      for i = 3, #fields - 1, 2 do headers[fields[i]] = fields[i + 1] end
      requests[#requests + 1] = wrk.format("POST", fields[1], headers, fields[2])
    end
    n = n + 1
  end
end
function request()
  index = index + 1
  if index > #requests then
    exhausted = 1
    index = 1
  end
  return requests[index]
end
function done(summary, latency, requests)
  local ran_out = 0
  for _, thread in ipairs(threads) do ran_out = ran_out + thread:get("exhausted") end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.status + e.connect + e.read + e.write + e.timeout, ran_out))
end
"""


# What ran during a load ---------------------------------------------------------------------


def _proc_times() -> dict[int, tuple[str, int, int]]:
    """Every process: pid -> (name, session id, CPU ticks so far, user + system)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        found[int(entry)] = (name, int(fields[3]), int(fields[11]) + int(fields[12]))
    return found


def _machine_busy() -> int:
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return sum(values) - values[3] - values[4]  # all but idle and iowait


def _postgres_databases() -> dict[int, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid, coalesce(datname, backend_type) FROM pg_stat_activity")
        return dict(cursor.fetchall())


class CpuAccount:
    """CPU seconds used by each group of processes between start() and stop()."""

    def start(self) -> None:
        self.before, self.busy_before, self.began = _proc_times(), _machine_busy(), time.time()

    def stop(self, server_session: int, wrk_cpu: float) -> dict:
        after, busy, seconds = _proc_times(), _machine_busy(), time.time() - self.began
        tick = os.sysconf("SC_CLK_TCK")
        databases = _postgres_databases()
        groups: dict[str, float] = {"wrk": wrk_cpu}
        others: dict[str, float] = {}
        for pid, (name, session, ticks) in after.items():
            used = (ticks - self.before.get(pid, (name, session, 0))[2]) / tick
            if used <= 0:
                continue
            if session == server_session:
                group = "server"
            elif name.startswith("postgres"):
                group = (
                    "postgres (this database)"
                    if databases.get(pid) == BENCH_DB
                    else "postgres (others)"
                )
            elif name.startswith("redis"):
                group = "redis"
            else:
                group = "other processes"
                others[name] = others.get(name, 0) + used
            groups[group] = groups.get(group, 0) + used
        cores = os.cpu_count() or 1
        top = sorted(others.items(), key=lambda kv: -kv[1])[:5]
        return {
            "seconds": round(seconds, 2),
            "capacity_cpu_s": round(cores * seconds, 2),
            "machine_busy_cpu_s": round((busy - self.busy_before) / tick, 2),
            **{k: round(v, 2) for k, v in sorted(groups.items())},
            "top_other_processes": {k: round(v, 2) for k, v in top},
        }


def _cpu_note(cpu: dict) -> str:
    """`others 3.1 of 16 cpu-s` and the top names, for a result's notes."""
    foreign = cpu.get("other processes", 0) + cpu.get("postgres (others)", 0)
    names = ", ".join(f"{k} {v}" for k, v in list(cpu["top_other_processes"].items())[:3])
    return (
        f"CPU of {cpu['capacity_cpu_s']} cpu-s: server {cpu.get('server', 0)}, wrk "
        f"{cpu.get('wrk', 0)}, postgres {cpu.get('postgres (this database)', 0)}, redis "
        f"{cpu.get('redis', 0)}, other processes {foreign:.1f}" + (f" ({names})" if names else "")
    )


# Requests ----------------------------------------------------------------------------------


def _wechat(count: int, first: int) -> list[tuple[str, bytes, dict]]:
    import urllib.parse

    return [
        (f"/hooks/wechat/{APPID}?{urllib.parse.urlencode(p['query'])}", p["body"], {})
        for p in make_pushes(first, count, openids=500)
    ]


def _minimal(count: int, first: int) -> list[tuple[str, bytes, dict]]:
    return [(f"/minimal/{APPID}", body, {}) for _, body, _ in _wechat(count, first)]


def _weibo(count: int, first: int) -> list[tuple[str, bytes, dict]]:
    from channels_weibo.protocol import signature

    rng = random.Random(first)
    timestamp = str(int(time.time() * 1000))
    created = time.strftime("%a %b %d %H:%M:%S +0800 %Y", time.gmtime(time.time() + 8 * 3600))
    requests = []
    for n in range(count):
        nonce = f"{first + n}"
        body = json.dumps(
            {
                "type": "text",
                "receiver_id": int(WEIBO_UID),
                "sender_id": 1_000_000_000 + rng.randrange(500),
                "created_at": created,
                "text": rng.choice(TEXTS),
                "data": {},
            },
            ensure_ascii=False,
        ).encode()
        query = f"signature={signature(WEIBO_SECRET, timestamp, nonce)}"
        requests.append(
            (f"/hooks/weibo/{WEIBO_UID}?{query}&timestamp={timestamp}&nonce={nonce}", body, {})
        )
    return requests


def _pay_v2(count: int, first: int) -> list[tuple[str, bytes, dict]]:
    from members import protocol

    requests = []
    for n in range(count):
        params = {
            "appid": PAY_APPID,
            "mch_id": MCHID,
            "nonce_str": f"{first + n:032x}",
            "result_code": "SUCCESS",
            "return_code": "SUCCESS",
            "openid": f"oBenchPay{n % 500:06d}",
            "trade_type": "JSAPI",
            "bank_type": "CFT",
            "total_fee": 12900,
            "fee_type": "CNY",
            "cash_fee": 12900,
            "transaction_id": f"42000{first + n:023d}",
            "out_trade_no": f"BENCH{first + n}",
            "time_end": time.strftime("%Y%m%d%H%M%S"),
        }
        params["sign"] = protocol.v2_sign(params, API_KEY, "MD5")
        requests.append((f"/hooks/wechatpay/{MCHID}", protocol.build_xml(params).encode(), {}))
    return requests


def _pay_v3(count: int, first: int, private_key) -> list[tuple[str, bytes, dict]]:
    from members import protocol

    timestamp = str(int(time.time()))
    requests = []
    for n in range(count):
        transaction = {
            "appid": PAY_APPID,
            "mchid": MCHID,
            "out_trade_no": f"BENCH{first + n}",
            "transaction_id": f"42000{first + n:023d}",
            "trade_type": "JSAPI",
            "trade_state": "SUCCESS",
            "payer": {"openid": f"oBenchPay{n % 500:06d}"},
            "amount": {"total": 12900, "payer_total": 12900, "currency": "CNY"},
        }
        nonce = f"{first + n:012x}"[-12:]
        body = json.dumps(
            {
                "id": f"EV-{first + n}",
                "create_time": time.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
                "resource_type": "encrypt-resource",
                "event_type": "TRANSACTION.SUCCESS",
                "resource": {
                    "original_type": "transaction",
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": protocol.aes_gcm_encrypt(
                        APIV3_KEY, nonce, "transaction", json.dumps(transaction).encode()
                    ),
                    "associated_data": "transaction",
                    "nonce": nonce,
                },
            },
            ensure_ascii=False,
        ).encode()
        header_nonce = f"{first + n:032X}"
        headers = {
            "Content-Type": "application/json",
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": header_nonce,
            "Wechatpay-Signature": protocol.v3_sign(private_key, timestamp, header_nonce, body),
            "Wechatpay-Serial": PLATFORM_SERIAL,
        }
        requests.append((f"/hooks/wechatpay/{MCHID}/v3", body, headers))
    return requests


# Running one target ------------------------------------------------------------------------


def _wrk(port: int, requests: list[tuple[str, bytes, dict]], cpu: CpuAccount, session: int):
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        lines = Path(tmp) / "requests.tsv"
        with lines.open("wb") as out:
            for url, body, headers in requests:
                fields = [url.encode(), body]
                for name, value in {"Content-Type": "text/xml", **headers}.items():
                    fields += [name.encode(), value.encode()]
                assert not any(b"\n" in f or b"\t" in f for f in fields)
                out.write(b"\t".join(fields) + b"\n")
        script = Path(tmp) / "push.lua"
        script.write_text(WRK_SCRIPT, encoding="utf-8")
        command = [
            "wrk",
            f"-t{WRK_THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{WRK_SECONDS}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
            "--",
            str(lines),
            str(WRK_THREADS),
        ]
        cpu.start()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = wrk.communicate(timeout=WRK_SECONDS + 120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # wrk has exited when /proc is read again: its time is this process's children's.
        wrk_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        used = cpu.stop(session, wrk_cpu)
    if wrk.returncode:
        raise RuntimeError(f"wrk failed: {err}")
    fields = next(line for line in out.splitlines() if line.startswith("RESULT")).split()
    sent, duration_us, p50, p99, worst, errors, ran_out = (int(v) for v in fields[1:8])
    if ran_out:
        raise RuntimeError(f"wrk sent all {len(requests):,} requests before {WRK_SECONDS} s")
    return {
        "requests": sent,
        "seconds": round(duration_us / 1e6, 2),
        "rps": sent / (duration_us / 1e6),
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "max_ms": worst / 1000,
        "errors": errors,
        "cpu": used,
    }


def _count(source: str) -> int:
    from crm.models import RawDelivery

    return RawDelivery.objects.filter(source=source).count()


def measure(label: str, app: str, source: str, requests, logs: Path) -> dict:
    """Serve `app` alone, warm it, load it with wrk; its figures and what else ran."""
    port = _free_port()
    log = logs / f"{label}.log"
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", app, *SERVER, "--bind", f"127.0.0.1:{port}"]
        + ["--timeout", "60", "--log-level", "warning"],
        cwd=ROOT,
        env=_child_env(),
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        start_new_session=True,
    )
    try:
        if not _wait_port(port, 60):
            raise RuntimeError(f"gunicorn did not start:\n{_log_tail(log)}")
        _warm(port, requests[:WARM])  # imports, database and Redis connections
        before = _count(source)
        figures = _wrk(port, requests[WARM:], CpuAccount(), web.pid)
        stored = _count(source) - before
    finally:
        _stop(web)
    assert not figures["errors"], (label, figures["errors"], _log_tail(log))
    # wrk counts the answers received before its time ran out; those in flight may be stored.
    assert figures["requests"] <= stored <= figures["requests"] + CONNECTIONS, (label, stored)
    sys.stderr.write(f"webhooks {label}: {json.dumps(figures)}\n")
    return figures


def _warm(port: int, requests) -> None:
    """Send these over 10 connections at once (a connection per request, as the sync workers
    close them): every worker imports, connects to PostgreSQL and Redis, fills its caches."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor

    def send(request) -> None:
        url, body, headers = request
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", url, body=body, headers={"Content-Type": "text/xml", **headers})
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status < 300, (url, response.status)

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(send, requests))


def _prepare_database():
    """Accounts for the hooks; the database vacuumed and checkpointed, autovacuum idle."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from django.db import connection

    from channels_wechat.models import OfficialAccount
    from channels_weibo.models import WeiboAccount
    from members.models import MerchantConfig

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
    WeiboAccount.objects.get_or_create(
        uid=WEIBO_UID, defaults={"screen_name": "花漾美妆", "app_secret": WEIBO_SECRET}
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    MerchantConfig.objects.update_or_create(
        mchid=MCHID,
        defaults={
            "appid": PAY_APPID,
            "api_key": API_KEY,
            "apiv3_key": APIV3_KEY,
            "sign_type": "MD5",
            "platform_serial": PLATFORM_SERIAL,
            "platform_public_key": pem,
        },
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE crm_rawdelivery")
        cursor.execute("CHECKPOINT")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' "
                "AND datname = %s",
                [BENCH_DB],
            )
            if not cursor.fetchone()[0]:
                break
        time.sleep(1)
    return key


TARGETS = [
    # label, WSGI app, source stored, request maker, result name
    ("minimal", "bench.minimal_hook:application", "bench-minimal", _minimal, ""),
    ("wechat", "crm.wsgi:application", "wechat", _wechat, "wechat webhook: safe-mode pushes"),
    ("weibo", "crm.wsgi:application", "weibo", _weibo, "weibo fan-service webhook"),
    ("pay-v2", "crm.wsgi:application", "wechatpay", _pay_v2, "wechatpay v2 notifications"),
    ("pay-v3", "crm.wsgi:application", "wechatpay", _pay_v3, "wechatpay v3 notifications"),
]
BASELINE = "minimal Django view, one INSERT"


def run(scale, only: list[str] | None = None) -> list[Result]:
    from celery import current_app

    if not os.environ.get("REDIS_URL"):
        raise SystemExit("the webhook benchmarks need Redis: set REDIS_URL")
    set_eager(False)
    private_key = _prepare_database()
    logs = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    figures: dict[str, dict] = {}
    first = 30_000_000
    for label, app, source, maker, _name in TARGETS:
        if only and label != "minimal" and label not in only:
            continue
        count = WARM + MAX_RATE[label] * WRK_SECONDS
        t = time.perf_counter()
        requests = maker(count, first) if label != "pay-v3" else maker(count, first, private_key)
        sys.stderr.write(f"webhooks {label}: {count:,} bodies in {time.perf_counter() - t:.0f} s\n")
        first += count
        figures[label] = measure(label, app, source, requests, logs)
        current_app.control.purge()  # nothing consumes the processing tasks queued
    # Leave no pending deliveries behind for the processing benchmarks (bench.wechat).
    from crm.models import RawDelivery

    RawDelivery.objects.filter(source__in=[t[2] for t in TARGETS]).delete()
    base = figures["minimal"]
    results = []
    for label, _app, _source, _maker, name in TARGETS[1:]:
        if label not in figures:
            continue
        f = figures[label]
        note = (
            f"{f['requests']:,} requests (wrk -t{WRK_THREADS} -c{CONNECTIONS} {WRK_SECONDS} s), "
            f"gunicorn {' '.join(SERVER)} (sync); p50 {f['p50_ms']:.1f} ms, baseline "
            f"{base['rps']:,.0f} req/s p50 {base['p50_ms']:.1f} p99 {base['p99_ms']:.1f} ms. "
            f"Hook: {_cpu_note(f['cpu'])}. Baseline: {_cpu_note(base['cpu'])}"
        )
        extra = {"hook": f, "baseline": base}
        results.append(
            Result(
                f"{name}, 50 connections",
                f["rps"],
                "req/s",
                base["rps"],
                BASELINE,
                HOOK_GOALS[0],
                note,
                extra=extra,
            )
        )
        results.append(
            Result(
                f"{name}: p99 latency, 50 connections",
                f["p99_ms"],
                "ms",
                base["p99_ms"],
                BASELINE,
                HOOK_GOALS[1],
                note,
                extra=extra,
            )
        )
    return results
