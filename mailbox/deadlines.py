"""Legal periods: when a delivery counts as delivered and when a period ends.

A period starts the day after delivery. When its last day is a Saturday, a Sunday or a public
holiday of the canton of Lucerne, it ends on the next working day (as the cantonal and federal
procedure laws say; VRG LU § 34, VwVG Art. 20).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

ZURICH = ZoneInfo("Europe/Zurich")


@lru_cache(maxsize=32)
def _lucerne_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("CH", subdiv="LU", years=year)


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in _lucerne_holidays(day.year)


def local_day(moment: dt.datetime) -> dt.date:
    """The calendar day in Lucerne of a (UTC) moment."""
    return moment.astimezone(ZURICH).date()


def period_end(delivered_at: dt.datetime, days: int) -> dt.date:
    """The last day of a period of `days` days starting the day after delivery."""
    if days < 1:
        raise ValueError("a period has at least one day")
    end = local_day(delivered_at) + dt.timedelta(days=days)
    while not is_working_day(end):
        end += dt.timedelta(days=1)
    return end


def deemed_delivery_at(available_at: dt.datetime, days: int) -> dt.datetime:
    """When an unopened delivery counts as delivered: `days` days after it became available."""
    return available_at + dt.timedelta(days=days)
