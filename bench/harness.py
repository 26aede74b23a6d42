"""What every benchmark shares: a fresh PostgreSQL database, timing, results and the table.

A benchmark module in `bench/` defines `run(scale) -> list[Result]`; each Result carries the
figure, the baseline measured in the same run, and the goal as a ratio or an absolute bound.
`python -m bench` runs them all (or the ones named) and writes `bench/results.json` and
`bench/results.md`.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import dj_database_url

BENCH_DB = os.environ.get("BENCH_DB_NAME", "crm_bench")


@dataclass
class Result:
    name: str
    figure: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    # "ratio:>=0.6" (figure / baseline), "ratio:<=1.5", "abs:<100" (the figure itself)
    goal: str = ""
    notes: str = ""
    extra: dict = field(default_factory=dict)
    # A condition of the measurement that was not met (the load it asked for was not reached),
    # said in words: the figure then cannot pass, however good it is.
    unmet: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.figure / self.baseline

    @property
    def passed(self) -> bool | None:
        if not self.goal:
            return None
        if self.unmet:
            return False
        kind, _, rest = self.goal.partition(":")
        op = ">=" if ">=" in rest else "<=" if "<=" in rest else "<" if "<" in rest else ">"
        bound = float(rest.split(op)[1])
        value = self.ratio if kind == "ratio" else self.figure
        if value is None:
            return None
        return {
            ">=": value >= bound,
            "<=": value <= bound,
            "<": value < bound,
            ">": value > bound,
        }[op]

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio, "passed": self.passed}


def bench_database_url() -> str:
    """DATABASE_URL with the database name replaced by the benchmark's own database."""
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    config = dj_database_url.parse(base)
    if "postgresql" not in config["ENGINE"]:
        raise SystemExit("benchmarks need PostgreSQL: set DATABASE_URL to a PostgreSQL server")
    user = config.get("USER") or "postgres"
    auth = user + (f":{config['PASSWORD']}" if config.get("PASSWORD") else "")
    return f"postgres://{auth}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}/{BENCH_DB}"


def _connect(dbname: str = "postgres"):
    import psycopg2

    url = dj_database_url.parse(bench_database_url())
    connection = psycopg2.connect(
        dbname=dbname,
        user=url["USER"],
        password=url["PASSWORD"] or None,
        host=url["HOST"],
        port=url["PORT"],
    )
    connection.autocommit = True
    return connection


def recreate_database(template: str | None = None) -> None:
    """Drop and create the benchmark database (never the one tests or users work in), empty or
    as a file copy of `template`."""
    connection = _connect()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        if template:
            cursor.execute(f'CREATE DATABASE "{BENCH_DB}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        else:
            cursor.execute(f'CREATE DATABASE "{BENCH_DB}"')
    connection.close()


# Generated data is kept as a copy, `<BENCH_DB>_generated`, marked with what made it (the
# generator's parameters and source), so `--reuse` starts from the same rows without
# generating them again, and no benchmark sees another's writes.
GENERATED_DB = f"{BENCH_DB}_generated"
MARKER_TABLE = "bench_generated"


def generator_fingerprint(params: dict) -> str:
    """The generator's parameters and the hash of its source and of the migrations (the
    schema the rows were made in): equal means the same rows in the same tables."""
    import hashlib
    import json
    from pathlib import Path

    here = Path(__file__).with_name("generate.py")
    migrations = hashlib.sha256()
    for path in sorted(here.parent.parent.glob("*/migrations/0*.py")):
        migrations.update(path.name.encode() + path.read_bytes())
    return json.dumps(
        {
            "params": params,
            "generate.py": hashlib.sha256(here.read_bytes()).hexdigest()[:16],
            "migrations": migrations.hexdigest()[:16],
        },
        sort_keys=True,
        default=str,
    )


def save_generated(params: dict, counts: dict, seconds: float) -> None:
    """Mark the freshly generated benchmark database and keep a copy of it for `--reuse`."""
    import json

    from django.db import connection, connections

    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (fingerprint text, counts jsonb, "
            "seconds real, created_at timestamptz DEFAULT now())"
        )
        cursor.execute(f"DELETE FROM {MARKER_TABLE}")
        cursor.execute(
            f"INSERT INTO {MARKER_TABLE} (fingerprint, counts, seconds) VALUES (%s, %s, %s)",
            [generator_fingerprint(params), json.dumps(counts), seconds],
        )
    connections.close_all()
    admin = _connect()
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{GENERATED_DB}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{GENERATED_DB}" TEMPLATE "{BENCH_DB}" STRATEGY FILE_COPY')
    admin.close()


def generated_counts(params: dict) -> dict | None:
    """Row counts of the kept copy if it was generated with `params` by this generator."""
    import psycopg2

    try:
        kept = _connect(GENERATED_DB)
    except psycopg2.OperationalError:
        return None
    try:
        with kept.cursor() as cursor:
            cursor.execute(f"SELECT fingerprint, counts FROM {MARKER_TABLE}")
            row = cursor.fetchone()
    except psycopg2.Error:
        row = None
    finally:
        kept.close()
    if row is None or row[0] != generator_fingerprint(params):
        return None
    return row[1]


def setup_django() -> None:
    os.environ["DATABASE_URL"] = bench_database_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    import django

    django.setup()


def set_eager(eager: bool) -> bool:
    """Run Celery tasks inline (True) or publish them to the broker (False); the previous mode.

    The app reads Django's CELERY_-prefixed settings, so the prefixed key is the one to set.
    """
    from celery import current_app

    previous = bool(current_app.conf.task_always_eager)
    current_app.conf.CELERY_TASK_ALWAYS_EAGER = eager
    return previous


def timed(func: Callable[[], object], repeat: int = 5, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of each of `repeat` calls, after `warmup` calls."""
    for _ in range(warmup):
        func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def peak_rss_mib(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def progress(label: str, done: int, total: int) -> None:
    import sys

    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r{label}: [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def markdown(results: list[Result]) -> str:
    lines = [
        "| benchmark | figure | baseline | ratio | goal | pass |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        baseline = f"{r.baseline:,.3g} {r.unit} ({r.baseline_label})" if r.baseline else "—"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "—"
        verdict = {True: "pass", False: "FAIL", None: "—"}[r.passed]
        if r.unmet:
            verdict += f" ({r.unmet})"
        lines.append(
            f"| {r.name} | {r.figure:,.4g} {r.unit} | {baseline} | {ratio} | {r.goal or '—'} "
            f"| {verdict} |"
        )
    return "\n".join(lines)
