"""`python -m bench [NAME...] [--scale small|default] [--keep]`: run the benchmarks.

Creates a fresh benchmark database (never the test or user database), migrates it, fills it with
`bench.generate` at the chosen scale, runs each benchmark (or those named) with its baseline in
the same run, and writes `bench/results.json` and `bench/results.md`. `make bench` runs it
against PostgreSQL and Redis found by tests/services.py.
"""

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path

from .harness import markdown, recreate_database, setup_django

HERE = Path(__file__).parent
BENCHMARKS = ["kpis", "api", "memory", "weibo_ingest", "weibo_keywords", "wechat"]
SCALES = {
    "small": {
        "customers": 20_000,
        "conversations": 2_000,
        "messages": 20_000,
        "weibo_posts": 5_000,
    },
    "default": {
        "customers": 1_000_000,
        "conversations": 100_000,
        "messages": 1_000_000,
        "weibo_posts": 100_000,
    },
}


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks.")
    parser.add_argument("names", nargs="*", choices=[[], *BENCHMARKS], metavar="NAME")
    parser.add_argument("--scale", choices=sorted(SCALES), default="default")
    args = parser.parse_args()
    names = args.names or BENCHMARKS
    scale = SCALES[args.scale]
    started = time.perf_counter()
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
    results = []
    for name in names:
        sys.stderr.write(f"== {name}\n")
        module = importlib.import_module(f"bench.{name}")
        results += module.run(scale)
    table = markdown(results)
    print(table)
    (HERE / "results.md").write_text(table + "\n", encoding="utf-8")
    (HERE / "results.json").write_text(
        json.dumps(
            {
                "scale": args.scale,
                "rows": counts,
                "generated_seconds": round(generated_in, 1),
                "total_seconds": round(time.perf_counter() - started, 1),
                "machine": {
                    "python": platform.python_version(),
                    "cpus": __import__("os").cpu_count(),
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
        f"generated {counts} in {generated_in:.0f} s; total {time.perf_counter() - started:.0f} s\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
