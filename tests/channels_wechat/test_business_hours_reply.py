"""The out-of-hours reply follows the business hours of crm (per account and team, China's
public holidays and 调休 workdays, the admin's dated exceptions), not one daily range."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from channels_wechat.ingest import automatic_reply
from crm.models import BusinessHours, HolidayException, Message, Team

from .factories import inbound

SH = ZoneInfo("Asia/Shanghai")
CLOSED = "今天休息，我们上班后第一时间回复您。"


@pytest.fixture
def office(account):
    account.out_of_hours_reply = CLOSED
    # The old daily range says always open: the calendar below must win.
    account.service_start, account.service_end = time(0), time(23, 59)
    account.save()
    for weekday in range(5):
        BusinessHours.objects.create(
            account=account.appid, weekday=weekday, start=time(9), end=time(18)
        )
    return account


def reply_at(account, when, msg_id):
    conversation = inbound(account, msg_id=msg_id, openid=f"o-{msg_id}", at=when, live=True)
    message = Message.objects.get(platform_msg_id=msg_id)
    return conversation, message


@pytest.mark.parametrize(
    ("when", "closed"),
    [
        (datetime(2026, 10, 1, 10, tzinfo=SH), True),  # Thursday, National Day
        (datetime(2026, 10, 8, 10, tzinfo=SH), False),  # Thursday after the holiday
        (datetime(2026, 10, 10, 10, tzinfo=SH), False),  # 调休 Saturday: worked
        (datetime(2026, 10, 17, 10, tzinfo=SH), True),  # an ordinary Saturday
        (datetime(2026, 10, 8, 18, 30, tzinfo=SH), True),  # after hours
    ],
)
def test_out_of_hours_reply_follows_the_calendar(office, when, closed):
    _conversation, message = reply_at(office, when, f"m{when:%m%d%H%M}")
    text, _kind = automatic_reply(office, [], message, opened=True, at=when)
    assert text == (CLOSED if closed else "")
    stored = list(
        Message.objects.filter(direction="out", sender_kind="auto_reply").values_list(
            "content", flat=True
        )
    )
    assert stored == ([CLOSED] if closed else [])


def test_a_dated_exception_and_team_hours(office):
    HolidayException.objects.create(account=office.appid, date=date(2026, 10, 8))
    when = datetime(2026, 10, 8, 10, tzinfo=SH)
    assert office.in_service_hours(when) is False
    night_team = Team.objects.create(name="夜班")
    BusinessHours.objects.create(
        account=office.appid, team=night_team, weekday=3, start=time(20), end=time(0)
    )
    late = datetime(2026, 10, 15, 22, tzinfo=SH)  # Thursday night
    assert office.in_service_hours(late) is False
    assert office.in_service_hours(late, night_team.pk) is True


def test_without_calendar_hours_the_old_daily_range_still_applies(account):
    account.service_start, account.service_end = time(9), time(18)
    account.save()
    assert account.in_service_hours(datetime(2026, 10, 1, 10, tzinfo=SH)) is True
    assert account.in_service_hours(datetime(2026, 10, 1, 20, tzinfo=SH)) is False
