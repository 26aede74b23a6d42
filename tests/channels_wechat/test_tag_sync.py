"""CRM tags <-> WeChat user tags (issue #18 item 3) through the sandbox over loopback."""

import pytest
from django.core.exceptions import ValidationError

from channels_wechat.mass_client import MassClient
from channels_wechat.models import WeChatTag, WeChatUser
from channels_wechat.tags_sync import pull_follower_tags, pull_tags, push_tag
from crm.inbox import SendError
from crm.models import Customer, Tag
from tests.conftest import client_for

from .mass_helpers import followers, sandbox_get

pytestmark = pytest.mark.django_db


def wechat_members(server, appid, name):
    tags = sandbox_get(server, f"/sandbox/tags?appid={appid}")["tags"]
    return next(t["members"] for t in tags if t["name"] == name)


def test_push_creates_the_tag_and_tags_members_50_a_call(account, wechat_sandbox):
    vip = Tag.objects.create(name="VIP")
    followers(account, wechat_sandbox, 120, prefix="oVip", tags=[vip])
    followers(account, wechat_sandbox, 3, prefix="oPlain")
    assert push_tag(account, vip) == {"tagged": 120, "untagged": 0}
    linked = WeChatTag.objects.get(account=account, tag=vip)
    assert (linked.wechat_id, linked.name, linked.member_count) == (100, "VIP", 120)
    assert wechat_members(wechat_sandbox, account.appid, "VIP") == [
        f"oVip{i:04d}" for i in range(120)
    ]
    assert wechat_sandbox.state.stats["tags_batch"] == 3  # 50 + 50 + 20


def test_push_untags_followers_who_lost_the_tag_or_unfollowed(account, wechat_sandbox):
    vip = Tag.objects.create(name="VIP")
    users = followers(account, wechat_sandbox, 4, prefix="oVip", tags=[vip])
    push_tag(account, vip)
    users[0].customer.tags.remove(vip)
    WeChatUser.objects.filter(pk=users[1].pk).update(subscribed=False)
    assert push_tag(account, vip) == {"tagged": 0, "untagged": 2}
    assert wechat_members(wechat_sandbox, account.appid, "VIP") == ["oVip0002", "oVip0003"]
    assert push_tag(account, vip) == {"tagged": 0, "untagged": 0}


def test_push_adopts_a_tag_of_the_same_name_made_in_the_console(account, wechat_sandbox):
    existing = MassClient(account).create_tag("老客户")
    old = Tag.objects.create(name="老客户")
    followers(account, wechat_sandbox, 2, tags=[old])
    push_tag(account, old)
    assert WeChatTag.objects.get(tag=old).wechat_id == existing
    assert len(sandbox_get(wechat_sandbox, f"/sandbox/tags?appid={account.appid}")["tags"]) == 1


def test_tag_name_over_30_characters_is_refused_before_calling_wechat(account, wechat_sandbox):
    long = Tag.objects.create(name="超" * 31)
    with pytest.raises(ValidationError) as refused:
        push_tag(account, long)
    assert refused.value.message_dict == {"tag": [f"微信标签名最多 30 个字符：{'超' * 31}"]}
    assert WeChatTag.objects.count() == 0
    assert sandbox_get(wechat_sandbox, f"/sandbox/tags?appid={account.appid}")["tags"] == []


def test_sandbox_refuses_more_than_50_openids_and_unknown_tags(account, wechat_sandbox):
    client = MassClient(account)
    tag_id = client.create_tag("测试")
    with pytest.raises(SendError) as refused:
        client.batch_tag(tag_id, [f"o{i}" for i in range(51)])
    assert refused.value.code == "40032"
    with pytest.raises(SendError) as refused:
        client.batch_tag(999, ["oX"])
    assert refused.value.code == "45159"
    with pytest.raises(SendError) as refused:
        client.create_tag("测试")
    assert refused.value.code == "45157"


def test_pull_brings_wechat_tags_and_members_into_the_crm(account, wechat_sandbox):
    users = followers(account, wechat_sandbox, 3, prefix="oPull")
    stranger = WeChatUser.objects.create(account=account, openid="oNoCustomer", subscribed=True)
    wechat_sandbox.state.user(account.appid, stranger.openid)
    client = MassClient(account)
    tag_id = client.create_tag("直播间粉丝")
    client.batch_tag(tag_id, ["oPull0000", "oPull0002", "oNoCustomer"])
    assert pull_tags(account) == 2
    tag = Tag.objects.get(name="直播间粉丝")
    assert sorted(Customer.objects.filter(tags=tag).values_list("pk", flat=True)) == sorted(
        [users[0].customer_id, users[2].customer_id]
    )
    linked = WeChatTag.objects.get(tag=tag)
    assert (linked.wechat_id, linked.member_count) == (tag_id, 3)
    assert pull_tags(account) == 2  # again: nothing doubled
    assert Customer.tags.through.objects.filter(tag=tag).count() == 2


def test_pull_one_followers_tags(account, wechat_sandbox):
    users = followers(account, wechat_sandbox, 1, prefix="oOne")
    client = MassClient(account)
    tag_id = client.create_tag("敏感肌")
    client.batch_tag(tag_id, ["oOne0000"])
    pull_tags(account)
    users[0].customer.tags.clear()
    assert pull_follower_tags(users[0]) == ["敏感肌"]
    assert list(users[0].customer.tags.values_list("name", flat=True)) == ["敏感肌"]


@pytest.mark.parametrize(
    "role,push_status", [("marketing", 200), ("agent", 403), ("manager", 403), ("superuser", 200)]
)
def test_tag_push_api_by_role(account, wechat_sandbox, role_clients, role, push_status):
    vip = Tag.objects.create(name="VIP")
    followers(account, wechat_sandbox, 2, tags=[vip])
    response = role_clients[role].post(
        "/api/v1/wechat/tags/push/", {"account": account.pk, "tag": vip.pk}, format="json"
    )
    assert response.status_code == push_status
    assert WeChatTag.objects.count() == (1 if push_status == 200 else 0)
    listing = role_clients[role].get("/api/v1/wechat/tags/")
    assert listing.status_code == (403 if role == "agent" else 200)


def test_tag_api_refuses_anonymous(account, wechat_sandbox):
    vip = Tag.objects.create(name="VIP")
    response = client_for(None).post(
        "/api/v1/wechat/tags/push/", {"account": account.pk, "tag": vip.pk}, format="json"
    )
    assert response.status_code == 401
    assert client_for(None).get("/api/v1/wechat/tags/").status_code == 401
    assert WeChatTag.objects.count() == 0
