"""Errors raised by the analytics API: each names the bad value and what is accepted."""

from __future__ import annotations

from tapeflow.model.errors import TapeflowError
from tapeflow.model.timeframes import UnknownTimeframeError
from tapeflow.store import UnknownSymbolError
from tapeflow.store.sandbox import ReadOnlyQueryError

__all__ = [
    "AmbiguousSymbolError",
    "BucketError",
    "InvalidRangeError",
    "ReadOnlyQueryError",
    "SymbolNotFoundError",
    "UnknownTimeframeError",
]


class InvalidRangeError(TapeflowError, ValueError):
    """A time range that is inverted, or a bound that is not a time."""


class SymbolNotFoundError(UnknownSymbolError):
    """No symbol database under the root matches (a ``KeyError``)."""


class AmbiguousSymbolError(TapeflowError, ValueError):
    """A bare symbol (``"BTCUSDT"``) exists in several markets; qualify it."""


class BucketError(TapeflowError, ValueError):
    """No usable profile bucket: none given, no tick size known, or not positive."""
