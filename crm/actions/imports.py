"""Customer import from a CSV or Excel file (the admin page is crm.admin.imports).

A file becomes a table (`read_table`); its columns are mapped to customer fields
(`guess_mapping`, changed by the person); `check_rows` is the dry run: every row cleaned exactly
as the customers API cleans its input, the refused ones listed by line and field.
`import_customers` writes the good rows through `create_customer` (the API's action) and keeps a
CustomerImport record; `undo_import` deletes what it created.
"""

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from ..models import Customer, CustomerImport, Gender, Tag, normalize_email, normalize_phone
from .customers import create_customer

# The customer fields a file may fill, with the column headers recognised for each.
IMPORT_FIELDS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "name": (_lazy("name"), ("name", "姓名", "名字", "客户名称", "昵称")),
    "phone": (_lazy("phone"), ("phone", "mobile", "手机", "手机号", "电话", "手机号码")),
    "email": (_lazy("email"), ("email", "e-mail", "邮箱", "电子邮件")),
    "gender": (_lazy("gender"), ("gender", "sex", "性别")),
    "city": (_lazy("city"), ("city", "城市")),
    "birthday": (_lazy("birthday"), ("birthday", "生日", "出生日期")),
    "tags": (_lazy("tags"), ("tags", "tag", "标签")),
}
GENDERS = {
    "": Gender.UNKNOWN,
    "男": Gender.MALE,
    "m": Gender.MALE,
    "male": Gender.MALE,
    "女": Gender.FEMALE,
    "f": Gender.FEMALE,
    "female": Gender.FEMALE,
    "未知": Gender.UNKNOWN,
    "unknown": Gender.UNKNOWN,
}
MAX_ROWS = 50_000
TAG_SEPARATORS = (",", "，", ";", "；", "|", "、")


class ImportFileError(ValidationError):
    """The file itself cannot be read (not CSV/XLSX, empty, too many rows)."""


