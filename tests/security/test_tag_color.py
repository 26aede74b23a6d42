"""Tag.color is `#RRGGBB` only (issue #14, finding 11): it is written into `style=` attributes.

The model validates it, so the admin, the API and any ModelForm refuse anything else with one
clear message; rows stored before the rule are repaired by a data migration; and the inbox
renders only a valid colour whatever the row holds.
"""

import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import translation

from crm import inbox
from crm.inbox import receive_message
from crm.models import Conversation, Tag
from tests.conftest import client_for
from tests.crm import senders
from tests.crm.factories import CustomerFactory

# Fits the column (16 characters): what a real attacker would store.
EVIL = "red;x:url(//e.c)"
MESSAGE = "Enter a colour as #RRGGBB, for example #1677ff."


@pytest.mark.django_db
@pytest.mark.parametrize(
    "color", [EVIL, "red", "#fff", "#12345g", "#1677ff;", " #1677ff", "#1677ff\n", ""]
)
def test_model_refuses_a_colour_that_is_not_rrggbb(color):
    tag = Tag(name="VIP", color=color)
    with translation.override("en"):
        with pytest.raises(ValidationError) as caught:
            tag.full_clean()
        assert caught.value.message_dict == {
            "color": [MESSAGE] if color else ["This field cannot be blank."]
        }


@pytest.mark.django_db
@pytest.mark.parametrize("color", ["#1677ff", "#ABCDEF", "#000000"])
def test_model_accepts_rrggbb(color):
    Tag(name="VIP", color=color).full_clean()


def test_api_refuses_a_bad_colour_with_a_field_error_and_writes_nothing(marketing_user):
    api = client_for(marketing_user)
    api.credentials(
        HTTP_AUTHORIZATION=api._credentials["HTTP_AUTHORIZATION"], HTTP_ACCEPT_LANGUAGE="en"
    )
    response = api.post("/api/v1/tags/", {"name": "VIP", "color": EVIL}, format="json")
    assert response.status_code == 400
    assert response.json() == {"color": [MESSAGE]}
    tag = Tag.objects.create(name="老客", color="#1677ff")
    response = api.patch(f"/api/v1/tags/{tag.pk}/", {"color": EVIL}, format="json")
    assert response.status_code == 400
    assert response.json() == {"color": [MESSAGE]}
    assert list(Tag.objects.values_list("name", "color")) == [("老客", "#1677ff")]


def test_admin_refuses_a_bad_colour_and_writes_nothing(marketing_user):
    client = Client()
    client.force_login(marketing_user)
    response = client.post(
        "/admin/crm/tag/add/",
        {
            "name": "VIP",
            "color": EVIL,
            "description": "",
            "created_at_0": "2026-01-01",
            "created_at_1": "10:00:00",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"color": [MESSAGE]}
    assert Tag.objects.count() == 0


@pytest.mark.django_db
def test_data_migration_replaces_invalid_stored_colours_with_the_default():
    good = Tag.objects.create(name="好", color="#00aa00")
    # Rows written before the validator existed (update() skips validation).
    bad = Tag.objects.create(name="坏", color="#1677ff")
    short = Tag.objects.create(name="短", color="#1677ff")
    Tag.objects.filter(pk=bad.pk).update(color=EVIL)
    Tag.objects.filter(pk=short.pk).update(color="#abc")
    migration = importlib.import_module("crm.migrations.0006_tag_color_rrggbb")
    migration.repair_colours(apps, None)
    assert dict(Tag.objects.values_list("pk", "color")) == {
        good.pk: "#00aa00",
        bad.pk: "#1677ff",
        short.pk: "#1677ff",
    }


@pytest.mark.django_db
def test_inbox_renders_only_a_valid_colour_even_from_an_invalid_row(agent_user, monkeypatch):
    monkeypatch.setitem(inbox.SENDERS, "wechat", "tests.crm.senders.record_sender")
    senders.SENT.clear()
    customer = CustomerFactory(name="孙丽")
    tag = Tag.objects.create(name="VIP", color="#1677ff")
    Tag.objects.filter(pk=tag.pk).update(color="red;x:url(y)")
    customer.tags.add(tag)
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
    client = Client()
    client.force_login(agent_user)
    body = client.get(f"/inbox/{Conversation.objects.get().pk}/").content.decode()
    assert "url(y)" not in body
    assert 'style="background: #1677ff">VIP</span>' in body
