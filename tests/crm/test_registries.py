"""Plug-ins into crm are registered in each app's AppConfig.ready, never found by name."""

from channels_wechat.history import HANDLERS as WECHAT_HANDLERS
from channels_wechat.models import CannedResponse, OfficialAccount
from channels_weibo.history import HANDLERS as WEIBO_HANDLERS
from crm.canned import canned_responses
from crm.history import handlers
from crm.privacy import PERSONAL_FIELDS
from members.history import HANDLERS as MEMBERS_HANDLERS


def test_history_handlers_are_those_the_apps_registered():
    registered = handlers()
    assert sorted(registered) == sorted({**WECHAT_HANDLERS, **WEIBO_HANDLERS, **MEMBERS_HANDLERS})
    assert registered["order"] is MEMBERS_HANDLERS["order"]
    assert registered["comment"] is WEIBO_HANDLERS["comment"]
    assert registered["message_in"] is WECHAT_HANDLERS["message_in"]


def test_each_app_registers_the_personal_fields_of_its_models():
    assert PERSONAL_FIELDS["crm.Customer"] == ["name", "phone", "email", "city", "birthday"]
    assert PERSONAL_FIELDS["channels_wechat.WeChatUser"] == ["nickname", "remark"]
    assert PERSONAL_FIELDS["channels_weibo.WeiboPost"] == ["text", "parent_name", "raw"]
    assert PERSONAL_FIELDS["members.Order"] == ["description"]
    assert len(PERSONAL_FIELDS) == 21  # with members.PhoneVerification


def test_canned_responses_come_from_the_registered_channel_app(db):
    account = OfficialAccount.objects.create(name="品牌", appid="wxcanned", token="t")
    other = OfficialAccount.objects.create(name="其他", appid="wxother", token="t")
    CannedResponse.objects.create(title="发货时间", text="48 小时内发货。")
    CannedResponse.objects.create(title="退货", text="七天无理由退货。", account=account)
    CannedResponse.objects.create(title="别的号", text="不该出现。", account=other)
    found = sorted(canned_responses("wxcanned"), key=lambda r: r["text"])
    assert found == [
        {"title": "发货时间", "text": "48 小时内发货。"},
        {"title": "退货", "text": "七天无理由退货。"},
    ]
