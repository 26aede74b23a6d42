"""Bulk writes for ingestion that Django's ORM makes slow.

`upsert_rows` inserts rows already in column form, one statement per 500:
`bulk_create(update_conflicts=True)` spends most of an ingestion page building model instances
and preparing every value through its field. `QuerySet.bulk_update` writes one `CASE WHEN id = ... THEN ...` per field, which costs Python
time to build and PostgreSQL time to evaluate, both growing with the square of the rows: at 500
rows it was two thirds of a WeChat drain's time (bench/wechat.py). `update_rows` writes the same
values with one `UPDATE ... FROM (VALUES ...)` join instead.
"""

import datetime as dt
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection, connections, router
from django.db.models import Model

BATCH = 500


def placeholders(values) -> str:
    """`%s, %s, ...`, one per value: the parameters of a raw `IN (...)`."""
    return ", ".join(["%s"] * len(values))


def for_update() -> str:
    """` FOR UPDATE` where the database locks rows so; "" on SQLite (the demo), whose writes
    the database lock serialises (what the ORM's select_for_update does there)."""
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def update_rows(objs: Iterable[Model], fields: list[str], batch_size: int = 1000) -> int:
    """Write `fields` of each object (all of one model, saved) to its row; returns the rows
    written. The same result as `bulk_update(objs, fields)`, in one statement per batch on
    PostgreSQL (other databases: bulk_update). No signals, no auto_now: like bulk_update."""
    objs = list(objs)
    if not objs:
        return 0
    model = type(objs[0])
    connection = connections[router.db_for_write(model) or "default"]
    if connection.vendor != "postgresql":
        return model._default_manager.bulk_update(objs, fields, batch_size=batch_size)
    meta = model._meta
    columns: list[Any] = [meta.pk, *(meta.get_field(name) for name in fields)]
    quote = connection.ops.quote_name
    names = ", ".join(quote(c.column) for c in columns)
    assignments = ", ".join(f"{quote(c.column)} = v.{quote(c.column)}" for c in columns[1:])
    row = "(" + ", ".join(f"%s::{c.db_type(connection)}" for c in columns) + ")"
    pk = quote(columns[0].column)
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            batch = objs[start : start + batch_size]
            params = [
                c.get_db_prep_save(getattr(obj, c.attname), connection)
                for obj in batch
                for c in columns
            ]
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608  names from the model
                f"FROM (VALUES {', '.join([row] * len(batch))}) AS v ({names}) "
                f"WHERE t.{pk} = v.{pk}",
                params,
            )
            written += cursor.rowcount
    return written


def upsert_rows(
    model,
    fields: list[str],
    rows: list,
    *,
    returning: list[str] | None = None,
    unique: str | None = None,
    update=(),
    merge: dict[str, str] | None = None,
    skip_conflicts: bool = False,
) -> list[tuple]:
    """INSERT ... [ON CONFLICT (unique) DO UPDATE ...] RETURNING, for rows already in column
    form (one tuple per row, in the order of `fields`, field names or attnames); the returned
    columns, in row order.

    Values must be plain (str, int, float, bool, None, Decimal, UUID, dates, aware datetimes);
    a JSONField's value is the Python value itself (dict, list...).
    PostgreSQL and SQLite >= 3.35 (the demo) both accept it. With `unique`,
    rows must be unique on it within a call; `update` names the fields a conflict overwrites and
    `merge` maps a field to how the stored value and the offered one combine (`{old}`, `{new}`),
    e.g. `"COALESCE({old}, {new})"`. `skip_conflicts`: a row that would break any unique
    constraint is left out (ON CONFLICT DO NOTHING). Without `returning`, returns [].
    Caller's transaction.
    """
    if not rows:
        return []
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    merge = {f: "{new}" for f in update} | (merge or {})
    returning = returning or []
    column = {f: quote(model._meta.get_field(f).column) for f in {*fields, *merge, *returning}}
    head = f"INSERT INTO {table} ({', '.join(column[f] for f in fields)}) "  # noqa: S608
    tail = f" RETURNING {', '.join(column[f] for f in returning)}" if returning else ""
    if skip_conflicts:
        tail = " ON CONFLICT DO NOTHING" + tail
    elif unique:
        sets = [
            f"{column[f]} = " + how.format(old=f"{table}.{column[f]}", new=f"excluded.{column[f]}")
            for f, how in merge.items()
        ]
        tail = f" ON CONFLICT ({column[unique]}) DO UPDATE SET {', '.join(sets)}" + tail
    out: list[tuple] = []
    with connection.cursor() as cursor:
        for at in range(0, len(rows), BATCH):
            source, params = _source(model, fields, rows[at : at + BATCH])
            cursor.execute(head + source + tail, params)
            if returning:
                out += cursor.fetchall()
    return out


def _source(model, fields: list[str], rows: list) -> tuple[str, list]:
    """The rows as something to INSERT from: SQL and its parameters.

    PostgreSQL: one JSON array of row arrays, unpacked by the server (`jsonb_array_elements`),
    in the order given. Binding the values one by one costs the driver a few microseconds each
    (a datetime about 3): for a page of 200 posts of 18 columns that was as long as PostgreSQL
    took to store them. One JSON text costs one `json.dumps`. Elsewhere (SQLite): VALUES, with
    JSON documents as text and datetimes as the backend stores them (naive UTC text).
    """
    found = [model._meta.get_field(f) for f in fields]
    documents = [i for i, f in enumerate(found) if f.get_internal_type() == "JSONField"]
    if connection.vendor != "postgresql":
        moments = [i for i, f in enumerate(found) if f.get_internal_type() == "DateTimeField"]
        one = "(" + ", ".join(["%s"] * len(fields)) + ")"
        params = []
        for row in rows:
            row = list(row)
            for i in documents:
                row[i] = json.dumps(row[i], ensure_ascii=False)
            for i in moments:
                if isinstance(row[i], dt.datetime):
                    row[i] = connection.ops.adapt_datetimefield_value(row[i])
            params += row
        return "VALUES " + ", ".join([one] * len(rows)), params
    casts = ", ".join(
        f"(r.value->{i})" if i in documents else f"(r.value->>{i})::{_cast_type(f)}"
        for i, f in enumerate(found)
    )
    payload = json.dumps(rows, ensure_ascii=False, default=_plain, separators=(",", ":"))
    return (
        f"SELECT {casts} FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS r (value, n)"  # noqa: S608  casts from the model
        " ORDER BY r.n",
        [payload],
    )


def _cast_type(field) -> str:
    """The SQL type a JSON text value is cast to for this field's column: its own type, but
    `text` for varchar, so that a value too long fails as it would in VALUES instead of being
    cut short by the cast."""
    target = field.target_field if field.is_relation else field
    kind = target.db_type(connection)
    return "text" if kind.startswith("varchar") else kind


def _plain(value):
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a plain value for a bulk write")
