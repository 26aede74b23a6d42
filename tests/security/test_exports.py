"""CSV exports: who may export personal data, the audit entry each export writes, and the guard
against formula injection that every export shares (security issue #14, findings 4 and 7)."""

import csv
import io

import pytest
from django.test import Client

from crm.models import AuditEntry
from members.models import Membership, Order, Store
from tests.conftest import client_for
from tests.crm.factories import CustomerFactory
from tests.dashboards.datasets import END, START, dataset  # noqa: F401

# A value a spreadsheet would run as a formula, for each character that starts one.
HOSTILE = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]
GUARDED = ["'" + value for value in HOSTILE]


def _entries():
    return list(
        AuditEntry.objects.order_by("id").values_list(
            "actor_name", "action", "object_type", "object_id", "summary"
        )
    )


def _rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")  # BOM: Excel opens Chinese correctly
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def _member(name: str, number: str, phone: str = "13800000001") -> Membership:
    return Membership.objects.create(
        customer=CustomerFactory(name=name, phone=phone),
        member_number=number,
        joined_via="wechat",
        points_balance=0,
    )


# Finding 4: the member export needs the customer export's permission and is audited -----------


@pytest.mark.parametrize(
    "role,status",
    [("marketing", 200), ("superuser", 200), ("agent", 403), ("manager", 403), ("anonymous", 401)],
)
def test_member_export_needs_the_customer_export_permission(role_clients, role, status):
    _member("王芳", "M0001")
    response = role_clients[role].get("/api/v1/members/export/")
    assert response.status_code == status
    if status != 200:
        assert _entries() == []  # a refused export is not an export


def test_member_export_is_audited_like_the_customer_export(marketing_user):
    _member("王芳", "M0001"), _member("李雷", "M0002", "13800000002")
    response = client_for(marketing_user).get("/api/v1/members/export/", {"joined_via": "wechat"})
    assert response.status_code == 200
    assert [row[0] for row in _rows(response)[1:]] == ["M0002", "M0001"]
    assert _entries() == [
        (
            "mkt",
            "export",
            "members.Membership",
            "",
            "CSV export through the API of 2 members, query: joined_via=wechat",
        )
    ]


def test_customer_export_is_refused_to_agents_and_managers_and_not_audited(role_clients):
    CustomerFactory()
    for role in ("agent", "manager"):
        assert role_clients[role].get("/api/v1/customers/export/").status_code == 403
    assert _entries() == []


def test_export_action_refuses_a_user_without_the_permission(agent_user):
    from django.core.exceptions import PermissionDenied

    from crm.models import Customer
    from crm.privacy import export_customers

    CustomerFactory()
    with pytest.raises(PermissionDenied):
        export_customers(Customer.objects.all(), by=agent_user, via="in the admin")
    assert _entries() == []


# Finding 7: no export writes a cell a spreadsheet would run as a formula ----------------------


def test_customer_api_export_guards_formulas(marketing_user):
    for name in HOSTILE:
        CustomerFactory(name=name, city="-城市")
    response = client_for(marketing_user).get("/api/v1/customers/export/", {"ordering": "id"})
    assert response.status_code == 200
    rows = _rows(response)[1:]
    assert [row[1] for row in rows] == GUARDED
    assert {row[5] for row in rows} == {"'-城市"}


def test_customer_admin_export_guards_formulas(admin_user):
    ids = [CustomerFactory(name=name).pk for name in HOSTILE]
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        "/admin/crm/customer/", {"action": "export_csv", "_selected_action": ids}
    )
    assert response.status_code == 200
    assert sorted(row[1] for row in _rows(response)[1:]) == sorted(GUARDED)


def test_member_export_guards_formulas(marketing_user):
    for i, name in enumerate(HOSTILE):
        _member(name, f"M{i:04d}")
    response = client_for(marketing_user).get("/api/v1/members/export/")
    assert response.status_code == 200
    assert sorted(row[2] for row in _rows(response)[1:]) == sorted(GUARDED)


def test_order_export_guards_formulas(marketing_user):
    store = Store.objects.create(code="=cmd|' /C calc'!A0", name="门店")
    Order.objects.create(out_trade_no="T1", channel="pos", amount_fen=100, store=store)
    response = client_for(marketing_user).get("/api/v1/orders/export/")
    assert response.status_code == 200
    assert [row[5] for row in _rows(response)[1:]] == ["'=cmd|' /C calc'!A0"]


def test_dashboard_export_goes_through_the_same_guard(client, dataset, manager_user):  # noqa: F811
    # Names reach the dashboards stripped (get_full_name), so tab and CR cannot start them there;
    # the shared guard is what this proves.
    from django.contrib.auth.models import User

    User.objects.filter(username="agent").update(first_name="@SUM(A1)")
    client.force_login(manager_user)
    response = client.get(f"/dashboards/wechat/export/agents.csv?start={START}&end={END}")
    assert response.status_code == 200
    assert [row[0] for row in _rows(response)[1:]] == ["'@SUM(A1)", "未分配"]


def test_csv_cell_guard():
    from crm.csvexport import safe_cell

    assert [safe_cell(v) for v in HOSTILE] == GUARDED
    assert [safe_cell(v) for v in ("王芳", "", "a=b", -5, 1.5, None)] == [
        "王芳",
        "",
        "a=b",
        -5,
        1.5,
        None,
    ]
