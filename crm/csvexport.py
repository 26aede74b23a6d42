"""The one CSV writer every export uses (customers, members, orders, dashboards).

Files are UTF-8 with a BOM, so Excel opens Chinese correctly, and no cell can run as a formula:
a text value that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is what Excel,
WPS and LibreOffice read as the start of a formula (CSV injection: a customer named
`=HYPERLINK(...)` would become a link, or a command, on the exporter's desktop), so such a
value is written with a leading `'`, which spreadsheets show as text and do not display.
Numbers stay numbers: only text is guarded.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value`, with a leading `'` if it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    """A file that hands back what is written, so csv.writer can feed a streamed response."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The BOM and header, then one guarded CSV line per row, lazily (for streaming)."""
    writer = csv.writer(_Echo())
    yield BOM + writer.writerow([safe_cell(v) for v in header])
    for row in rows:
        yield writer.writerow([safe_cell(v) for v in row])


def csv_text(header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> str:
    """`csv_lines` as one string, for small tables answered in one piece."""
    buffer = io.StringIO()
    buffer.writelines(csv_lines(header, rows))
    return buffer.getvalue()


def csv_response(lines: Iterable[str], filename: str) -> StreamingHttpResponse:
    """A streamed CSV download of `lines` (from `csv_lines`) named `filename`."""
    return StreamingHttpResponse(
        lines,
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
