"""The live inbox benchmark's load (bench.live_inbox): the inbox pages as WebSocket clients in
a process of their own, the open-loop webhook sender, and the CPU each process of the machine
used, read from /proc."""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import os
import tempfile
import threading
import time
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _pages_main(ws_url, origin, cookies, pages, out, ready, stopping, count, connected) -> None:
    asyncio.run(_pages(ws_url, origin, cookies, pages, out, ready, stopping, count, connected))


async def _pages(ws_url, origin, cookies, pages, out, ready, stopping, count, connected) -> None:
    from websockets.asyncio.client import connect

    rows: list[tuple] = []
    errors: list[str] = []
    sockets = []
    for n in range(pages):
        try:
            socket = await connect(
                ws_url,
                origin=origin,
                additional_headers={"Cookie": cookies[n % len(cookies)]},
                open_timeout=60,
                max_queue=None,
            )
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        sockets.append(socket)
        connected.value += 1

    async def read(n: int, socket) -> None:
        try:
            async for frame in socket:
                wall = time.time()
                events = json.loads(frame).get("events", ())
                for e in events:
                    rows.append((wall, n, e.get("id"), e.get("message"), e.get("at")))
                count.value += len(events)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    readers = [asyncio.create_task(read(n, s)) for n, s in enumerate(sockets)]
    ready.set()
    while not stopping.is_set():
        await asyncio.sleep(0.2)
    for socket in sockets:
        await socket.close()
    for reader in readers:
        reader.cancel()
    Path(out).write_text(json.dumps({"rows": rows, "errors": errors[:10]}))


class Pages:
    """`pages` WebSocket clients in a process of their own (the load generator's threads would
    otherwise delay them); what they received, and when (wall clock), once stopped."""

    def __init__(self, ws_url: str, origin: str, cookies: list[str], pages: int):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.out = tempfile.mktemp(prefix="bench-live-pages-", suffix=".json")
        self.ready, self.stopping = ctx.Event(), ctx.Event()
        self.count = ctx.Value("q", 0, lock=False)
        self._connected = ctx.Value("i", 0, lock=False)
        self.received: list[tuple[float, int, dict]] = []
        self.errors: list[str] = []
        self.proc = ctx.Process(
            target=_pages_main,
            args=(
                ws_url,
                origin,
                cookies,
                pages,
                self.out,
                self.ready,
                self.stopping,
                self.count,
                self._connected,
            ),
            daemon=True,
        )
        self.proc.start()
        if not self.ready.wait(300) or self.connected < pages:
            raise RuntimeError(f"{self.connected} of {pages} pages connected")

    @property
    def connected(self) -> int:
        return self._connected.value

    def stop(self) -> None:
        if self.proc.is_alive():
            self.stopping.set()
            self.proc.join(120)
        try:
            data = json.loads(Path(self.out).read_text())
        except OSError:
            return
        self.errors = data["errors"]
        self.received = [
            (wall, n, {"id": i, "message": m, "at": at}) for wall, n, i, m, at in data["rows"]
        ]


def cpu_snapshot(database: str) -> dict[str, float]:
    """CPU seconds (user + system) so far of every process of this machine, by pid, under keys
    "pid:<n>" and "session:<n>" (a child started in its own session and what it forked), and
    of this database's PostgreSQL backends ("postgres"); this process's own ("self")."""
    from django.db import connection

    tick = os.sysconf("SC_CLK_TCK")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        )
        backends = {row[0] for row in cursor.fetchall()}
    found: dict[str, float] = {"postgres": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick
        found[f"pid:{entry.name}"] = seconds
        found[f"session:{fields[3]}"] = found.get(f"session:{fields[3]}", 0.0) + seconds
        if int(entry.name) in backends:
            found["postgres"] += seconds
    times = os.times()
    found["self"] = times.user + times.system
    return found


def cpu_used(before: dict[str, float], after: dict[str, float], keys: dict[str, str]) -> dict:
    """CPU seconds between two snapshots, per name of `keys` (name -> snapshot key)."""
    return {
        name: round(after.get(key, 0.0) - before.get(key, 0.0), 2) for name, key in keys.items()
    }


def open_loop(port: int, requests: list[tuple[str, bytes]], rate: int, senders: int):
    """POST request i at start + i / rate over up to `senders` keep-alive connections; the send
    time of each (wall clock), the errors, the seconds sending took, the answer times."""
    counter = itertools.count()
    sent_at = [0.0] * len(requests)
    answered = [0.0] * len(requests)
    errors: list[str] = []
    start = time.perf_counter() + 0.5
    headers = {"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0"}

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while (i := next(counter)) < len(requests):
            wait = start + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            url, body = requests[i]
            sent_at[i] = time.time()
            try:
                conn.request("POST", url, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                continue
            answered[i] = time.time() - sent_at[i]
            if response.status != 200 or data not in (b"success", b""):
                errors.append(f"{response.status} {data[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = max(sent_at) - min(sent_at) if requests else 0.0
    return sent_at, errors, seconds, answered
