"""The funnel's Weibo → WeChat step by path, recognised from the recorded rows (built here
directly: the handoff and verified-phone flows are built on other branches)."""

from datetime import date

import pytest

from channels_wechat.models import ChannelCode, ChannelCodeScan
from crm.actions import record_interaction
from crm.models import CustomerKey, MergeRecord
from dashboards import kpis
from tests.channels_wechat.factories import WeChatUserFactory
from tests.conftest import client_for
from tests.crm.factories import CustomerFactory

from .datasets import local

pytestmark = pytest.mark.django_db
START, END = date(2026, 11, 1), date(2026, 11, 3)
AT = local(2026, 11, 2, 10)
PATHS = {"start": START.isoformat(), "end": END.isoformat()}


def crossed(first_channel="weibo", subscribed=True):
    customer = CustomerFactory(first_channel=first_channel, created_at=AT)
    if subscribed:
        record_interaction(customer, "subscribe", "wechat", occurred_at=AT, summary="关注")
    return customer


def handoff_entry(customer, via, applied=True):
    record_interaction(
        customer,
        "other",
        "wechat",
        occurred_at=AT,
        summary="微博引流",
        data={"handoff": 1, "applied": applied, "via": via},
    )


def merged(target, reason):
    source = CustomerFactory(first_channel="wechat", created_at=local(2026, 10, 1, 9))
    source.merged_into = target
    source.save()
    MergeRecord.objects.create(source=source, target=target, reason=reason)


def key(customer, kind, value):
    CustomerKey.objects.create(customer=customer, kind=kind, value=value)


@pytest.fixture
def paths():
    handoff_entry(crossed(), "oauth")  # oauth_link
    handoff_entry(crossed(), "qr")  # handoff_qr
    merged(crossed(), "handoff")  # handoff_qr
    follower = WeChatUserFactory(customer=crossed())
    code = ChannelCode.objects.create(
        account=follower.account,
        name="微博引流",
        purpose="weibo_handoff",
        scene="h-1",
        kind="temporary",
    )
    ChannelCodeScan.objects.create(code=code, user=follower, event="subscribe", applied=True)
    merged(crossed(), "phone")  # verified_phone
    key(crossed(), "phone", "13800138000")  # verified_phone
    both = crossed()
    merged(both, "unionid")  # unionid: a merge reason comes before a key
    key(both, "phone", "13800138001")
    key(crossed(), "unionid", "oUnion1")  # unionid
    staff = crossed()
    merged(staff, "manual")  # manual_merge
    key(staff, "unionid", "oUnion2")
    crossed()  # other
    handoff_entry(crossed(), "qr", applied=False)  # other: the handoff did not link
    handoff_entry(crossed(subscribed=False), "qr")  # not crossed: never subscribed
    handoff_entry(crossed(first_channel="wechat"), "qr")  # not Weibo-sourced


EXPECTED = {
    "oauth_link": 1,
    "handoff_qr": 3,
    "verified_phone": 2,
    "unionid": 2,
    "manual_merge": 1,
    "other": 2,
}


def test_each_crossing_is_counted_once_by_its_first_recognised_path(paths):
    figures = kpis.funnel(START, END)
    assert (figures["weibo_sourced"], figures["weibo_to_wechat"]) == (12, 11)
    assert figures["weibo_to_wechat_by_path"] == EXPECTED


def test_a_scan_not_applied_of_a_handoff_code_is_no_path(db):
    follower = WeChatUserFactory(customer=crossed())
    code = ChannelCode.objects.create(
        account=follower.account,
        name="引流",
        purpose="weibo_handoff",
        scene="h-2",
        kind="temporary",
    )
    ChannelCodeScan.objects.create(code=code, user=follower, event="subscribe", applied=False)
    store = ChannelCode.objects.create(
        account=follower.account, name="门店", purpose="store", scene="s-1", kind="permanent"
    )
    ChannelCodeScan.objects.create(code=store, user=follower, event="scan", applied=True)
    assert kpis.funnel(START, END)["weibo_to_wechat_by_path"]["other"] == 1


def test_paths_in_the_kpi_api(paths, manager_user):
    response = client_for(manager_user).get("/api/v1/kpis/funnel", PATHS)
    assert response.status_code == 200
    assert response.json()["weibo_to_wechat_by_path"] == EXPECTED
    daily = client_for(manager_user).get("/api/v1/kpis/funnel", {**PATHS, "by": "day"}).json()
    assert [day["weibo_to_wechat_by_path"]["handoff_qr"] for day in daily["series"]] == [0, 3, 0]


def test_paths_on_the_funnel_page(paths, client, manager_user):
    client.force_login(manager_user)
    response = client.get("/dashboards/funnel/", PATHS)
    assert response.status_code == 200
    table = next(t for t in response.context["data"]["tables"] if t.name == "paths")
    assert [(str(row["path"]), row["customers"]) for row in table.rows] == [
        ("微博引流链接（微信内授权）", 1),
        ("微博引流二维码", 3),
        ("已验证手机号", 2),
        ("相同微信 UnionID", 2),
        ("员工手动合并", 1),
        ("未记录", 2),
    ]
    assert table.rows[1]["share"] == 3 / 11
    body = response.content.decode()
    assert 'id="paths-definition"' in body
    export = client.get("/dashboards/funnel/export/paths.csv", PATHS)
    assert export.status_code == 200


def test_an_oauth_only_handoff_claim_is_a_crossing(db):
    """#16: a Weibo customer linked by signing in with WeChat OAuth from the handoff link has a
    WeChat identity without following; the funnel counts them as crossed, path oauth_link."""
    handoff_entry(crossed(subscribed=False), "oauth")
    handoff_entry(crossed(subscribed=False), "oauth", applied=False)  # refused: no crossing
    crossed(subscribed=False)  # never reached WeChat

    figures = kpis.funnel(START, END)

    assert (figures["weibo_sourced"], figures["weibo_to_wechat"]) == (3, 1)
    assert figures["weibo_to_wechat_by_path"] == {
        "oauth_link": 1,
        "handoff_qr": 0,
        "verified_phone": 0,
        "unionid": 0,
        "manual_merge": 0,
        "other": 0,
    }
