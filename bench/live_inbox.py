"""The live inbox under load (issue 20 item 4): open inbox pages (WebSocket clients) while WeChat
pushes arrive, over the real stack as production runs it, each a child process against the
benchmark database and Redis: the webhook under gunicorn, the processing in `celery -A crm
worker -c 2`, the sockets in Daphne (`daphne crm.asgi:application`).

Measured: webhook-to-page latency, from the moment a push is POSTed to the moment a page's
socket delivers its message event, for every (page, message) pair the page is entitled to (its
user's team's conversations, every one for a manager: `_service_desk`; a delivery to a page not
entitled to it fails the run, as does one missing); pushes are sent open loop at
RATE a second for SECONDS (each at its scheduled time, as long as one of SENDERS connections is
free). Goal: p95 under 1 s with PAGES (200) pages and RATE (500) pushes a second, the pushes sent
at 95% of RATE or more: a run whose sender fell behind (the hooks answered too slowly for its
connections) measured a lighter load and fails, whatever its latency.

First, the same sender against the hook alone (gunicorn only: no pages, no worker, no daphne)
for up to 5 s at RATE: its own result, the rate the hook and the sender reach by themselves on
this machine, which bounds the whole stack's. The main result's notes give each part's CPU ms
per push.

Baseline, same run, same pages: events published straight to the channel layer from this process
(crm.live.publish, ten batches a second at the same rate), so the figure's ratio says what the
webhook, the queue and the processing add to the socket fan-out itself.

`python -m bench live_inbox` (its own small data). LIVE_BENCH_PAGES, LIVE_BENCH_RATE and
LIVE_BENCH_SECONDS scale it down on a small or busy machine. The load generator and the page
clients run in this process and share the machine's cores with the servers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from .harness import Result
from .live_clients import Pages, cpu_snapshot, cpu_used, open_loop, percentile
from .webhooks import SERVER as GUNICORN
from .wechat import (
    AES_KEY,
    APPID,
    ORIGINAL_ID,
    ROOT,
    TOKEN,
    _child_env,
    _free_port,
    _log_tail,
    _stop,
    _wait_port,
    make_pushes,
)


def _requests(prefix: str, pushes: list[dict]) -> list[tuple[str, bytes]]:
    return [(f"{prefix}?{urllib.parse.urlencode(p['query'])}", p["body"]) for p in pushes]


DATA_SCALES = {
    "default": {"customers": 10_000, "conversations": 1_000, "messages": 10_000},
    "small": {"customers": 2_000, "conversations": 200, "messages": 2_000},
}
PAGES = int(os.environ.get("LIVE_BENCH_PAGES", "200"))
RATE = int(os.environ.get("LIVE_BENCH_RATE", "500"))
SECONDS = int(os.environ.get("LIVE_BENCH_SECONDS", "10"))
# The service desk: 30 people in two teams (售前 pre-sales, 售后 after-sales), two of them
# managers who see every team; the pages are their tabs, PAGES / AGENTS each. An agent's page is
# entitled to the events of their team's conversations only (crm.live.visible_ids).
AGENTS = 30
MANAGERS = 2
AFTER_SALES_WORDS = ("退换", "订单", "发货")  # routing rules: keyword -> 售后; the rest 售前
SENDERS = 64  # connections the open-loop sender may have in flight
RATE_SHARE = 0.95  # of RATE the sender must achieve for the latency to pass


def _gunicorn(port: int, logs: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "crm.wsgi:application", *GUNICORN]
        + ["--bind", f"127.0.0.1:{port}", "--timeout", "60"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(logs / "gunicorn.log").open("ab"),
        start_new_session=True,
    )


def _hook_alone(logs: Path, env: dict) -> dict:
    """The same sender against the hook alone (no pages, no worker, no daphne) at RATE for up
    to 5 s: what the hook and the sender reach on this machine by themselves. Its deliveries
    are then set aside (rejected), so the worker started next does not drain them."""
    from django.db import connection
    from django.utils import timezone

    from crm.models import RawDelivery

    port = _free_port()
    server = _gunicorn(port, logs, env)
    try:
        if not _wait_port(port, 60):
            raise RuntimeError(f"gunicorn did not start:\n{_log_tail(logs / 'gunicorn.log')}")
        before = RawDelivery.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        warm = make_pushes(28_000_000, 200, openids=500, seed=9)
        open_loop(port, _requests(f"/hooks/wechat/{APPID}", warm), 50, SENDERS)
        count = RATE * min(SECONDS, 5)
        requests = _requests(
            f"/hooks/wechat/{APPID}", make_pushes(29_000_000, count, openids=2_000, seed=10)
        )
        database = connection.settings_dict["NAME"]
        cpu_before = cpu_snapshot(database)
        _sent, errors, seconds, answered = open_loop(port, requests, RATE, SENDERS)
        cpu = cpu_used(
            cpu_before,
            cpu_snapshot(database),
            {"gunicorn": f"session:{server.pid}", "postgres": "postgres", "sender": "self"},
        )
    finally:
        _stop(server)
    RawDelivery.objects.filter(pk__gt=before, status=RawDelivery.Status.PENDING).update(
        status=RawDelivery.Status.REJECTED, processed_at=timezone.now()
    )
    return {
        "pushes": count,
        "rate_achieved": round(count / seconds, 1) if seconds else 0.0,
        "errors": len(errors),
        "answer_p50_ms": percentile(answered, 0.5) * 1000,
        "answer_p95_ms": percentile(answered, 0.95) * 1000,
        "cpu_ms_per_push": {k: round(v * 1000 / count, 2) for k, v in cpu.items()},
    }


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def _settle(pages: Pages, quiet: float = 3.0, limit: float = 120.0) -> None:
    """Wait until no event arrived for `quiet` seconds (or `limit` passed)."""
    deadline = time.monotonic() + limit
    seen = -1
    while time.monotonic() < deadline:
        if pages.count.value == seen:
            return
        seen = pages.count.value
        time.sleep(quiet)


def _latencies(pages: Pages, sent: dict, key) -> tuple[list[float], int]:
    """Latency of every delivered (page, event) whose key is in `sent`; deliveries counted."""
    values = [now - sent[key(event)] for now, _n, event in pages.received if key(event) in sent]
    return values, len(values)


def _baseline(pages: Pages, conversation_id: int) -> dict[int, float]:
    """Events published straight to the channel layer: ten batches a second at RATE."""
    from crm import live

    batch = max(RATE // 10, 1)
    count = RATE * min(SECONDS, 5)
    sent: dict[int, float] = {}  # event id -> published at (wall clock)
    begin = time.perf_counter()
    for first in range(0, count, batch):
        wait = begin + first / RATE - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        ids = range(-(first + 1), -(min(first + batch, count) + 1), -1)
        now = time.time()
        events = []
        for i in ids:
            sent[i] = now
            events.append({"id": i, "kind": "message", "conversation": conversation_id})
        live.publish(events)
    _settle(pages)
    return sent


def _baseline_figures(pages: Pages, sent: dict) -> dict:
    count = len(sent)
    values, delivered = _latencies(pages, sent, lambda e: e["id"])
    return {
        "events": count,
        "expected": count * PAGES,
        "delivered": delivered,
        "p50_ms": percentile(values, 0.5) * 1000 if values else None,
        "p95_ms": percentile(values, 0.95) * 1000 if values else None,
        "p99_ms": percentile(values, 0.99) * 1000 if values else None,
    }


def _service_desk() -> list:
    """The AGENTS people whose pages are open: MANAGERS managers (they see every team), the
    others agents of 售前 (the default team) and 售后 alternately, online; routing rules send
    after-sales words to 售后, an SLA policy starts each new conversation's clock."""
    from django.contrib.auth.models import Group, User

    from crm.models import RoutingRule, SlaPolicy, Team, TeamMembership

    presales = Team.objects.create(name="售前", default=True)
    aftersales = Team.objects.create(name="售后")
    for position, word in enumerate(AFTER_SALES_WORDS, 1):
        RoutingRule.objects.create(kind="keyword", value=word, team=aftersales, position=position)
    RoutingRule.objects.create(kind="default", team=presales, position=9)
    SlaPolicy.objects.create(
        name="标准", first_response_minutes=30, next_response_minutes=10, resolution_hours=24
    )
    manager, agent = Group.objects.get(name="manager"), Group.objects.get(name="agent")
    users = []
    for n in range(AGENTS):
        user = User.objects.create_user(f"live-agent{n}", password="x", is_staff=True)
        if n < MANAGERS:
            user.groups.add(manager)
        else:
            user.groups.add(agent)
            team = (presales, aftersales)[n % 2]
            TeamMembership.objects.create(team=team, user=user, max_open=20)
        users.append(user)
    return users


