"""import_history: bad lines are reported by number, the rest imported, nothing half-written."""

from datetime import date

import pytest
from django.core.management import CommandError, call_command


def test_bad_lines_are_reported_with_their_numbers(db, tmp_path, capsys):
    path = tmp_path / "history.jsonl"
    path.write_bytes(
        b'{"type": "no_such_event"}\n'
        b"\n"
        b"{not json\n"
        b'["a", "list"]\n'
        b'{"ts": "2026-10-01T09:00:00+08:00"}\n'
        b"\xff\xfe broken\n"
    )
    with pytest.raises(CommandError, match=r"^5 line\(s\) could not be imported"):
        call_command("import_history", str(path), "--quiet-progress")
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{path}:1: unknown event type 'no_such_event' (known: ")
    assert err[1:] == [
        f"{path}:3: not JSON: Expecting property name enclosed in double quotes at column 2",
        f"{path}:4: not a JSON object",
        f"{path}:5: missing field 'type'",
        f"{path}:6: not UTF-8 (invalid start byte at byte 0)",
    ]


def test_a_missing_file_is_one_clear_error(db, tmp_path):
    with pytest.raises(
        CommandError, match=r"^cannot read .*nope\.jsonl: No such file or directory$"
    ):
        call_command("import_history", str(tmp_path / "nope.jsonl"))


HISTORY = """\
{"type": "subscribe", "ts": "2026-10-01T09:00:00+08:00", "account": "wxhistory0000001", "openid": "oH1", "unionid": "uH1"}
{"type": "message_in", "ts": "2026-10-01T09:30:00+08:00", "account": "wxhistory0000001", "openid": "oH1", "unionid": "uH1", "msg_id": "24601234567890123", "msg_type": "text", "content": "你好，我的订单什么时候发货？"}
{"type": "agent_reply", "ts": "2026-10-01T09:34:10+08:00", "account": "wxhistory0000001", "openid": "oH1", "agent": "agent", "msg_id": "out-1", "content": "您好，今天上午已发出。"}
{"type": "resolve", "ts": "2026-10-01T10:02:00+08:00", "account": "wxhistory0000001", "openid": "oH1", "agent": "agent"}
{"type": "rating", "ts": "2026-10-01T10:05:00+08:00", "account": "wxhistory0000001", "openid": "oH1", "rating": 5}
{"type": "follower_count", "account": "5988800001", "day": "2026-10-01", "followers_count": 123456}
{"type": "member_join", "ts": "2026-10-02T09:30:00+08:00", "unionid": "uH1", "via": "wechat"}
{"type": "order", "ts": "2026-10-03T12:00:00+08:00", "out_trade_no": "202610031200000001", "amount_fen": 12900, "channel": "pos", "store": "SH001", "unionid": "uH1"}
"""


def test_history_feeds_every_channel_once_even_when_imported_twice(
    db, tmp_path, capsys, agent_user
):
    from channels_wechat.models import OfficialAccount
    from channels_weibo.models import FollowerSnapshot, WeiboAccount
    from crm.models import Conversation, Customer, Interaction, Message
    from dashboards import kpis
    from members.models import Membership, Order

    OfficialAccount.objects.create(
        appid="wxhistory0000001", name="历史号", app_secret="s", token="t", mode="plaintext"
    )
    WeiboAccount.objects.create(uid="5988800001", screen_name="花漾美妆")
    path = tmp_path / "history.jsonl"
    path.write_text(HISTORY, encoding="utf-8")

    def counts():
        return [
            m.objects.count()
            for m in (
                Customer,
                Conversation,
                Message,
                Interaction,
                FollowerSnapshot,
                Membership,
                Order,
            )
        ]

    call_command("import_history", str(path), "--quiet-progress")
    assert capsys.readouterr().out == f"{path}: 8 imported, 0 already there, 0 failed\n"
    first = counts()
    call_command("import_history", str(path), "--quiet-progress")
    assert capsys.readouterr().out == f"{path}: 0 imported, 8 already there, 0 failed\n"
    assert counts() == first
    customer = Customer.objects.get()  # one person across WeChat, membership and the order
    assert customer.stage == "member"
    conversation = Conversation.objects.get()
    assert (conversation.status, conversation.rating) == ("resolved", 5)
    figures = kpis.wechat_kpis(date(2026, 10, 1), date(2026, 10, 1), "wxhistory0000001")
    assert figures["first_response_seconds"]["median"] == 250.0  # 09:30:00 -> 09:34:10
    assert (figures["satisfaction_rate"], figures["subscribed"]) == (1.0, 1)
    assert Order.objects.get().amount_fen == 12900
