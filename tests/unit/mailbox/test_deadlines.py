"""Periods start the day after delivery and end on the next working day in Lucerne."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from mailbox.deadlines import deemed_delivery_at, is_working_day, period_end

ZH = ZoneInfo("Europe/Zurich")


def at(day: str, time: str = "10:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=ZH).astimezone(dt.UTC)


@pytest.mark.parametrize(
    ("delivered", "days", "end", "why"),
    [
        ("2026-11-02", 30, "2026-12-02", "an ordinary Wednesday"),
        ("2026-11-06", 30, "2026-12-07", "Sat 6 Dec moves to Monday (and 8 Dec is a LU holiday)"),
        ("2026-11-09", 30, "2026-12-09", "Wed 9 Dec; 8 Dec Immaculate Conception is before it"),
        ("2026-11-08", 30, "2026-12-09", "Tue 8 Dec is Mariä Empfängnis in Lucerne"),
        ("2026-11-25", 30, "2026-12-28", "Fri 25 Dec, Sat 26 Dec (Stephanstag), Sun 27 Dec"),
        ("2026-11-26", 30, "2026-12-28", "Sat 26 Dec is St. Stephen's Day, then Sunday"),
        ("2027-02-24", 30, "2027-03-30", "Good Friday 26 Mar 2027, weekend, Easter Monday"),
        ("2027-02-26", 30, "2027-03-30", "Easter Sunday 28 Mar, then Easter Monday 29 Mar"),
        ("2026-12-02", 30, "2027-01-04", "1 Jan New Year, 2 Jan Berchtoldstag (Sat), Sunday"),
    ],
)
def test_period_end(delivered, days, end, why):
    assert period_end(at(delivered), days) == dt.date.fromisoformat(end), why


def test_period_counts_from_the_local_day():
    # 23:30 in Lucerne on 1 Dec is already 1 Dec locally although 22:30 UTC.
    late = at("2026-12-01", "23:30")
    assert period_end(late, 1) == dt.date(2026, 12, 2)


def test_lucerne_holidays_are_not_working_days():
    for day in (
        "2027-03-26",
        "2027-03-29",
        "2026-12-26",
        "2026-12-08",
        "2026-08-01",
        "2027-05-06",
        "2027-05-27",
    ):
        assert not is_working_day(dt.date.fromisoformat(day)), day
    assert is_working_day(dt.date(2026, 12, 1))


def test_deemed_delivery_is_seven_days_after_availability():
    available = at("2026-11-24", "09:15")
    assert deemed_delivery_at(available, 7) == available + dt.timedelta(days=7)


def test_a_period_has_at_least_one_day():
    with pytest.raises(ValueError):
        period_end(at("2026-11-02"), 0)
