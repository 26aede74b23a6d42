"""Phone masking in the staff pages (issue #14, finding 5).

Whoever lacks `crm.view_customer_phone` (agents, managers) sees the API's mask
(`138****8000`) in the admin and the inbox, and finds a customer by phone only by typing the whole
number: a substring search would give the hidden digits away one query at a time.
"""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from crm import inbox
from crm.inbox import receive_message
from crm.models import Conversation
from members.actions.membership import join_membership
from tests.crm import senders
from tests.crm.factories import CustomerFactory

PHONE = "13800138000"
MASKED = "138****8000"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def users(marketing_user, agent_user, manager_user, admin_user):
    return {
        "marketing": marketing_user,
        "agent": agent_user,
        "manager": manager_user,
        "superuser": admin_user,
    }


SEES = {"marketing": True, "superuser": True, "agent": False, "manager": False}


@pytest.mark.parametrize("role", list(SEES))
def test_customer_change_form_and_changelist_mask_the_phone(users, role):
    customer = CustomerFactory(name="王芳", phone=PHONE)
    client = _client(users[role])
    page = client.get(f"/admin/crm/customer/{customer.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert (PHONE in body) is SEES[role]
    if not SEES[role]:
        assert MASKED in body
    listing = client.get("/admin/crm/customer/").content.decode()
    assert PHONE not in listing and MASKED in listing


@pytest.mark.parametrize("role", list(SEES))
def test_inbox_sidebar_masks_the_phone(users, role, monkeypatch):
    monkeypatch.setitem(inbox.SENDERS, "wechat", "tests.crm.senders.record_sender")
    senders.SENT.clear()
    customer = CustomerFactory(name="孙丽", phone=PHONE)
    receive_message(
        channel="wechat",
        account="wx1",
        external_user="o-1",
        customer=customer,
        msg_type="text",
        content="在吗",
        sent_at=customer.created_at,
        platform_msg_id="1",
    )
    response = _client(users[role]).get(f"/inbox/{Conversation.objects.get().pk}/")
    if not users[role].has_perm("crm.view_conversation"):
        assert response.status_code == 403
        return
    body = response.content.decode()
    assert response.status_code == 200
    assert (PHONE in body) is SEES[role]
    assert (MASKED in body) is not SEES[role]


@pytest.mark.django_db
def test_duplicates_view_needs_view_customer(db):
    nobody = User.objects.create_user("staff", password="pw", is_staff=True)
    CustomerFactory(name="甲", phone=PHONE)
    CustomerFactory(name="乙", phone=PHONE)
    assert _client(nobody).get("/admin/crm/customer/duplicates/").status_code == 403


@pytest.mark.parametrize("role", list(SEES))
def test_duplicates_view_masks_the_shared_phone(users, role):
    CustomerFactory(name="甲", phone=PHONE)
    CustomerFactory(name="乙", phone=PHONE)
    response = _client(users[role]).get("/admin/crm/customer/duplicates/")
    assert response.status_code == 200
    body = response.content.decode()
    assert (PHONE in body) is SEES[role]
    assert (MASKED in body) is not SEES[role]


def _found(client, path, term) -> int:
    response = client.get(path, {"q": term})
    assert response.status_code == 200
    return response.context["cl"].result_count


@pytest.mark.parametrize("role", list(SEES))
def test_phone_search_is_exact_for_roles_that_cannot_see_it(users, role):
    customer = CustomerFactory(name="王芳", phone=PHONE)
    CustomerFactory(name="李雷", phone="13900001234")
    join_membership(customer, via="pos")
    client = _client(users[role])
    for path in ("/admin/crm/customer/", "/admin/members/membership/"):
        # A substring of the hidden digits finds nothing for those who cannot see them.
        assert _found(client, path, "0013") == (1 if SEES[role] else 0), path
        assert _found(client, path, "138001") == (1 if SEES[role] else 0), path
        # The whole number, in any usual spelling, finds the customer for everyone.
        assert _found(client, path, PHONE) == 1, path
        assert _found(client, path, "+86 138 0013 8000") == 1, path


def test_agent_edits_the_customer_without_seeing_or_losing_the_phone(agent_user):
    customer = CustomerFactory(name="王芳", phone=PHONE)
    client = _client(agent_user)
    url = f"/admin/crm/customer/{customer.pk}/change/"
    form = {
        "name": "王芳芳",
        "phone": "",
        "email": "",
        "gender": customer.gender,
        "city": "上海",
        "birthday": "",
        "stage": customer.stage,
        "first_channel": customer.first_channel,
        "owner": "",
        "consent_privacy_at_0": "",
        "consent_privacy_at_1": "",
        "leads-TOTAL_FORMS": "0",
        "leads-INITIAL_FORMS": "0",
        "notes-TOTAL_FORMS": "0",
        "notes-INITIAL_FORMS": "0",
        "interactions-TOTAL_FORMS": "0",
        "interactions-INITIAL_FORMS": "0",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert (customer.name, customer.phone) == ("王芳芳", PHONE)
    response = client.post(url, {**form, "phone": "+86 139 0000 1234"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.phone == "13900001234"
