"""Dashboard tables as CSV (crm.csvexport: UTF-8 with BOM, formulas guarded) and Excel xlsx."""

import io
from datetime import datetime

from django.http import HttpResponse
from django.utils import timezone

from crm.csvexport import csv_text, safe_cell

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


def export(table: Table, fmt: str, filename: str) -> HttpResponse:
    rows = table_rows(table)
    if fmt == "csv":
        body: bytes = csv_text(rows[0], rows[1:]).encode("utf-8")
    else:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = table.title[:31]
        for row in rows:
            # openpyxl stores a text starting with "=" as a formula: the same guard as CSV.
            sheet.append([safe_cell(v) for v in row])
        out = io.BytesIO()
        book.save(out)
        body = out.getvalue()
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response