def _heartbeat(users: list) -> None:
    from crm.inbox import set_presence

    for user in users[MANAGERS:]:
        set_presence(user, "online")


def _entitled(users: list, of_message: dict[int, int], received: list) -> tuple[int, int]:
    """The page deliveries the stored messages should make (each page: the messages of the
    conversations its user may see, crm.live.visible_ids, as routed), and how many deliveries
    of these messages went to a page whose user may not see them."""
    from crm.live import visible_ids

    conversations = set(of_message.values())
    visible = {user.pk: visible_ids(user, conversations) for user in users}
    owner = [users[n % len(users)].pk for n in range(PAGES)]
    per_conversation: dict[int, int] = {}
    for c in of_message.values():
        per_conversation[c] = per_conversation.get(c, 0) + 1
    expected = sum(
        per_conversation[c]
        for n in range(PAGES)
        for c in visible[owner[n]]
        if c in per_conversation
    )
    outside = sum(
        1
        for _t, n, e in received
        if e.get("message") in of_message and of_message[e["message"]] not in visible[owner[n]]
    )
    return expected, outside


def run(scale) -> list[Result]:
    from django.db import connection
    from django.test import Client

    from channels_wechat.models import OfficialAccount
    from crm.models import Conversation, Message, RawDelivery

    if not os.environ.get("REDIS_URL"):
        raise SystemExit("the live inbox benchmark needs Redis: set REDIS_URL")
    OfficialAccount.objects.create(
        appid=APPID,
        original_id=ORIGINAL_ID,
        name="花漾美妆服务号",
        app_secret="bench-secret-0123456789abcdef",
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        mode="safe",
    )
    users = _service_desk()
    cookies = []
    for user in users:
        client = Client()
        client.force_login(user)
        cookies.append(f"sessionid={client.cookies['sessionid'].value}")
    visible = Conversation.objects.filter(channel="wechat").values_list("pk", flat=True).first()
    assert visible is not None, "the generated data has no WeChat conversation"

    logs = Path(tempfile.mkdtemp(prefix="bench-live-"))
    env = _child_env()
    hook_alone = _hook_alone(logs, env)
    children: list[subprocess.Popen] = []
    pages = None
    try:
        asgi_port, web_port = _free_port(), _free_port()
        for argv, name in (
            (
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(asgi_port)]
                + ["crm.asgi:application"],
                "daphne",
            ),
            (
                [sys.executable, "-m", "gunicorn", "crm.wsgi:application", *GUNICORN]
                + ["--bind", f"127.0.0.1:{web_port}", "--timeout", "60"],
                "gunicorn",
            ),
            (
                [sys.executable, "-m", "celery", "-A", "crm", "worker", "-c", "2", "-P"]
                + ["prefork", "-l", "warning", "--without-gossip", "--without-mingle"]
                + ["--without-heartbeat"],
                "worker",
            ),
        ):
            children.append(
                subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=(logs / f"{name}.log").open("ab"),
                    start_new_session=True,
                )
            )
        for port, name in ((asgi_port, "daphne"), (web_port, "gunicorn")):
            if not _wait_port(port, 60):
                raise RuntimeError(f"{name} did not start:\n{_log_tail(logs / f'{name}.log')}")
        origin = f"http://127.0.0.1:{asgi_port}"
        pages = Pages(f"ws://127.0.0.1:{asgi_port}/ws/inbox/", origin, cookies, PAGES)
        sys.stderr.write(f"live inbox: {pages.connected} pages connected\n")

        _heartbeat(users)
        # Warm-up: imports, pools, the worker's first batch.
        warm = make_pushes(30_000_000, 200, openids=500, seed=11)
        open_loop(web_port, _requests(f"/hooks/wechat/{APPID}", warm), 50, SENDERS)
        _settle(pages)
        base_sent = _baseline(pages, visible)

        count = RATE * SECONDS
        pushes = make_pushes(31_000_000, count, openids=2_000, seed=12)
        requests = _requests(f"/hooks/wechat/{APPID}", pushes)
        first_raw = RawDelivery.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        _heartbeat(users)  # the pages' own heartbeats are not sent: the agents stay online
        database = connection.settings_dict["NAME"]
        cpu_before = cpu_snapshot(database)
        sent_at, errors, send_seconds, answered = open_loop(web_port, requests, RATE, SENDERS)
        _settle(pages)
        cpu = cpu_used(
            cpu_before,
            cpu_snapshot(database),
            {
                "daphne": f"session:{children[0].pid}",
                "gunicorn": f"session:{children[1].pid}",
                "celery": f"session:{children[2].pid}",
                "postgres": "postgres",
                "pages": f"pid:{pages.proc.pid}",
                "sender": "self",
            },
        )
        pages.stop()
        base = _baseline_figures(pages, base_sent)
        sys.stderr.write(f"live inbox baseline (publish -> page): {base}\n")
        by_msgid = {str(31_000_000 + i): t for i, t in enumerate(sent_at)}
        received = pages.received
        stored_rows = Message.objects.filter(
            platform_msg_id__in=list(by_msgid), account=APPID, direction="in"
        ).values_list("pk", "platform_msg_id", "conversation_id")
        sent = {pk: by_msgid[msgid] for pk, msgid, _c in stored_rows}
        of_message = {pk: c for pk, _msgid, c in stored_rows}
        values = [now - sent[e["message"]] for now, _n, e in received if e.get("message") in sent]
        lag = [now - _epoch(e["at"]) for now, _n, e in received if e.get("message") in sent]
        expected, outside = _entitled(users, of_message, received)
        processing = [
            (done - got).total_seconds()
            for got, done in RawDelivery.objects.filter(
                pk__gt=first_raw, source="wechat", processed_at__isnull=False
            ).values_list("received_at", "processed_at")
            if done is not None
        ]
        stored = len(sent)
    finally:
        if pages is not None:
            pages.stop()
        for child in children:
            _stop(child)
    per_push = {k: round(v * 1000 / count, 2) for k, v in cpu.items()}
    cores = os.cpu_count() or 1
    achieved = count / send_seconds if send_seconds else 0.0
    figures = {
        "pages": PAGES,
        "agents": AGENTS,
        "pushes": count,
        "push_rate_achieved": round(achieved, 1),
        "hook_errors": len(errors),
        "messages_stored": stored,
        "deliveries": len(values),
        "deliveries_expected": expected,
        "deliveries_not_entitled": outside,
        "p50_ms": percentile(values, 0.5) * 1000 if values else None,
        "p95_ms": percentile(values, 0.95) * 1000 if values else None,
        "p99_ms": percentile(values, 0.99) * 1000 if values else None,
        "max_ms": max(values) * 1000 if values else None,
        "hook_answer_p50_ms": percentile(answered, 0.5) * 1000,
        "hook_answer_p95_ms": percentile(answered, 0.95) * 1000,
        "received_to_processed_p50_ms": percentile(processing, 0.5) * 1000 if processing else None,
        "received_to_processed_p95_ms": percentile(processing, 0.95) * 1000 if processing else None,
        "event_row_to_page_p50_ms": percentile(lag, 0.5) * 1000 if lag else None,
        "event_row_to_page_p95_ms": percentile(lag, 0.95) * 1000 if lag else None,
        # What each part cost while the pushes were sent and delivered (until 3 s without an
        # event), in CPU ms per push: the machine's cores bound the rate at 1000 * cores / sum.
        "cpu_ms_per_push": per_push,
        "page_errors": pages.errors[:3] if pages else [],
        "hook_alone": hook_alone,
        "baseline": base,
    }
    sys.stderr.write(f"live inbox: {figures}\n")
    note = (
        f"{PAGES} pages ({AGENTS} agents in 售前 and 售后, {MANAGERS} managers), {count:,} safe-mode pushes open loop at {RATE}/s "
        f"(achieved {figures['push_rate_achieved']}/s, {len(errors)} hook errors), gunicorn "
        f"{' '.join(GUNICORN)}, celery -c 2, one daphne; {len(values):,} of {expected:,} "
        f"page deliveries; p50 {figures['p50_ms'] or 0:.0f} ms, p99 {figures['p99_ms'] or 0:.0f} ms"
        f"; CPU ms per push {per_push} (sum {sum(per_push.values()):.1f}: {cores} cores allow "
        f"{cores * 1000 / max(sum(per_push.values()), 0.01):.0f}/s)"
    )
    # The latency only counts at the load asked for: a sender that fell behind (the hooks
    # answered too slowly for its connections) measured a lighter load.
    unmet = ""
    if achieved < RATE_SHARE * RATE:
        unmet = f"pushes sent at {achieved:.0f}/s, under {RATE_SHARE:.0%} of {RATE}/s"
    elif outside:
        unmet = f"{outside:,} page deliveries of conversations the page may not see"
    elif len(values) < expected:  # the percentiles count only what arrived
        unmet = f"{expected - len(values):,} of {expected:,} page deliveries missing"
    return [
        Result(
            f"live inbox: webhook -> page p95, {PAGES} pages, {RATE} pushes/s asked, "
            f"{achieved:.0f}/s sent",
            figures["p95_ms"] or float("inf"),
            "ms",
            base["p95_ms"],
            "publish -> page p95 (channel layer and daphne only)",
            "abs:<1000",
            note,
            extra=figures,
            unmet=unmet,
        ),
        Result(
            f"live inbox: the hook alone (no pages, no worker), {RATE} pushes/s asked",
            hook_alone["rate_achieved"],
            "pushes/s",
            goal=f"abs:>={RATE_SHARE * RATE:g}",
            notes=f"answer p50 {hook_alone['answer_p50_ms']:.0f} ms, p95 "
            f"{hook_alone['answer_p95_ms']:.0f} ms; CPU ms per push "
            f"{hook_alone['cpu_ms_per_push']}; {hook_alone['errors']} errors: the rate the "
            "whole stack can reach is at most this",
            extra=hook_alone,
        ),
    ]
