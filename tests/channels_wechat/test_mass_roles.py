"""Who may draft, approve, start, preview and read mass sends: every role, through the API and
the admin. Marketing drafts and starts but cannot approve (its own or any); a manager approves
but changes nothing else; nobody approves their own send; an unapproved send never goes out."""

import pytest
from django.test import Client

from channels_wechat.models import MassSend
from tests.conftest import make_staff

from .mass_helpers import draft, followers, sandbox_get

pytestmark = pytest.mark.django_db
API = "/api/v1/wechat/mass-sends/"
ROLES = ["marketing", "agent", "manager", "superuser", "anonymous"]


def body(account):
    return {
        "account": account.pk,
        "title": "周末闪购",
        "target": "all",
        "kind": "text",
        "text": "周末闪购，全场五折",
    }


@pytest.mark.parametrize(
    "role,status",
    [("marketing", 201), ("agent", 403), ("manager", 403), ("superuser", 201), ("anonymous", 401)],
)
def test_create_draft_by_role(account, role_clients, role, status):
    response = role_clients[role].post(API, body(account), format="json")
    assert response.status_code == status
    assert MassSend.objects.count() == (1 if status == 201 else 0)
    if status == 201:
        assert response.data["status"] == "draft"


@pytest.mark.parametrize(
    "role,status",
    [("marketing", 200), ("agent", 403), ("manager", 200), ("superuser", 200), ("anonymous", 401)],
)
def test_list_and_report_by_role(account, role_clients, role, status):
    send = draft(account)
    assert role_clients[role].get(API).status_code == status
    report = role_clients[role].get(f"{API}{send.pk}/report/")
    assert report.status_code == status
    if status == 200:
        assert report.data == {
            "targeted": 0,
            "skipped_consent": 0,
            "deferred": 0,
            "sent": 0,
            "failed": 0,
            "failed_by_reason": {},
            "filtered": 0,
            "clicks": 0,
            "unique_clickers": 0,
            "converted": 0,
            "unfollowed": 0,
        }


@pytest.mark.parametrize(
    "role,status,after",
    [
        ("marketing", 403, "draft"),
        ("agent", 403, "draft"),
        ("manager", 200, "approved"),
        ("superuser", 200, "approved"),
        ("anonymous", 401, "draft"),
    ],
)
def test_approve_by_role(account, role_clients, marketing_user, role, status, after):
    send = draft(account, author=marketing_user)
    response = role_clients[role].post(f"{API}{send.pk}/approve/")
    assert response.status_code == status
    send.refresh_from_db()
    assert send.status == after
    if status == 200:
        assert send.approved_by.username == {"manager": "manager", "superuser": "root"}[role]


def test_nobody_approves_their_own_send(account, role_clients, admin_user):
    send = draft(account, author=admin_user)
    response = role_clients["superuser"].post(f"{API}{send.pk}/approve/")
    assert response.status_code == 400
    assert response.data == ["群发须由创建人以外的人审批。"]
    send.refresh_from_db()
    assert (send.status, send.approved_by) == ("draft", None)


@pytest.mark.parametrize("role", ROLES)
def test_unapproved_send_cannot_be_started_by_any_role(account, wechat_sandbox, role_clients, role):
    followers(account, wechat_sandbox, 2)
    send = draft(account)
    response = role_clients[role].post(f"{API}{send.pk}/start/")
    assert response.status_code == {"marketing": 400, "superuser": 400, "anonymous": 401}.get(
        role, 403
    )
    if response.status_code == 400:
        assert response.data == ["未经审批的群发不能发送。"]
    send.refresh_from_db()
    assert send.status == "draft"
    assert sandbox_get(wechat_sandbox, "/sandbox/mass")["jobs"] == []


@pytest.mark.parametrize(
    "role,status",
    [("marketing", 200), ("agent", 403), ("manager", 403), ("superuser", 200), ("anonymous", 401)],
)
def test_approved_send_started_by_role_goes_out(
    account, wechat_sandbox, role_clients, role, status, django_capture_on_commit_callbacks
):
    followers(account, wechat_sandbox, 2)
    send = draft(account)
    send.status = "approved"
    send.approved_by = make_staff("approver", "manager")
    send.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = role_clients[role].post(f"{API}{send.pk}/start/")
    assert response.status_code == status
    send.refresh_from_db()
    if status == 200:
        assert (send.status, send.sent) == ("done", 2)
        assert sandbox_get(wechat_sandbox, "/sandbox/mass")["received"] == {
            "oMass0000": 1,
            "oMass0001": 1,
        }
    else:
        assert (send.status, send.sent) == ("approved", 0)


def test_approved_send_can_no_longer_be_edited(account, role_clients, marketing_user):
    send = draft(account, author=marketing_user)
    assert role_clients["manager"].post(f"{API}{send.pk}/approve/").status_code == 200
    response = role_clients["marketing"].patch(
        f"{API}{send.pk}/", {"text": "改过的文字"}, format="json"
    )
    assert response.status_code == 400
    assert response.data == ["只有草稿可以修改；该群发状态为已审批。"]
    send.refresh_from_db()
    assert send.text == "会员日全场八折"


def test_bad_draft_fields_are_field_errors(account, role_clients):
    response = role_clients["marketing"].post(API, {**body(account), "kind": "fax"}, format="json")
    assert response.status_code == 400
    assert response.data == {"kind": ["“fax” 不是合法选项。"]}
    assert MassSend.objects.count() == 0


@pytest.mark.parametrize(
    "role,can_approve", [("marketing", False), ("manager", True), ("superuser", True)]
)
def test_admin_approve_action_by_role(
    account, role, can_approve, marketing_user, manager_user, admin_user
):
    user = {"marketing": marketing_user, "manager": manager_user, "superuser": admin_user}[role]
    send = draft(account, author=make_staff("writer", "marketing"))
    client = Client()
    client.force_login(user)
    page = client.get("/admin/channels_wechat/masssend/")
    assert page.status_code == 200
    assert ('value="approve"' in page.content.decode()) is can_approve
    client.post(
        "/admin/channels_wechat/masssend/",
        {"action": "approve", "_selected_action": [send.pk]},
    )
    send.refresh_from_db()
    assert send.status == ("approved" if can_approve else "draft")


def test_admin_pages_refuse_agents_and_anonymous(account, agent_user):
    send = draft(account)
    client = Client()
    assert client.get("/admin/channels_wechat/masssend/").status_code == 302
    client.force_login(agent_user)
    assert client.get("/admin/channels_wechat/masssend/").status_code == 403
    assert client.get(f"/admin/channels_wechat/masssend/{send.pk}/change/").status_code == 403
