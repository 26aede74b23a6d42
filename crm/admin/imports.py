"""Customer import from CSV or Excel (issue #19): upload, field mapping, dry run, confirm, undo.

/admin/crm/customerimport/import/ (`crm.add_customer`): the file is read and checked at once
with the mapping guessed from its headers (a dry run: nothing written); the page lists every
refused row by line and field, the good rows' count and a preview, and lets the person change
the mapping and check again. Only "Import the N good rows" writes, through
`crm.actions.imports.import_customers` (the customers API's `create_customer` for each row), and
leaves a CustomerImport record; its page has Undo (`crm.delete_customer`), which deletes the
customers it created.

Why not django-import-export: its confirm step is offered only when no row has an error, and
this import must let a person import the good rows of a file with bad ones; its columns are fixed
by the Resource, with no mapping step. The table travels between steps in the form itself
(re-checked on confirm), so no upload is kept on the server.
"""

import json

from django import forms
from django.contrib import admin
from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from ..actions.imports import (
    IMPORT_FIELDS,
    ImportFileError,
    UndoError,
    check_rows,
    guess_mapping,
    import_customers,
    read_table,
    undo_import,
)
from ..models import CustomerImport
from .readonly import ReadOnlyAdmin

MAX_UPLOAD = 10 * 1024 * 1024
PREVIEW_ROWS = 20


class UploadForm(forms.Form):
    file = forms.FileField(label=_lazy("CSV or Excel (.xlsx) file"))


def _mapping_from(post, header: list[str]) -> dict[str, int | None]:
    mapping: dict[str, int | None] = {}
    for name in IMPORT_FIELDS:
        raw = post.get(f"map_{name}", "")
        mapping[name] = int(raw) if raw.isdigit() and int(raw) < len(header) else None
    return mapping


@admin.register(CustomerImport)
class CustomerImportAdmin(ReadOnlyAdmin):
    list_display = ["file_name", "created_at", "created_by", "rows_total", "imported", "refused"]
    readonly_fields = [
        "file_name",
        "created_at",
        "created_by",
        "rows_total",
        "imported",
        "refused_rows",
        "mapping",
        "undone_at",
        "undone_by",
        "undo_link",
    ]
    exclude = ["errors", "customer_ids"]
    change_list_template = "admin/crm/customerimport/change_list.html"

    @admin.display(description=_lazy("customers created"))
    def imported(self, obj):
        return len(obj.customer_ids)

    @admin.display(description=_lazy("rows refused"))
    def refused(self, obj):
        return len({e["line"] for e in obj.errors})

    @admin.display(description=_lazy("rows refused"))
    def refused_rows(self, obj):
        return "; ".join(f"{e['line']} {e['field']}: {e['message']}" for e in obj.errors) or "—"

    @admin.display(description=_lazy("undo"))
    def undo_link(self, obj):
        if obj.undone_at:
            return "—"
        url = reverse("admin:crm_customerimport_undo", args=[obj.pk])
        return format_html('<a href="{}" class="button">{}</a>', url, _("Undo this import"))

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="crm_customerimport_import",
            ),
            path(
                "<int:pk>/undo/",
                self.admin_site.admin_view(self.undo_view),
                name="crm_customerimport_undo",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request):
        if not request.user.has_perm("crm.add_customer"):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Import customers"),
            "form": UploadForm(),
            "fields": [(name, label) for name, (label, _aliases) in IMPORT_FIELDS.items()],
        }
        if request.method != "POST":
            return render(request, "admin/crm/customerimport/import.html", context)
        step = request.POST.get("step", "upload")
        if step == "upload":
            form = UploadForm(request.POST, request.FILES)
            context["form"] = form
            if not form.is_valid():
                return render(request, "admin/crm/customerimport/import.html", context)
            upload = form.cleaned_data["file"]
            if upload.size > MAX_UPLOAD:
                form.add_error("file", _("The file is larger than 10 MB."))
                return render(request, "admin/crm/customerimport/import.html", context)
            try:
                header, rows = read_table(upload.name, upload.read())
            except ImportFileError as exc:
                form.add_error("file", " ".join(exc.messages))
                return render(request, "admin/crm/customerimport/import.html", context)
            file_name = upload.name
            mapping = guess_mapping(header)
        else:
            try:
                table = json.loads(request.POST.get("table", ""))
                header, rows = table["header"], table["rows"]
                file_name = str(table["file"])
            except (ValueError, KeyError, TypeError):
                flash.error(request, _("The import form was incomplete; upload the file again."))
                return redirect("admin:crm_customerimport_import")
            mapping = _mapping_from(request.POST, header)
        if step == "confirm":
            record = import_customers(header, rows, mapping, by=request.user, file_name=file_name)
            flash.success(
                request,
                _("%(n)d customers imported; %(bad)d rows refused.")
                % {"n": len(record.customer_ids), "bad": len({e["line"] for e in record.errors})},
            )
            return redirect("admin:crm_customerimport_change", record.pk)
        result = check_rows(header, rows, mapping)
        context.update(
            {
                "checked": True,
                "file_name": file_name,
                "header": header,
                "field_rows": [
                    (name, label, mapping.get(name)) for name, (label, _a) in IMPORT_FIELDS.items()
                ],
                "rows_total": len(rows),
                "result": result,
                "bad_count": len(result.bad_lines),
                "preview": [(line, fields) for line, fields in result.good[:PREVIEW_ROWS]],
                "table": json.dumps(
                    {"file": file_name, "header": header, "rows": rows}, ensure_ascii=False
                ),
            }
        )
        return render(request, "admin/crm/customerimport/import.html", context)

    def undo_view(self, request, pk: int):
        if not request.user.has_perm("crm.delete_customer"):
            raise PermissionDenied
        record = get_object_or_404(CustomerImport, pk=pk)
        if request.method == "POST":
            try:
                deleted = undo_import(record, by=request.user)
            except UndoError as exc:
                flash.error(request, " ".join(exc.messages))
            else:
                flash.success(request, _("Undone: %(n)d customers deleted.") % {"n": deleted})
            return redirect("admin:crm_customerimport_change", record.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Undo import"),
            "record": record,
        }
        return render(request, "admin/crm/customerimport/undo.html", context)
