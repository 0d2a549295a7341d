"""Time bounds for queries: everything is UTC.

Columns are DuckDB ``TIMESTAMP`` holding UTC (µs). Query bounds accept ``datetime`` (aware:
converted to UTC; naive: taken as UTC), ISO-8601 strings (same rule) or ``None`` (open end).
"""

from __future__ import annotations

from datetime import UTC, datetime

from tapeflow.analytics.errors import InvalidRangeError

#: Open bounds: before / after any tick.
MIN_TS = datetime(1970, 1, 1)
MAX_TS = datetime(9999, 1, 1)

TimeLike = datetime | str | None


def to_utc_naive(value: datetime | str, name: str = "time") -> datetime:
    """``value`` as a naive datetime in UTC (what DuckDB ``TIMESTAMP`` parameters hold).

    Raises:
        InvalidRangeError: not a datetime or an ISO-8601 string.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidRangeError(f"{name}: {value!r} is not an ISO-8601 time") from exc
    if not isinstance(value, datetime):
        raise InvalidRangeError(f"{name}: expected a datetime or ISO string, got {value!r}")
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def resolve_range(start: TimeLike, end: TimeLike) -> tuple[datetime, datetime]:
    """``(start, end)`` as naive UTC, open ends replaced by :data:`MIN_TS` / :data:`MAX_TS`.

    Raises:
        InvalidRangeError: a bound is not a time, or ``start > end``.
    """
    lo = MIN_TS if start is None else to_utc_naive(start, "start")
    hi = MAX_TS if end is None else to_utc_naive(end, "end")
    if lo > hi:
        raise InvalidRangeError(
            f"inverted range: start {lo.isoformat()} is after end {hi.isoformat()}"
        )
    return lo, hi
