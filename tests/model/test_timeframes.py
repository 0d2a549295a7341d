"""The one floor / ceiling: naive times stay naive, aware ones come back in UTC."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tapeflow.model.timeframes import (
    PERIODS,
    WIDTH_US,
    UnknownTimeframeError,
    ceil_time,
    floor_time,
)


def test_table_covers_every_period_and_each_divides_a_day():
    assert set(WIDTH_US) == set(PERIODS)
    assert all(WIDTH_US["1d"] % w == 0 for w in WIDTH_US.values())


def test_aware_time_in_another_zone_floors_in_utc():
    # 05:30 at UTC+2 is 03:30 UTC: the 4h bucket opened at 00:00 UTC.
    t = datetime(2024, 7, 19, 5, 30, tzinfo=timezone(timedelta(hours=2)))
    assert floor_time(t, "4h") == datetime(2024, 7, 19, tzinfo=UTC)
    assert floor_time(t, "4h").tzinfo is UTC
    assert ceil_time(t, "4h") == datetime(2024, 7, 19, 4, tzinfo=UTC)


def test_name_and_timedelta_widths_agree():
    t = datetime(2024, 7, 19, 0, 7, 30, 1)
    assert floor_time(t, "15m") == floor_time(t, timedelta(minutes=15)) == datetime(2024, 7, 19)
    assert ceil_time(t, "15m") == ceil_time(t, timedelta(minutes=15))
    assert floor_time(t, "15m").tzinfo is None


def test_unknown_width_name():
    with pytest.raises(UnknownTimeframeError, match="'2h'"):
        floor_time(datetime(2024, 7, 19), "2h")
