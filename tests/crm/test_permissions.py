"""The role permission matrix: every role against every crm API resource and action."""

import pytest

from crm.actions import create_lead
from crm.models import Segment

from .factories import CustomerFactory, TagFactory

ROLES = ["marketing", "agent", "manager", "superuser", "anonymous"]


def _world():
    tag = TagFactory(name="VIP")
    customer = CustomerFactory(name="甲")
    other = CustomerFactory(name="乙")
    lead, _ = create_lead(customer, "询价", source_channel="weibo")
    segment = Segment.objects.create(name="s", filters={"city": "上海"})
    return {"tag": tag, "customer": customer, "other": other, "lead": lead, "segment": segment}


# (name, method, url, body, expected status per role in ROLES order)
CASES = [
    ("customers list", "get", "/api/v1/customers/", None, [200, 200, 200, 200, 401]),
    ("customer detail", "get", "/api/v1/customers/{customer}/", None, [200, 200, 200, 200, 401]),
    ("customer create", "post", "/api/v1/customers/", {"name": "新"}, [201, 403, 403, 201, 401]),
    (
        "customer update",
        "patch",
        "/api/v1/customers/{customer}/",
        {"city": "杭州"},
        [200, 200, 403, 200, 401],
    ),
    ("customer delete", "delete", "/api/v1/customers/{other}/", None, [204, 403, 403, 204, 401]),
    (
        "customer merge",
        "post",
        "/api/v1/customers/{customer}/merge/",
        {"source": "{other}"},
        [200, 403, 403, 200, 401],
    ),
    ("customer export", "get", "/api/v1/customers/export/", None, [200, 403, 403, 200, 401]),
    (
        "customer bulk tag",
        "post",
        "/api/v1/customers/bulk-tag/",
        {"customers": ["{customer}"], "tags": ["VIP"]},
        [200, 200, 403, 200, 401],
    ),
    (
        "customer timeline",
        "get",
        "/api/v1/customers/{customer}/timeline/",
        None,
        [200, 200, 200, 200, 401],
    ),
    (
        "customer duplicates",
        "get",
        "/api/v1/customers/{customer}/duplicates/",
        None,
        [200, 200, 200, 200, 401],
    ),
    (
        "customer notes read",
        "get",
        "/api/v1/customers/{customer}/notes/",
        None,
        [200, 200, 200, 200, 401],
    ),
    (
        "customer notes write",
        "post",
        "/api/v1/customers/{customer}/notes/",
        {"body": "记"},
        [201, 201, 403, 201, 401],
    ),
    ("tags list", "get", "/api/v1/tags/", None, [200, 200, 200, 200, 401]),
    ("tag create", "post", "/api/v1/tags/", {"name": "新标签"}, [201, 403, 403, 201, 401]),
    ("tag update", "patch", "/api/v1/tags/{tag}/", {"color": "#000000"}, [200, 403, 403, 200, 401]),
    ("tag delete", "delete", "/api/v1/tags/{tag}/", None, [204, 403, 403, 204, 401]),
    ("segments list", "get", "/api/v1/segments/", None, [200, 200, 200, 200, 401]),
    (
        "segment create",
        "post",
        "/api/v1/segments/",
        {"name": "新", "filters": {}},
        [201, 403, 403, 201, 401],
    ),
    (
        "segment members",
        "get",
        "/api/v1/segments/{segment}/customers/",
        None,
        [200, 200, 200, 200, 401],
    ),
    ("segment delete", "delete", "/api/v1/segments/{segment}/", None, [204, 403, 403, 204, 401]),
    ("leads list", "get", "/api/v1/leads/", None, [200, 200, 200, 200, 401]),
    (
        "lead create",
        "post",
        "/api/v1/leads/",
        {"customer": "{other}", "title": "新线索"},
        [201, 201, 403, 201, 401],
    ),
    (
        "lead update",
        "patch",
        "/api/v1/leads/{lead}/",
        {"next_step": "回访"},
        [200, 200, 403, 200, 401],
    ),
    ("lead delete", "delete", "/api/v1/leads/{lead}/", None, [204, 403, 403, 204, 401]),
    ("schema", "get", "/api/schema/", None, [200, 200, 200, 200, 200]),
]


def _fill(value, ids):
    if isinstance(value, str):
        for key, pk in ids.items():
            value = value.replace("{" + key + "}", str(pk))
        return int(value) if value.isdigit() else value
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize("role_index,role", list(enumerate(ROLES)))
@pytest.mark.parametrize("name,method,url,body,expected", CASES, ids=[c[0] for c in CASES])
def test_permission_matrix(role_clients, role_index, role, name, method, url, body, expected):
    ids = {k: v.pk for k, v in _world().items()}
    response = getattr(role_clients[role], method)(_fill(url, ids), _fill(body, ids), format="json")
    assert response.status_code == expected[role_index], (name, role, response.content[:300])
