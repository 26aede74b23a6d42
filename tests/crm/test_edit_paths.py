"""The admin and the API edit customers and leads through the same actions, so the same edit
has the same effects whichever way a person makes it (`crm.actions.update_customer`,
`create_lead`, `update_lead`)."""

from datetime import UTC, datetime

import pytest
from django.test import Client

from crm.models import Customer, Interaction, Lead, Note

from .factories import CustomerFactory

pytestmark = pytest.mark.django_db

NO_INLINES = {
    f"{prefix}-{key}": "0"
    for prefix in ("leads", "notes", "interactions")
    for key in ("TOTAL_FORMS", "INITIAL_FORMS")
}


def _customer_form(customer: Customer, **changes) -> dict:
    """The admin change form of `customer` as a browser posts it, with `changes`."""
    data = {
        "name": customer.name,
        "phone": customer.phone,
        "email": customer.email,
        "gender": customer.gender,
        "city": customer.city,
        "birthday": "",
        "stage": customer.stage,
        "first_channel": customer.first_channel,
        "owner": "",
        "consent_privacy_at_0": "",
        "consent_privacy_at_1": "",
        **NO_INLINES,
    }
    data.update(changes)
    return data


def _edit_customer(via: str, customer: Customer, user, api, **changes) -> None:
    if via == "api":
        response = api.patch(f"/api/v1/customers/{customer.pk}/", changes, format="json")
        assert response.status_code == 200, response.content
        return
    client = Client()
    client.force_login(user)
    response = client.post(
        f"/admin/crm/customer/{customer.pk}/change/", _customer_form(customer, **changes)
    )
    assert response.status_code == 302, response.content.decode()[:2000]


@pytest.mark.parametrize("via", ["api", "admin"])
def test_a_new_phone_is_unverified_whichever_way_it_is_edited(via, api, admin_user):
    customer = CustomerFactory(phone="13800138000", phone_verified=True, stage="lead")
    _edit_customer(via, customer, admin_user, api, phone="+86 139 1234 5678")
    customer.refresh_from_db()
    assert (customer.phone, customer.phone_verified) == ("13912345678", False)
    assert Interaction.objects.filter(customer=customer).count() == 0


@pytest.mark.parametrize("via", ["api", "admin"])
def test_the_same_phone_stays_verified_whichever_way_it_is_edited(via, api, admin_user):
    customer = CustomerFactory(phone="13800138000", phone_verified=True, city="上海")
    _edit_customer(via, customer, admin_user, api, phone="138 0013 8000", city="北京")
    customer.refresh_from_db()
    assert (customer.phone, customer.phone_verified, customer.city) == (
        "13800138000",
        True,
        "北京",
    )


@pytest.mark.parametrize("via", ["api", "admin"])
def test_a_stage_set_by_hand_is_on_the_timeline_whichever_way_it_is_edited(
    via, api, admin_user, marketing_user
):
    customer = CustomerFactory(stage="lead")
    editor = marketing_user if via == "api" else admin_user
    _edit_customer(via, customer, admin_user, api, stage="follower")
    customer.refresh_from_db()
    assert customer.stage == "follower"
    change = Interaction.objects.get(customer=customer)
    assert (change.kind, change.channel, change.data) == (
        "stage_change",
        "manual",
        {"from": "lead", "to": "follower", "by": editor.pk},
    )


