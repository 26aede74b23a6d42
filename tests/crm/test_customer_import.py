"""Customer import from CSV / Excel in the admin: dry run lists the bad rows by line and field,
confirm imports the good ones through the API's action, undo removes them (issue #19 item 6)."""

import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from crm.actions.imports import check_rows, read_table
from crm.models import Customer, CustomerImport, Tag

from .factories import CustomerFactory

HEADER = "姓名,手机,邮箱,性别,城市,生日,标签"
# 10 bad rows, at these data indexes, each with one bad field.
BAD = {
    7: ("phone", "12345"),
    50: ("email", "not-an-email"),
    99: ("gender", "不详"),
    150: ("birthday", "1990-13-45"),
    200: ("tags", "不存在的标签"),
    333: ("phone", "+86 abc"),
    500: ("email", "a@b"),
    640: ("birthday", "昨天"),
    777: ("phone", "13800000000"),  # already belongs to an existing customer
    998: ("gender", "x"),
}


def build_csv(rows: int = 1000) -> bytes:
    lines = [HEADER]
    for i in range(rows):
        fields = {
            "name": f"客户{i}",
            "phone": f"+86 139 {i:04d} {i:04d}",
            "email": f"c{i}@example.com",
            "gender": "男" if i % 2 else "女",
            "city": "上海",
            "birthday": "1990-05-01",
            "tags": "VIP" if i % 10 == 0 else "",
        }
        if i in BAD:
            field, value = BAD[i]
            fields[field] = value
        lines.append(",".join(fields.values()))
    return "\n".join(lines).encode("utf-8")


@pytest.fixture
def existing(db):
    Tag.objects.create(name="VIP")
    return CustomerFactory(name="老客户", phone="13800000000")


@pytest.fixture
def admin_client(marketing_user):
    client = Client()
    client.force_login(marketing_user)
    return client


def table_from(html: str) -> str:
    match = re.search(r'name="table" value="([^"]*)"', html)
    assert match
    import html as htmllib

    return htmllib.unescape(match.group(1))


def test_thousand_rows_ten_bad_dry_run_confirm_and_undo(existing, admin_client, marketing_user):
    before = Customer.objects.count()
    upload = SimpleUploadedFile("customers.csv", build_csv(), content_type="text/csv")
    response = admin_client.post(
        "/admin/crm/customerimport/import/", {"step": "upload", "file": upload}
    )
    assert response.status_code == 200
    html = response.content.decode()
    # The dry run wrote nothing and lists exactly the 10 bad rows, by line (header = line 1).
    assert Customer.objects.count() == before
    found = re.findall(r'class="row-error" data-line="(\d+)" data-field="(\w+)"', html)
    assert sorted((int(line), field) for line, field in found) == sorted(
        (i + 2, field) for i, (field, _v) in BAD.items()
    )
    assert "共 1000 行，990 行可导入，10 行未通过" in html  # 1000 rows, 990 importable, 10 refused
    assert f"该手机号已属于客户 #{existing.pk}。" in html  # This phone already belongs to ...
    # Confirm: the 990 good rows are imported.
    response = admin_client.post(
        "/admin/crm/customerimport/import/",
        {
            "step": "confirm",
            "table": table_from(html),
            "map_name": "0",
            "map_phone": "1",
            "map_email": "2",
            "map_gender": "3",
            "map_city": "4",
            "map_birthday": "5",
            "map_tags": "6",
        },
    )
    assert response.status_code == 302
    record = CustomerImport.objects.get()
    assert len(record.customer_ids) == 990
    assert sorted({e["line"] for e in record.errors}) == sorted(i + 2 for i in BAD)
    assert record.created_by_id == marketing_user.pk
    assert Customer.objects.count() == before + 990
    first = Customer.objects.get(name="客户1")
    assert (first.phone, first.email, first.gender, first.city, str(first.birthday)) == (
        "13900010001",
        "c1@example.com",
        "male",
        "上海",
        "1990-05-01",
    )
    assert (first.phone_verified, first.first_channel) == (False, "manual")
    assert list(Customer.objects.get(name="客户10").tags.values_list("name", flat=True)) == ["VIP"]
    assert not Customer.objects.filter(name="客户7").exists()
    # Undo removes exactly them.
    assert admin_client.get(f"/admin/crm/customerimport/{record.pk}/undo/").status_code == 200
    response = admin_client.post(f"/admin/crm/customerimport/{record.pk}/undo/")
    assert response.status_code == 302
    assert Customer.objects.count() == before
    assert Customer.objects.filter(pk=existing.pk).exists()
    record.refresh_from_db()
    assert record.undone_at is not None and record.undone_by_id == marketing_user.pk
    # A second undo is refused and deletes nothing.
    admin_client.post(f"/admin/crm/customerimport/{record.pk}/undo/")
    assert Customer.objects.count() == before


def test_mapping_can_be_changed_before_importing(existing, admin_client):
    content = "客户名,电话号码\n王五,13912345678\n".encode()
    response = admin_client.post(
        "/admin/crm/customerimport/import/",
        {"step": "upload", "file": SimpleUploadedFile("x.csv", content)},
    )
    html = response.content.decode()
    table = table_from(html)
    # No header is recognised: a row with nothing mapped is refused.
    assert re.findall(r'data-line="(\d+)" data-field="(\w+)"', html) == [("2", "name")]
    response = admin_client.post(
        "/admin/crm/customerimport/import/",
        {"step": "check", "table": table, "map_name": "0", "map_phone": "1"},
    )
    assert 'class="row-error"' not in response.content.decode()
    admin_client.post(
        "/admin/crm/customerimport/import/",
        {"step": "confirm", "table": table, "map_name": "0", "map_phone": "1"},
    )
    assert Customer.objects.filter(name="王五", phone="13912345678").count() == 1


def test_xlsx_file_is_read_like_csv(db):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["name", "phone", "birthday"])
    sheet.append(["Li Lei", 13912345678, None])
    buffer = io.BytesIO()
    book.save(buffer)
    header, rows = read_table("people.xlsx", buffer.getvalue())
    assert (header, rows) == (["name", "phone", "birthday"], [["Li Lei", "13912345678", ""]])


def test_unreadable_file_is_refused_with_one_line(db, admin_client):
    response = admin_client.post(
        "/admin/crm/customerimport/import/",
        {"step": "upload", "file": SimpleUploadedFile("x.pdf", b"%PDF")},
    )
    assert response.status_code == 200
    assert Customer.objects.count() == 0
    assert CustomerImport.objects.count() == 0


def test_duplicate_phone_inside_the_file_is_refused_on_the_later_line(db):
    result = check_rows(
        ["name", "phone"],
        [["A", "13911112222"], ["B", "+86 139 1111 2222"]],
        {"name": 0, "phone": 1},
    )
    assert [line for line, _fields in result.good] == [2]
    assert [(e.line, e.field) for e in result.errors] == [(3, "phone")]


def test_agent_and_manager_cannot_import(agent_user, manager_user):
    for user in (agent_user, manager_user):
        client = Client()
        client.force_login(user)
        upload = SimpleUploadedFile("c.csv", "name\n王五\n".encode())
        response = client.post(
            "/admin/crm/customerimport/import/", {"step": "upload", "file": upload}
        )
        assert response.status_code == 403
        response = client.post(
            "/admin/crm/customerimport/import/",
            {
                "step": "confirm",
                "table": json.dumps({"file": "c.csv", "header": ["name"], "rows": [["王五"]]}),
                "map_name": "0",
            },
        )
        assert response.status_code == 403
    assert Customer.objects.count() == 0
