"""Dashboard tables as CSV (UTF-8 with BOM, so Excel opens Chinese correctly) and Excel xlsx."""

import csv
import io
from datetime import datetime

from django.http import HttpResponse
from django.utils import timezone

from .reports import Table

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _cell(value):
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return value
    return str(value)


def table_rows(table: Table) -> list[list]:
    """Header row (in the active language) then one row per table row."""
    rows = [[str(header) for _key, header in table.columns]]
    rows += [[_cell(row.get(key)) for key, _header in table.columns] for row in table.rows]
    return rows


def _csv_safe(value):
    # A cell starting with = + - @ is a formula to Excel: quote it (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def export(table: Table, fmt: str, filename: str) -> HttpResponse:
    rows = table_rows(table)
    if fmt == "csv":
        buffer = io.StringIO()
        buffer.write("\ufeff")
        csv.writer(buffer).writerows([[_csv_safe(v) for v in row] for row in rows])
        body: bytes = buffer.getvalue().encode("utf-8")
    else:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = table.title[:31]
        for row in rows:
            sheet.append([_csv_safe(v) for v in row])
        out = io.BytesIO()
        book.save(out)
        body = out.getvalue()
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response