def read_table(name: str, content: bytes) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of a .csv (UTF-8 or GBK) or .xlsx file, cells as text.

    Raises ImportFileError naming the problem; nothing is written.
    """
    lower = name.lower()
    if lower.endswith(".xlsx"):
        rows = _read_xlsx(content)
    elif lower.endswith(".csv") or lower.endswith(".txt"):
        rows = _read_csv(content)
    else:
        raise ImportFileError({"file": _("Upload a .csv or .xlsx file.")})
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise ImportFileError({"file": _("The file is empty.")})
    if len(rows) - 1 > MAX_ROWS:
        raise ImportFileError(
            {"file": _("At most %(max)d rows in one import.") % {"max": MAX_ROWS}}
        )
    header = [h.strip() for h in rows[0]]
    width = len(header)
    return header, [(r + [""] * width)[:width] for r in rows[1:]]


def _read_csv(content: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        return [list(r) for r in csv.reader(io.StringIO(text))]
    raise ImportFileError({"file": _("The CSV file is neither UTF-8 nor GBK text.")})


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone typed as a number
    return str(value)


def _read_xlsx(content: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise ImportFileError({"file": _("Not a readable .xlsx workbook.")}) from exc
    sheet = book.worksheets[0]
    return [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]


def guess_mapping(header: list[str]) -> dict[str, int | None]:
    """For each importable field, the index of the column whose header names it, or None."""
    names = [h.strip().lower() for h in header]
    mapping: dict[str, int | None] = {}
    for name, (_label, aliases) in IMPORT_FIELDS.items():
        mapping[name] = next(
            (i for i, h in enumerate(names) if h in {a.lower() for a in aliases}), None
        )
    return mapping


@dataclass
class RowError:
    line: int  # the line in the file, the header being line 1
    field: str
    value: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "field": self.field,
            "value": self.value,
            "message": self.message,
        }


@dataclass
class CheckResult:
    good: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def bad_lines(self) -> list[int]:
        return sorted({e.line for e in self.errors})


def _clean_row(values: dict[str, str], tags: dict[str, Tag]) -> tuple[dict[str, Any], dict]:
    """The cleaned fields of one row and its errors by field (the API's own cleaning)."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    name = values.get("name", "").strip()
    if len(name) > 128:
        errors["name"] = _("At most 128 characters.")
    elif name:
        cleaned["name"] = name
    try:
        phone = normalize_phone(values.get("phone", ""))
    except ValidationError as exc:
        errors["phone"] = " ".join(exc.messages)
    else:
        if phone:
            cleaned["phone"] = phone
    email = values.get("email", "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            errors["email"] = " ".join(exc.messages)
        else:
            cleaned["email"] = normalize_email(email)
    gender = values.get("gender", "").strip().lower()
    if gender in GENDERS:
        if gender:
            cleaned["gender"] = GENDERS[gender]
    else:
        errors["gender"] = _("Write 男 or 女 (or male / female).")
    city = values.get("city", "").strip()
    if len(city) > 64:
        errors["city"] = _("At most 64 characters.")
    elif city:
        cleaned["city"] = city
    birthday = values.get("birthday", "").strip()
    if birthday:
        try:
            cleaned["birthday"] = date.fromisoformat(birthday.replace("/", "-"))
        except ValueError:
            errors["birthday"] = _("Write a date as YYYY-MM-DD.")
    names = values.get("tags", "")
    for sep in TAG_SEPARATORS:
        names = names.replace(sep, ",")
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in tags]
    if unknown:
        errors["tags"] = _("Unknown tag: %(names)s.") % {"names": ", ".join(unknown)}
    elif wanted:
        cleaned["tags"] = [tags[n] for n in dict.fromkeys(wanted)]
    if not errors and not (cleaned.get("name") or cleaned.get("phone") or cleaned.get("email")):
        errors["name"] = _("A row needs a name, a phone or an email.")
    return cleaned, errors


def check_rows(
    header: list[str], rows: list[list[str]], mapping: dict[str, int | None]
) -> CheckResult:
    """The dry run: each row cleaned as the customers API cleans its input; a row with any
    error is refused as a whole. A phone already on an active customer, or twice in the file,
    is refused too (importing the same list twice must not double everyone). Writes nothing."""
    result = CheckResult()
    tags = {t.name: t for t in Tag.objects.all()}
    cleaned_rows = []
    for index, row in enumerate(rows):
        line = index + 2
        values = {
            name: (row[col] if col is not None and col < len(row) else "")
            for name, col in mapping.items()
        }
        cleaned, errors = _clean_row(values, tags)
        for name, message in errors.items():
            result.errors.append(RowError(line, name, values.get(name, ""), message))
        if not errors:
            cleaned_rows.append((line, cleaned, values))
    phones = [c["phone"] for _l, c, _v in cleaned_rows if c.get("phone")]
    taken = dict(
        Customer.objects.active()
        .filter(phone__in=phones)
        .values_list("phone", "pk")
        .order_by("pk")
        .distinct()
    )
    seen: dict[str, int] = {}
    for line, cleaned, values in cleaned_rows:
        phone = cleaned.get("phone")
        if phone and phone in taken:
            message = _("This phone already belongs to customer #%(id)s.") % {"id": taken[phone]}
        elif phone and phone in seen:
            message = _("This phone is already on line %(line)s.") % {"line": seen[phone]}
        else:
            if phone:
                seen[phone] = line
            result.good.append((line, cleaned))
            continue
        result.errors.append(RowError(line, "phone", values.get("phone", ""), message))
    result.errors.sort(key=lambda e: (e.line, e.field))
    return result


def import_customers(
    header: list[str],
    rows: list[list[str]],
    mapping: dict[str, int | None],
    *,
    by,
    file_name: str,
) -> CustomerImport:
    """Import the good rows (checked again, as in the dry run) and keep the undo record.

    Each customer is created by `create_customer`, the API's action. Atomic: all the good rows
    and the record, or nothing. The refused rows are listed on the record, not imported.
    """
    result = check_rows(header, rows, mapping)
    with transaction.atomic():
        ids = [create_customer(fields, by=by).pk for _line, fields in result.good]
        return CustomerImport.objects.create(
            file_name=file_name[:255],
            created_by=by,
            rows_total=len(rows),
            mapping={k: v for k, v in mapping.items() if v is not None},
            errors=[e.as_dict() for e in result.errors],
            customer_ids=ids,
        )


class UndoError(ValidationError):
    """An import that cannot be undone (done already, or its customers have moved on)."""


def undo_import(record: CustomerImport, *, by) -> int:
    """Delete the customers an import created; returns how many. Atomic and all-or-nothing.

    Raises UndoError if it was undone already, or if one of its customers has since been merged,
    or has conversations, messages, orders or other rows pointing at it (a deletion would lose
    them): nothing is then deleted.
    """
    from django.db.models import ProtectedError

    with transaction.atomic():
        locked = CustomerImport.objects.select_for_update().get(pk=record.pk)
        if locked.undone_at:
            raise UndoError({"import": _("This import was undone already.")})
        customers = Customer.objects.filter(pk__in=locked.customer_ids)
        if customers.filter(merged_into__isnull=False).exists():
            raise UndoError(
                {"import": _("Some of its customers were merged since; undo is not possible.")}
            )
        try:
            deleted = customers.count()
            customers.delete()
        except ProtectedError as exc:
            raise UndoError(
                {
                    "import": _(
                        "Some of its customers have conversations, orders or other records "
                        "since; undo is not possible."
                    )
                }
            ) from exc
        locked.undone_at = timezone.now()
        locked.undone_by = by
        locked.save(update_fields=["undone_at", "undone_by"])
    record.undone_at, record.undone_by = locked.undone_at, by
    return deleted
