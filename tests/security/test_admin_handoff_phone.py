"""#16: the handoff and phone verification admin pages are read-only for everyone, never show
the link token's hash or the code's HMAC, and show the verified number masked."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from crm.actions import issue_handoff
from crm.models import Customer
from members.models import PhoneVerification

PAGES = ("changelist", "change")


@pytest.fixture
def rows(db):
    customer = Customer.objects.create(name="微博粉丝", first_channel="weibo")
    handoff, _token = issue_handoff(customer, weibo_uid="7000000001", purpose="lead")
    now = timezone.now()
    verification = PhoneVerification.objects.create(
        phone="+8613800138000",
        code_hash="f" * 64,
        customer=customer,
        created_at=now,
        expires_at=now + timedelta(minutes=5),
        verified_at=now,
    )
    return handoff, verification


def _get(user, path):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(path)


@pytest.mark.parametrize(
    "role, status",
    [
        ("marketing", 200),
        ("agent", 403),
        ("manager", 200),
        ("superuser", 200),
        ("anonymous", 302),
    ],
)
def test_pages_per_role_show_no_hash_and_a_masked_number(
    rows, role, status, marketing_user, agent_user, manager_user, admin_user
):
    handoff, verification = rows
    user = {
        "marketing": marketing_user,
        "agent": agent_user,
        "manager": manager_user,
        "superuser": admin_user,
        "anonymous": None,
    }[role]
    for path in (
        "/admin/crm/handoff/",
        f"/admin/crm/handoff/{handoff.pk}/change/",
        "/admin/members/phoneverification/",
        f"/admin/members/phoneverification/{verification.pk}/change/",
    ):
        response = _get(user, path)
        assert response.status_code == status, path
        body = response.content.decode()
        assert handoff.token_hash not in body and "f" * 64 not in body
        assert "13800138000" not in body
        if status == 200:
            assert ("7000000001" if "handoff" in path else "+861******8000") in body, path
    for path in ("/admin/crm/handoff/add/", "/admin/members/phoneverification/add/"):
        assert _get(user, path).status_code == (302 if user is None else 403)
