"""crm.business_time, pure: hours per weekday, China's public holidays and 调休 workdays (2026
National Day: 10-01..10-07 off, Sunday 09-20 and Saturday 10-10 worked), dated exceptions."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crm.business_time import Schedule, china_day_kind

SH = ZoneInfo("Asia/Shanghai")
NINE_TO_SIX = [(time(9), time(18))]
OFFICE = Schedule(weekly={d: NINE_TO_SIX for d in range(5)})  # Monday to Friday


def at(y, m, d, hh, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def test_the_calendar_knows_2026_national_day_and_its_make_up_workdays():
    assert china_day_kind(date(2026, 10, 1)) == "holiday"
    assert china_day_kind(date(2026, 10, 7)) == "holiday"
    assert china_day_kind(date(2026, 10, 8)) == "normal"
    assert china_day_kind(date(2026, 9, 20)) == "makeup"  # a Sunday worked
    assert china_day_kind(date(2026, 10, 10)) == "makeup"  # a Saturday worked
    assert china_day_kind(date(2026, 10, 17)) == "normal"  # an ordinary Saturday
    # A year the package does not cover yet: weekday hours only, no error.
    assert china_day_kind(date(2099, 10, 1)) == "normal"


def test_business_minutes_skip_the_national_day_holiday():
    opened = at(2026, 9, 30, 17, 0)  # Wednesday, one business hour left that day
    assert OFFICE.add(opened, 120 * 60) == at(2026, 10, 8, 10, 0)
    assert OFFICE.seconds_between(opened, at(2026, 10, 8, 10, 0)) == 7200.0
    assert OFFICE.is_open(at(2026, 10, 1, 10)) is False  # Thursday, but National Day
    assert OFFICE.is_open(at(2026, 10, 8, 10)) is True


def test_a_make_up_saturday_is_worked_with_monday_hours():
    friday = at(2026, 10, 9, 17, 30)
    assert OFFICE.add(friday, 60 * 60) == at(2026, 10, 10, 9, 30)  # 调休 Saturday
    assert OFFICE.is_open(at(2026, 10, 10, 12)) is True
    # The Saturday after is an ordinary weekend: on to Monday.
    assert OFFICE.add(at(2026, 10, 16, 17, 30), 60 * 60) == at(2026, 10, 19, 9, 30)
    assert OFFICE.seconds_between(at(2026, 10, 16, 17, 30), at(2026, 10, 19, 9, 30)) == 3600.0


def test_a_make_up_day_uses_its_own_weekday_hours_when_it_has_some():
    weekends_short = Schedule(weekly={0: NINE_TO_SIX, 5: [(time(10), time(12))]})
    assert weekends_short.ranges(date(2026, 10, 10)) == [(time(10), time(12))]
    assert weekends_short.ranges(date(2026, 9, 20)) == NINE_TO_SIX  # Sunday: Monday's


def test_dated_exceptions_override_the_calendar():
    schedule = Schedule(
        weekly={d: NINE_TO_SIX for d in range(5)},
        exceptions={
            date(2026, 10, 8): [],  # the company stays closed one more day
            date(2026, 10, 3): [(time(10), time(12))],  # a holiday with a duty shift
        },
    )
    assert schedule.is_open(at(2026, 10, 3, 11)) is True
    assert schedule.add(at(2026, 10, 3, 11, 30), 60 * 60) == at(2026, 10, 9, 9, 30)
    assert schedule.is_open(at(2026, 10, 8, 10)) is False


def test_two_shifts_to_midnight_and_time_before_opening():
    shifts = Schedule(weekly={d: [(time(8), time(16)), (time(16), time(0))] for d in range(7)})
    assert shifts.is_open(at(2026, 11, 2, 23, 59)) is True
    assert shifts.is_open(at(2026, 11, 2, 7, 59)) is False
    # Opened at night: the clock starts at 08:00.
    assert shifts.add(at(2026, 11, 3, 2, 0), 30 * 60) == at(2026, 11, 3, 8, 30)
    assert shifts.add(at(2026, 11, 2, 23, 50), 20 * 60) == at(2026, 11, 3, 8, 10)
    # Also from a UTC time: the answer keeps the caller's time zone.
    utc = datetime(2026, 11, 2, 15, 50, tzinfo=ZoneInfo("UTC"))  # 23:50 in Shanghai
    assert shifts.add(utc, 20 * 60) == datetime(2026, 11, 3, 0, 10, tzinfo=ZoneInfo("UTC"))


def test_always_open_and_never_open():
    assert Schedule.always().add(at(2026, 10, 1, 3), 90) == at(2026, 10, 1, 3) + timedelta(
        seconds=90
    )
    assert Schedule(weekly={}).add(at(2026, 10, 1, 3), 60) is None
    assert Schedule(weekly={}).seconds_between(at(2026, 10, 1, 3), at(2026, 10, 9, 3)) == 0.0
    assert OFFICE.seconds_between(at(2026, 10, 9, 3), at(2026, 10, 1, 3)) == 0.0
