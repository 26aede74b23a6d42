"""Admin actions: each one declares the permission it needs (issue #14, finding 6).

An action a user lacks is not offered in the changelist, and POSTing it anyway is Django's
"No action selected." with nothing done; a user offered no action at all gets the changelist
back (200) with nothing done.
"""

import pytest
from django.contrib import admin
from django.test import Client

from channels_weibo.models import WeiboAccount
from crm.models import Tag
from tests.crm.factories import CustomerFactory, TagFactory


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_every_admin_action_declares_its_permission():
    undeclared = []
    for model, model_admin in admin.site._registry.items():
        for func, name, _description in model_admin._get_base_actions():
            if not getattr(func, "allowed_permissions", None):
                undeclared.append(f"{model._meta.label}.{name}")
    assert undeclared == []


@pytest.mark.django_db
def test_managers_are_not_offered_bulk_tag_and_posting_it_adds_nothing(manager_user):
    customer = CustomerFactory(name="甲")
    tag = TagFactory(name="VIP")
    client = _client(manager_user)
    page = client.get("/admin/crm/customer/")
    assert page.status_code == 200
    assert 'value="bulk_tag"' not in page.content.decode()
    response = client.post(
        "/admin/crm/customer/",
        {"action": "bulk_tag", "_selected_action": [customer.pk], "apply": "1", "tags": [tag.pk]},
    )
    # Managers hold no action on customers at all: the changelist comes back, nothing ran.
    assert response.status_code == 200
    assert 'value="bulk_tag"' not in response.content.decode()
    assert list(customer.tags.all()) == []
    assert Tag.objects.count() == 1


@pytest.mark.django_db
def test_marketing_still_bulk_tags(marketing_user):
    customer = CustomerFactory(name="甲")
    tag = TagFactory(name="VIP")
    response = _client(marketing_user).post(
        "/admin/crm/customer/",
        {"action": "bulk_tag", "_selected_action": [customer.pk], "apply": "1", "tags": [tag.pk]},
    )
    assert response.status_code == 302
    assert list(customer.tags.values_list("name", flat=True)) == ["VIP"]


@pytest.mark.parametrize("role", ["agent", "manager"])
@pytest.mark.parametrize("action", ["poll_now", "snapshot_now"])
def test_weibo_poll_and_snapshot_are_not_offered_to_read_only_roles(
    agent_user, manager_user, role, action
):
    user = {"agent": agent_user, "manager": manager_user}[role]
    account = WeiboAccount.objects.create(uid="1000000001", screen_name="品牌")
    client = _client(user)
    page = client.get("/admin/channels_weibo/weiboaccount/")
    assert page.status_code == 200
    assert f'value="{action}"' not in page.content.decode()
    response = client.post(
        "/admin/channels_weibo/weiboaccount/",
        {"action": action, "_selected_action": [account.pk]},
    )
    # They hold no action on Weibo accounts at all: the changelist comes back, nothing ran.
    assert response.status_code == 200
    again = client.get("/admin/channels_weibo/weiboaccount/")
    assert "token_missing" not in again.content.decode()  # no message from a run


@pytest.mark.django_db
def test_marketing_is_offered_poll_now(marketing_user):
    WeiboAccount.objects.create(uid="1000000001", screen_name="品牌")
    page = _client(marketing_user).get("/admin/channels_weibo/weiboaccount/")
    body = page.content.decode()
    assert 'value="poll_now"' in body and 'value="snapshot_now"' in body
