"""`manage.py backfill_kpis --start 2026-10-01 --end 2026-10-31 [--channel wechat]`"""

import sys
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from dashboards.snapshots import CHANNELS, compute_snapshots, today


def parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = "Compute (or recompute) the KPI snapshots of a range of days, with a progress bar."

    def add_arguments(self, parser):
        yesterday = (today() - timedelta(days=1)).isoformat()
        parser.add_argument("--start", default=yesterday)
        parser.add_argument("--end", default=yesterday)
        parser.add_argument("--channel", choices=sorted(CHANNELS), action="append")

    def handle(self, *args, start, end, channel, **options):
        first, last = parse_day(start), parse_day(end)
        if last < first:
            raise CommandError(f"--end {last} is before --start {first}")
        channels = channel or sorted(CHANNELS)
        total_days = ((last - first).days + 1) * len(channels)
        done = 0

        def progress(day):
            nonlocal done
            done += 1
            width = 30
            filled = width * done // total_days
            sys.stderr.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total_days} days  {day}"
            )
            sys.stderr.flush()

        rows = sum(compute_snapshots(c, first, last, progress=progress) for c in channels)
        sys.stderr.write("\n")
        self.stdout.write(f"{rows} snapshot rows for {total_days} channel-days")
