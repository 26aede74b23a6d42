"""Business time: is a schedule open at a moment, what moment lies N business minutes after
another, how many business seconds lie between two moments. Pure: no database; tests build
`Schedule`s by hand. `crm.models.hours.schedule_for` loads one from the admin's tables.

A day's open ranges, in local time (Asia/Shanghai), are, in this order:
1. a dated exception of the schedule, if it names the day (an empty list: closed);
2. closed on a Chinese public holiday (春节, 国庆节, ... as the State Council publishes them, from
   the `chinese-calendar` package);
3. on a 调休 make-up workday (a Saturday or Sunday that is a working day), the hours of that
   weekday if it has any, else Monday's hours: the day is worked like a normal workday;
4. the weekday's hours.
Years the package does not know yet count as having no holidays (weekday hours only).
An end of 00:00 means midnight at the end of the day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

LOCAL = ZoneInfo("Asia/Shanghai")
# Looking further than this for an open minute means the schedule is (almost) never open.
HORIZON_DAYS = 400

Range = tuple[time, time]


# The calendar is fixed for the life of a process (it ships with the package), and SLA due times
# ask about the same few days for every new conversation: 0.23 -> 0.03 ms for a clock's two due
# times (crm.inbox.sla.start_clocks).
@lru_cache(maxsize=2048)
def china_day_kind(day: date) -> str:
    """'holiday' (a public holiday), 'makeup' (a 调休 weekend workday), or 'normal'."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:  # a year the calendar does not cover yet
        return "normal"
    if on_holiday and name is not None:
        return "holiday"
    if not on_holiday and day.weekday() >= 5:
        return "makeup"
    return "normal"


@dataclass(frozen=True)
class Schedule:
    """Open ranges per weekday (0 = Monday) and per exceptional date; `open_always` for 24 × 7."""

    weekly: dict[int, list[Range]] = field(default_factory=dict)
    exceptions: dict[date, list[Range]] = field(default_factory=dict)
    open_always: bool = False
    observe_china_holidays: bool = True

    @classmethod
    def always(cls) -> Schedule:
        return cls(open_always=True)

    def ranges(self, day: date) -> list[Range]:
        """The open ranges of a local date, sorted (see the module docstring for the order)."""
        if self.open_always:
            return [(time(0), time(0))]
        if day in self.exceptions:
            return sorted(self.exceptions[day])
        kind = china_day_kind(day) if self.observe_china_holidays else "normal"
        if kind == "holiday":
            return []
        hours = self.weekly.get(day.weekday(), [])
        if kind == "makeup" and not hours:
            hours = self.weekly.get(0, [])
        return sorted(hours)

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open ranges of a local date as aware datetimes."""
        out = []
        for start, end in self.ranges(day):
            low = datetime.combine(day, start, LOCAL)
            high = (
                datetime.combine(day + timedelta(days=1), time(0), LOCAL)
                if end == time(0)
                else datetime.combine(day, end, LOCAL)
            )
            if high > low:
                out.append((low, high))
        return out

    def is_open(self, at: datetime) -> bool:
        """Whether the aware moment `at` falls in an open range."""
        if self.open_always:
            return True
        local = at.astimezone(LOCAL)
        return any(low <= local < high for low, high in self.intervals(local.date()))

    def add(self, start: datetime, seconds: float) -> datetime | None:
        """The moment `seconds` of business time after `start` (aware), or None when the
        schedule is not open that long within HORIZON_DAYS. Time outside the open ranges does
        not count: a conversation opened at night is due N minutes after opening time."""
        if self.open_always:
            return start + timedelta(seconds=seconds)
        remaining = timedelta(seconds=seconds)
        local = start.astimezone(LOCAL)
        day = local.date()
        for _ in range(HORIZON_DAYS):
            for low, high in self.intervals(day):
                if high <= local:
                    continue
                low = max(low, local)
                if low + remaining <= high:
                    return (low + remaining).astimezone(start.tzinfo)
                remaining -= high - low
            day += timedelta(days=1)
        return None

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Business seconds from `start` to `end` (0 if end is not after start)."""
        if end <= start:
            return 0.0
        if self.open_always:
            return (end - start).total_seconds()
        total = timedelta()
        local_start, local_end = start.astimezone(LOCAL), end.astimezone(LOCAL)
        day = local_start.date()
        while day <= local_end.date():
            for low, high in self.intervals(day):
                overlap = min(high, local_end) - max(low, local_start)
                if overlap > timedelta():
                    total += overlap
            day += timedelta(days=1)
        return total.total_seconds()
