"""Metrics → JSON: exact decimals as strings, times as ISO-8601, non-finite floats as
strings (``"inf"``), so a decision-log row round-trips without losing a digit."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` with every Decimal, datetime, dataclass, tuple and non-finite float made
    JSON-safe (see module docstring)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def dumps(value: Any) -> str:
    """Compact JSON text of :func:`jsonable` ``(value)``."""
    return json.dumps(jsonable(value), separators=(",", ":"), allow_nan=False)
