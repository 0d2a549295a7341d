"""Classification of an exchange's own error codes.

ccxt maps most exchange errors onto its exception classes; a few answers need the
exchange's code to be read correctly (Binance's "status unknown" codes mean the order may
have been executed). A venue declares those codes here; execution's adapter classifies an
error by its ccxt class first and by these codes where the class does not say enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorKind(StrEnum):
    """What an exchange error code means to execution."""

    NOT_FOUND = "not_found"  # the order does not exist (any more)
    DUPLICATE = "duplicate"  # the client order id is already used
    RATE_LIMIT = "rate_limit"  # too many requests; retry later
    STATUS_UNKNOWN = "unavailable"  # the request may or may not have been executed
    INSUFFICIENT_FUNDS = "insufficient_funds"  # balance or margin too low


@dataclass(frozen=True, slots=True)
class ErrorCodes:
    """A venue's error codes by kind (empty sets: rely on ccxt's classes alone).

    Attributes:
        codes: ``{code: kind}`` (Binance ``-2013`` -> ``NOT_FOUND``).
        duplicate_messages: message texts meaning a duplicate client order id, for
            answers whose code is shared with other errors (Binance spot ``-2010``).
    """

    codes: dict[int, ErrorKind] | None = None
    duplicate_messages: tuple[str, ...] = ()

    def classify(self, code: int | None, text: str) -> ErrorKind | None:
        """The kind of an error answer with ``code`` (None if it had none) and ``text``,
        or None when the venue's codes say nothing about it."""
        if code is not None and self.codes and code in self.codes:
            return self.codes[code]
        if any(m in text for m in self.duplicate_messages):
            return ErrorKind.DUPLICATE
        return None
