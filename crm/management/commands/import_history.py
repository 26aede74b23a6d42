"""`manage.py import_history FILE [FILE...]`: load JSON Lines history through the live ingestion
code (format in the README). Idempotent; bad lines are reported by number and skipped."""

import os
import sys

from django.core.management.base import BaseCommand, CommandError

from crm.history import import_events


class Command(BaseCommand):
    help = "Import history events (JSON Lines) through the same code as live traffic."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE", help="JSON Lines file, or -")
        parser.add_argument("--quiet-progress", action="store_true", help="no progress bar")

    def handle(self, *args, files, quiet_progress, **options):
        failed = 0
        for name in files:
            failed += self.import_file(name, quiet_progress)
        if failed:
            raise CommandError(f"{failed} line(s) could not be imported (listed above)")

    def import_file(self, name: str, quiet: bool) -> int:
        if name == "-":
            stream, size = sys.stdin.buffer, 0
        else:
            try:
                stream, size = open(name, "rb"), os.path.getsize(name)  # noqa: SIM115
            except OSError as exc:
                raise CommandError(f"cannot read {name}: {exc.strerror}") from None
        with stream:

            def progress(number: int) -> None:
                if quiet or number % 200:
                    return
                done = stream.tell() if size else 0
                width = 30
                filled = width * done // size if size else 0
                sys.stderr.write(
                    f"\r{name}: [{'#' * filled}{'.' * (width - filled)}] line {number}"
                )
                sys.stderr.flush()

            result = import_events(stream, progress)
        if not quiet:
            sys.stderr.write(f"\r{name}: [{'#' * 30}] line {result.lines}\n")
        for number, error in result.errors:
            self.stderr.write(f"{name}:{number}: {error}")
        self.stdout.write(
            f"{name}: {result.created} imported, {result.duplicates} already there, "
            f"{len(result.errors)} failed"
        )
        return len(result.errors)
