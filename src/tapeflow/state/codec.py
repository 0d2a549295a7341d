"""Encoding of records and engine-state values for the stores.

Records (``Position``, ``Order``) map field by field: a ``Decimal`` becomes its exact string
(see :func:`decimal_text`: ``"0.10"``, ``"0.00000001"``; digits and exponent survive the
round trip, so trailing zeros are kept), a datetime stays a datetime for
Firestore (a native timestamp) or becomes ISO-8601 text with microseconds and ``+00:00`` for
SQLite (fixed width, so text order is time order). Decoding is ``Model.model_validate``.

Engine-state values are JSON-like trees: ``dict`` (string keys), ``list`` / ``tuple`` (read
back as lists), ``str``, ``int``, ``float``, ``bool``, ``None``, plus exact ``Decimal``
(tagged ``{"$decimal": "0.10"}``) and aware ``datetime`` (native timestamp in Firestore,
tagged ``{"$datetime": "<iso>"}`` in SQLite), both read back as the same type and value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from tapeflow.model.records import check_id


def iso_utc(value: datetime) -> str:
    """``value`` (aware) as ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}; times must be timezone-aware UTC")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def decimal_text(value: Decimal) -> str:
    """Exact text of a finite Decimal that parses back to the same digits and exponent.

    Plain notation whenever the exponent is <= 0 (``Decimal("1E-8")`` -> ``"0.00000001"``,
    where ``str`` would give ``"1E-8"``); ``str`` otherwise (``"1E+3"``, which plain
    notation would turn into ``"1000"``, a different exponent).

    Raises:
        ValueError: NaN or infinity.
    """
    if not value.is_finite():
        raise ValueError(f"non-finite Decimal {value}")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # a finite Decimal's exponent (not 'n', 'N' or 'F')
    return format(value, "f") if exponent <= 0 else str(value)


def record_to_fields(record: BaseModel, *, native_datetimes: bool) -> dict[str, Any]:
    """Field name -> stored value for a record (see the module docstring)."""
    out: dict[str, Any] = {}
    for name, value in record.model_dump().items():
        if isinstance(value, Decimal):
            out[name] = decimal_text(value)
        elif isinstance(value, datetime):
            out[name] = value if native_datetimes else iso_utc(value)
        else:
            out[name] = value
    return out


_DECIMAL = "$decimal"
_DATETIME = "$datetime"


def encode_state(value: Any, *, native_datetimes: bool, path: str = "value") -> Any:
    """Encode an engine-state tree for storage.

    Raises:
        TypeError: a value of another type (naming its path, e.g. ``value.limits[2]``).
        ValueError: a non-string or ``$``-prefixed key, a naive datetime, a non-finite
            Decimal or float.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{path}: non-finite float {value}")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{path}: non-finite Decimal {value}")
        return {_DECIMAL: decimal_text(value)}
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{path}: naive datetime; times must be timezone-aware UTC")
        return value.astimezone(UTC) if native_datetimes else {_DATETIME: iso_utc(value)}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key or key.startswith("$"):
                raise ValueError(f"{path}: key {key!r} must be a non-empty string not starting '$'")
            out[key] = encode_state(item, native_datetimes=native_datetimes, path=f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [
            encode_state(item, native_datetimes=native_datetimes, path=f"{path}[{i}]")
            for i, item in enumerate(value)
        ]
    raise TypeError(f"{path}: {type(value).__name__} cannot be stored in engine state")


def encode_state_document(name: str, value: Any, *, native_datetimes: bool) -> Any:
    """Check and encode the engine-state document ``name`` for ``put_state`` (every store).

    Raises:
        ValueError: ``name`` is not a valid id (:func:`~tapeflow.model.records.check_id`),
            or as :func:`encode_state`.
        TypeError: ``value`` is not a dict, or as :func:`encode_state`.
    """
    check_id("engine state name", name)
    if not isinstance(value, dict):
        raise TypeError(f"engine state {name!r} must be a dict, got {type(value).__name__}")
    return encode_state(value, native_datetimes=native_datetimes)


def decode_state(value: Any) -> Any:
    """Inverse of :func:`encode_state` (native timestamps come back as UTC datetimes)."""
    if isinstance(value, dict):
        if len(value) == 1:
            if _DECIMAL in value:
                return Decimal(value[_DECIMAL])
            if _DATETIME in value:
                return datetime.fromisoformat(value[_DATETIME]).astimezone(UTC)
        return {key: decode_state(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode_state(item) for item in value]
    if isinstance(value, datetime):
        v = value.astimezone(UTC)
        return datetime(
            v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, tzinfo=UTC
        )
    return value
