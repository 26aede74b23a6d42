"""Joining on the member page (`/m/join`): a verified phone, consent and membership in one
transaction (`members.actions.join_with_phone`); the SMS codes come from the sandbox over
loopback (tests/members/test_phone_verification.py covers the codes themselves)."""

import json
import urllib.request

import pytest

from crm.models import Customer, Interaction
from members.models import Membership
from members.views import SESSION_KEY


def _signed_in(client, customer):
    session = client.session
    session[SESSION_KEY] = customer.pk
    session.save()
    return client


def _code(client, sms_sandbox, phone="13800138000"):
    """Ask for a code on the join page and read it where the sandbox recorded it."""
    response = client.post("/m/join/code", {"phone": phone}, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    with urllib.request.urlopen(f"{sms_sandbox.base_url}/sandbox/sms/13800138000") as sent:  # noqa: S310
        return json.loads(sent.read())["code"]


def test_join_writes_the_phone_the_consent_and_the_membership(client, customer, tiers, sms_sandbox):
    code = _code(_signed_in(client, customer), sms_sandbox, "+86 138 0013 8000")
    response = client.post("/m/join", {"phone": "+86 138 0013 8000", "code": code, "consent": "on"})
    assert (response.status_code, response["Location"]) == (302, "/m/")
    customer.refresh_from_db()
    membership = Membership.objects.get()
    assert (membership.customer, membership.joined_via, membership.tier) == (
        customer,
        "wechat",
        tiers[0],
    )
    assert (customer.phone, customer.phone_verified, customer.stage) == (
        "13800138000",
        True,
        "member",
    )
    assert customer.consent_privacy_at == membership.joined_at


def test_a_join_that_fails_writes_neither_phone_nor_consent(
    client, customer, tiers, monkeypatch, sms_sandbox
):
    def broken(*args, **kwargs):
        raise RuntimeError("the timeline is down")

    code = _code(_signed_in(client, customer), sms_sandbox)
    monkeypatch.setattr("members.actions.membership.mark_customer_member", broken)
    with pytest.raises(RuntimeError):
        client.post("/m/join", {"phone": "13800138000", "code": code, "consent": "on"})
    customer.refresh_from_db()
    assert (customer.phone, customer.consent_privacy_at) == ("", None)
    assert Membership.objects.count() == 0


def test_a_refused_join_names_each_field_and_writes_nothing(client, customer, tiers):
    response = _signed_in(client, customer).post("/m/join", {"phone": " "})
    assert response.status_code == 400
    assert response.context["errors"] == {
        "phone": "Please enter your mobile number.",
        "consent": "Please accept the privacy terms to join.",
    }
    customer.refresh_from_db()
    assert (customer.phone, customer.consent_privacy_at) == ("", None)
    assert (Membership.objects.count(), Interaction.objects.filter(kind="member_join").count()) == (
        0,
        0,
    )


def test_join_replaces_an_unverified_phone_with_the_verified_one(
    client, customer, tiers, sms_sandbox
):
    Customer.objects.filter(pk=customer.pk).update(phone="13900001111", phone_verified=False)
    code = _code(_signed_in(client, customer), sms_sandbox)
    response = client.post("/m/join", {"phone": "13800138000", "code": code, "consent": "on"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.phone, customer.phone_verified) == ("13800138000", True)
    assert customer.consent_privacy_at is not None
    assert Membership.objects.filter(customer=customer).count() == 1


def test_a_member_added_in_the_admin_joins_as_through_the_api(admin_client, customer, tiers):
    response = admin_client.post(
        "/admin/members/membership/add/",
        {
            "customer": str(customer.pk),
            "joined_via": "pos",
            "joined_at_0": "2026-12-01",
            "joined_at_1": "10:00:00",
            "points_entries-TOTAL_FORMS": "0",
            "points_entries-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    membership = Membership.objects.get()
    customer.refresh_from_db()
    assert (membership.customer, membership.joined_via, membership.tier) == (
        customer,
        "pos",
        tiers[0],
    )
    assert membership.member_number == "M2026000001"
    assert customer.stage == "member"
    assert Interaction.objects.filter(customer=customer, kind="member_join").count() == 1


def _consents(customer):
    return list(
        Interaction.objects.filter(customer=customer, kind="other")
        .order_by("pk")
        .values_list("data", flat=True)
    )


def test_marketing_consent_is_its_own_unticked_box_at_join(client, customer, tiers, sms_sandbox):
    page = _signed_in(client, customer).get("/m/join").content.decode()
    assert '<input type="checkbox" name="marketing" id="marketing">' in page  # never pre-ticked
    code = _code(client, sms_sandbox)
    client.post("/m/join", {"phone": "13800138000", "code": code, "consent": "on"})
    customer.refresh_from_db()
    assert (customer.consent_marketing, _consents(customer)) == (False, [])


def test_ticking_marketing_at_join_records_it_on_the_timeline(client, customer, tiers, sms_sandbox):
    code = _code(_signed_in(client, customer), sms_sandbox)
    response = client.post(
        "/m/join", {"phone": "13800138000", "code": code, "consent": "on", "marketing": "on"}
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.consent_marketing is True
    assert _consents(customer) == [{"consent_marketing": True, "via": "member_join"}]


def test_a_refused_join_does_not_record_the_marketing_box(client, customer, tiers):
    response = _signed_in(client, customer).post(
        "/m/join", {"phone": "13800138000", "code": "000000", "marketing": "on"}
    )
    assert response.context["errors"] == {"consent": "Please accept the privacy terms to join."}
    customer.refresh_from_db()
    assert (customer.consent_marketing, _consents(customer)) == (False, [])


def test_a_member_withdraws_and_gives_marketing_consent_on_the_card_page(client, customer, tiers):
    from members.actions import join_membership

    join_membership(customer, via="wechat")
    Customer.objects.filter(pk=customer.pk).update(consent_marketing=True)
    _signed_in(client, customer)
    assert 'id="marketing-switch">Stop offers and events' in client.get("/m/").content.decode()
    assert client.post("/m/marketing", {}).status_code == 302
    customer.refresh_from_db()
    assert customer.consent_marketing is False
    client.post("/m/marketing", {})  # the same choice again: nothing more recorded
    client.post("/m/marketing", {"consent_marketing": "on"})
    customer.refresh_from_db()
    assert customer.consent_marketing is True
    assert _consents(customer) == [
        {"consent_marketing": False, "via": "member_page"},
        {"consent_marketing": True, "via": "member_page"},
    ]


def test_only_the_signed_in_member_can_switch_and_only_by_post(client, customer, tiers):
    from members.actions import join_membership

    signed_out = client.post("/m/marketing", {"consent_marketing": "on"})
    assert (signed_out.status_code, signed_out.content.decode()) == (  # no merchant to sign in
        503,
        "Member pages are not configured yet.",
    )
    _signed_in(client, customer)
    response = client.post("/m/marketing", {"consent_marketing": "on"})  # not a member yet
    assert (response.status_code, response["Location"]) == (302, "/m/join")
    assert client.get("/m/marketing", {"consent_marketing": "on"})["Location"] == "/m/join"
    join_membership(customer, via="wechat")
    shown = client.get("/m/marketing", {"consent_marketing": "on"})  # a link changes nothing
    assert (shown.status_code, shown["Location"]) == (302, "/m/")
    customer.refresh_from_db()
    assert (customer.consent_marketing, _consents(customer)) == (False, [])