def test_a_note_added_on_the_admin_customer_page_is_on_the_timeline(admin_user):
    customer = CustomerFactory()
    client = Client()
    client.force_login(admin_user)
    form = _customer_form(
        customer, **{"notes-TOTAL_FORMS": "1", "notes-0-body": "回访：想要会员卡"}
    )
    response = client.post(f"/admin/crm/customer/{customer.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    note = Note.objects.get(customer=customer)
    assert (note.body, note.author) == ("回访：想要会员卡", admin_user)
    assert list(Interaction.objects.filter(customer=customer).values_list("kind", "summary")) == [
        ("note", "回访：想要会员卡")
    ]


# Leads


def _admin(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _lead_form(lead: Lead | None = None, customer: Customer | None = None, **changes) -> dict:
    data = {
        "customer": str(lead.customer_id if lead else customer.pk),
        "title": lead.title if lead else "询价",
        "status": lead.status if lead else "new",
        "source_channel": lead.source_channel if lead else "manual",
        "owner": str(lead.owner_id or "") if lead else "",
        "next_step": lead.next_step if lead else "",
        "next_step_at_0": "",
        "next_step_at_1": "",
        "lost_reason": lead.lost_reason if lead else "",
        "lost_note": lead.lost_note if lead else "",
    }
    data.update(changes)
    return data


def test_a_lead_created_as_converted_through_the_api_has_converted_at(api):
    customer = CustomerFactory()
    response = api.post(
        "/api/v1/leads/",
        {"customer": customer.pk, "title": "询价", "status": "converted"},
        format="json",
    )
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    assert lead.status == "converted"
    assert lead.converted_at == lead.created_at
    assert response.json()["converted_at"] is not None


def test_a_lead_created_as_converted_in_the_admin_is_a_lead_like_through_the_api(
    admin_user, marketing_user
):
    customer = CustomerFactory(stage="follower")
    response = _admin(admin_user).post(
        "/admin/crm/lead/add/", _lead_form(customer=customer, status="converted")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    lead = Lead.objects.get()
    customer.refresh_from_db()
    assert (lead.status, lead.converted_at, lead.owner) == (
        "converted",
        lead.created_at,
        marketing_user,
    )
    assert customer.stage == "lead"
    assert sorted(Interaction.objects.filter(customer=customer).values_list("kind", flat=True)) == [
        "lead",
        "stage_change",
    ]


@pytest.mark.parametrize("via", ["api", "admin form", "admin list", "admin customer page"])
def test_a_lead_set_to_converted_gets_converted_at_whichever_way(via, api, admin_user):
    customer = CustomerFactory()
    lead = Lead.objects.create(customer=customer, title="询价", owner=admin_user)
    before = datetime.now(UTC)
    if via == "api":
        response = api.patch(f"/api/v1/leads/{lead.pk}/", {"status": "converted"}, format="json")
        assert response.status_code == 200, response.content
    elif via == "admin form":
        response = _admin(admin_user).post(
            f"/admin/crm/lead/{lead.pk}/change/", _lead_form(lead, status="converted")
        )
        assert response.status_code == 302, response.content.decode()[:2000]
    elif via == "admin list":
        response = _admin(admin_user).post(
            "/admin/crm/lead/",
            {
                "form-TOTAL_FORMS": "1",
                "form-INITIAL_FORMS": "1",
                "form-0-id": str(lead.pk),
                "form-0-status": "converted",
                "form-0-owner": str(admin_user.pk),
                "form-0-next_step": "",
                "_save": "Save",
            },
        )
        assert response.status_code == 302, response.content.decode()[:2000]
    else:
        form = _customer_form(
            customer,
            **{
                "leads-TOTAL_FORMS": "1",
                "leads-INITIAL_FORMS": "1",
                "leads-0-id": str(lead.pk),
                "leads-0-customer": str(customer.pk),
                "leads-0-title": "询价",
                "leads-0-status": "converted",
                "leads-0-owner": str(admin_user.pk),
                "leads-0-next_step": "",
            },
        )
        response = _admin(admin_user).post(f"/admin/crm/customer/{customer.pk}/change/", form)
        assert response.status_code == 302, response.content.decode()[:2000]
    lead.refresh_from_db()
    assert lead.status == "converted"
    assert before <= lead.converted_at <= datetime.now(UTC)


def test_a_lead_converted_once_keeps_its_first_converted_at(api):
    first = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    lead = Lead.objects.create(
        customer=CustomerFactory(), title="询价", status="converted", converted_at=first
    )
    response = api.patch(f"/api/v1/leads/{lead.pk}/", {"next_step": "回访"}, format="json")
    assert response.status_code == 200, response.content
    lead.refresh_from_db()
    assert (lead.converted_at, lead.next_step) == (first, "回访")


def test_a_lead_created_lost_without_reason_is_refused_and_not_written(api):
    customer = CustomerFactory(stage="follower")
    response = api.post(
        "/api/v1/leads/",
        {"customer": customer.pk, "title": "询价", "status": "lost"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert response.json() == {"lost_reason": ["A lost lead needs a lost reason."]}
    customer.refresh_from_db()
    assert (Lead.objects.count(), Interaction.objects.count(), customer.stage) == (0, 0, "follower")


def test_a_reason_on_a_lead_that_is_not_lost_is_refused_in_the_api_and_the_admin(api, admin_user):
    lead = Lead.objects.create(customer=CustomerFactory(), title="询价")
    response = api.patch(
        f"/api/v1/leads/{lead.pk}/",
        {"lost_reason": "competitor"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert response.json() == {"lost_reason": ["Only a lost lead has a lost reason."]}
    page = _admin(admin_user).post(
        f"/admin/crm/lead/{lead.pk}/change/",
        _lead_form(lead, lost_reason="competitor"),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert page.status_code == 200
    assert page.context["adminform"].form.errors == {
        "lost_reason": ["Only a lost lead has a lost reason."]
    }
    lead.refresh_from_db()
    assert (lead.status, lead.lost_reason) == ("new", "")


@pytest.mark.parametrize("via", ["api", "admin"])
def test_consent_set_by_staff_is_on_the_timeline_with_who_whichever_way_it_is_edited(
    via, api, admin_user, marketing_user
):
    customer = CustomerFactory(consent_marketing=False)
    editor = marketing_user if via == "api" else admin_user
    _edit_customer(via, customer, admin_user, api, consent_marketing=True)
    customer.refresh_from_db()
    assert customer.consent_marketing is True
    entry = Interaction.objects.get(customer=customer)
    assert (entry.kind, entry.summary, entry.data) == (
        "other",
        "同意接收营销消息",
        {"consent_marketing": True, "via": "staff", "by": editor.pk},
    )
