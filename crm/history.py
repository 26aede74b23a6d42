"""History import: JSON Lines events fed through each channel's own ingestion code.

An app that imports history registers its table of handlers, `{"event type": handler}`, by dotted
path in its AppConfig.ready (`register_history_handlers`, so crm imports none of them);
`handler(event: dict) -> "created" | "duplicate"` applies
one event with its own timestamp, idempotently, and raises ValueError with a one-line message for
a bad event. The event types are those of DESIGN.md section 4; the README documents their fields.
"""

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.module_loading import import_string

HANDLER_TABLES: list[str] = []


def register_history_handlers(path: str) -> None:
    """Declare `path`, the dotted path of an app's {"event type": handler} table."""
    if path not in HANDLER_TABLES:
        HANDLER_TABLES.append(path)


def handlers() -> dict[str, Callable[[dict], str]]:
    """Every registered handler by event type (imported on first use, not at start-up)."""
    found: dict[str, Callable[[dict], str]] = {}
    for path in HANDLER_TABLES:
        found.update(import_string(path))
    return found


@dataclass
class ImportResult:
    created: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return self.created + self.duplicates + len(self.errors)


def parse_lines(lines: Iterable[str | bytes]) -> Iterator[tuple[int, dict | None, str]]:
    """(line number, event or None, error) for each non-blank line."""
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            yield number, None, f"not UTF-8 ({exc.reason} at byte {exc.start})"
            continue
        if not text.strip():
            continue
        try:
            event = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, None, f"not JSON: {exc.msg} at column {exc.colno}"
            continue
        if not isinstance(event, dict):
            yield number, None, "not a JSON object"
            continue
        yield number, event, ""


def import_events(
    lines: Iterable[str | bytes], progress: Callable[[int], None] | None = None
) -> ImportResult:
    """Apply every event; a bad one is recorded with its line number and the rest go on.

    Each event runs in its own transaction, so a failing one leaves nothing half-written.
    """
    known = handlers()
    result = ImportResult()
    for number, event, error in parse_lines(lines):
        if event is not None:
            kind = event.get("type")
            handler = known.get(kind) if isinstance(kind, str) else None
            if handler is None:
                error = (
                    f"unknown event type {kind!r} (known: {', '.join(sorted(known))})"
                    if kind
                    else "missing field 'type'"
                )
            else:
                try:
                    with transaction.atomic():
                        outcome = handler(event)
                except (ValueError, KeyError, TypeError) as exc:
                    error = f"{kind}: {exc}"
                else:
                    if outcome == "duplicate":
                        result.duplicates += 1
                    else:
                        result.created += 1
        if error:
            result.errors.append((number, error))
        if progress:
            progress(number)
    return result


def import_through_command(events: Iterable[dict], name: str, stdout=None) -> str:
    """Write events to `var/<name>.jsonl` and load them with `manage.py import_history`, the
    way a brand migrating from another tool would (used by the demo loaders, devtools.demo)."""
    from django.conf import settings
    from django.core.management import call_command

    folder = settings.BASE_DIR / "var"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
    call_command("import_history", str(path), stdout=stdout)
    return str(path)
