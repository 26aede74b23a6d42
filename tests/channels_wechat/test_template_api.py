"""The template API: templates read, a send job posted (refusals field-level 400s, nothing
stored), the job's report; every role."""

import pytest

from channels_wechat.models import TemplateSend
from channels_wechat.templates import add_library_template

from .test_templates import ORDER_DATA, follower, sandbox_sent

SENDS = "/api/v1/wechat/template-sends/"
TEMPLATES = "/api/v1/wechat/message-templates/"


@pytest.fixture
def template(wechat_sandbox, account):
    return add_library_template(account, "TM00015")


def test_api_sends_a_job_and_reports_it(
    wechat_sandbox, account, template, api, django_capture_on_commit_callbacks
):
    follower(account, wechat_sandbox, "oApi1")
    body = {"template": template.pk, "openids": ["oApi1", "oUnknown"], "values": ORDER_DATA}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(SENDS, {**body, "batch": "api-1"}, format="json")
    assert response.status_code == 202
    assert response.json() == {
        "batch": "api-1",
        "recipients": 2,
        "sent": 0,
        "failed": 0,
        "failed_by_reason": {},
        "held": 0,
        "pending": 2,
        "delivery": {},
    }
    report = api.get(f"{SENDS}report/?batch=api-1").json()
    assert (report["sent"], report["failed_by_reason"]) == (1, {"40003": 1})
    assert [s["touser"] for s in sandbox_sent(wechat_sandbox)] == ["oApi1"]
    listed = api.get(f"{SENDS}?batch=api-1&ordering=created_at").json()["results"]
    assert sorted((r["openid"], r["status"]) for r in listed) == [
        ("oApi1", "sent"),
        ("oUnknown", "failed"),
    ]


def test_api_refuses_a_value_over_the_limit_naming_the_variable(
    wechat_sandbox, account, template, api
):
    values = {**ORDER_DATA, "thing4": "店" * 21}
    body = {"template": template.pk, "openids": ["oApi1"], "values": values}
    response = api.post(SENDS, body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json()["thing4"] == ["thing4: at most 20 characters"]
    assert TemplateSend.objects.count() == 0


def test_roles(wechat_sandbox, account, template, role_clients):
    body = {"template": template.pk, "openids": ["oR"], "values": ORDER_DATA, "batch": "r"}
    statuses = {
        role: (
            client.get(TEMPLATES).status_code,
            client.get(SENDS).status_code,
            client.get(f"{SENDS}report/?batch=r").status_code,
            client.post(SENDS, body, format="json").status_code,
        )
        for role, client in role_clients.items()
    }
    assert statuses == {
        "marketing": (200, 200, 200, 202),
        "agent": (403, 403, 403, 403),
        "manager": (200, 200, 200, 403),
        "superuser": (200, 200, 200, 202),
        "anonymous": (401, 401, 401, 401),
    }
    assert TemplateSend.objects.count() == 1  # the same batch twice: one row


def test_the_limit_is_named_in_chinese_for_a_chinese_client(wechat_sandbox, account, template, api):
    values = {**ORDER_DATA, "thing4": "店" * 21}
    body = {"template": template.pk, "openids": ["oApi1"], "values": values}
    response = api.post(SENDS, body, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert (response.status_code, response.json()["thing4"]) == (400, ["thing4: 最多 20 个字符"])
    assert TemplateSend.objects.count() == 0
