"""`python -m bench [NAME...] [--scale small|default] [--reuse]`: run the benchmarks.

Creates a fresh benchmark database (never the test or user database), migrates it, fills it with
`bench.generate` at the chosen scale, runs each benchmark (or those named) with its baseline in
the same run, and writes `bench/results.json` and `bench/results.md`. `make bench` runs it
against PostgreSQL and Redis found by tests/services.py.

The generated database is kept as a copy (`<BENCH_DB_NAME>_generated`, marked with the
generator's parameters and source); `--reuse` starts from a file copy of it instead of
generating again when it matches, so one benchmark can be rerun in seconds. `scaling` is not in
the default list (`make bench-scale`): it loads 10,000,000 messages and brings its own scale.
"""

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = [
    "kpis",
    "api",
    "memory",
    "weibo_ingest",
    "weibo_keywords",
    "weibo_sentiment",
    "webhooks",
    "wechat",
    "journeys",
    "mass_send",
    "media",
    "search",
    # These two add to the generated data, so they run after the others: attribution its
    # campaign, leads, scans and handoffs; inbox_routing 100,000 open conversations and agents.
    "attribution",
    "inbox_routing",
]
# Run only when named; each brings its own data scale (a module-level DATA_SCALES).
EXTRA = ["scaling", "live_inbox"]
SCALES = {
    "small": {
        "customers": 20_000,
        "conversations": 2_000,
        "messages": 20_000,
        "weibo_posts": 5_000,
        "orders": 4_000,
        "coupons": 6_000,
    },
    "default": {
        "customers": 1_000_000,
        "conversations": 100_000,
        "messages": 1_000_000,
        "weibo_posts": 100_000,
        "orders": 200_000,
        "coupons": 300_000,
    },
}


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks.")
    parser.add_argument("names", nargs="*", choices=[[], *BENCHMARKS, *EXTRA], metavar="NAME")
    parser.add_argument("--scale", choices=sorted(SCALES), default="default")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="start from the kept generated database if it matches this scale and generator",
    )
    args = parser.parse_args()
    names = args.names or BENCHMARKS
    scale = SCALES[args.scale]
    own = [n for n in names if n in EXTRA]
    if own:
        if len(names) > 1:
            parser.error(f"{', '.join(own)} brings its own data: run it alone")
        # Its own database: its small data kept as crm_bench_generated replaced the default
        # scale's there, so the next `--reuse` generated 1M customers again (about 5 minutes).
        os.environ.setdefault("BENCH_DB_NAME", f"crm_bench_{own[0]}")
        scale = importlib.import_module(f"bench.{own[0]}").DATA_SCALES[args.scale]
    from .harness import (
        GENERATED_DB,
        generated_counts,
        markdown,
        recreate_database,
        save_generated,
        setup_django,
    )

    started = time.perf_counter()
    counts = generated_counts(scale) if args.reuse else None
    if counts is not None:
        sys.stderr.write(f"reusing {GENERATED_DB}: {counts}\n")
        t = time.perf_counter()
        recreate_database(template=GENERATED_DB)
        setup_django()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)  # migrations added since it was generated
        generated_in = 0.0
        sys.stderr.write(f"copied in {time.perf_counter() - t:.0f} s\n")
    else:
        if args.reuse:
            sys.stderr.write(f"no matching {GENERATED_DB}: generating\n")
        recreate_database()
        setup_django()
        from django.contrib.auth.models import User
        from django.core.management import call_command

        from .generate import generate

        call_command("migrate", verbosity=0)
        agents = [
            User.objects.create_user(f"agent{i}", password="x", is_staff=True).pk for i in range(20)
        ]
        sys.stderr.write(f"generating {scale}\n")
        t = time.perf_counter()
        counts = generate(**scale, agents=agents)
        generated_in = time.perf_counter() - t
        t = time.perf_counter()
        save_generated(scale, counts, generated_in)
        sys.stderr.write(f"kept as {GENERATED_DB} in {time.perf_counter() - t:.0f} s\n")
    results = []
    for name in names:
        sys.stderr.write(f"== {name}\n")
        module = importlib.import_module(f"bench.{name}")
        results += module.run(scale)
    table = markdown(results)
    print(table)
    stem = "results" if not own else f"results-{own[0]}"
    (HERE / f"{stem}.md").write_text(table + "\n", encoding="utf-8")
    (HERE / f"{stem}.json").write_text(
        json.dumps(
            {
                "scale": args.scale,
                "benchmarks": names,
                "reused": bool(args.reuse and generated_in == 0.0),
                "rows": counts,
                "generated_seconds": round(generated_in, 1),
                "total_seconds": round(time.perf_counter() - started, 1),
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                },
                "results": [r.as_dict() for r in results],
            },
            ensure_ascii=False,
            indent=2,
            default=str,
        ),
        encoding="utf-8",
    )
    sys.stderr.write(
        f"rows {counts}; generated in {generated_in:.0f} s; "
        f"total {time.perf_counter() - started:.0f} s\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
