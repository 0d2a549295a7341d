"""Binance's error codes that execution must read (spot and USD-M REST answers).

Source: Binance API docs, "Error Codes" (spot ``/api/v3``, USD-M ``/fapi/v1``).
"""

from __future__ import annotations

from tapeflow.venues.errors import ErrorCodes, ErrorKind

#: -2013 "Order does not exist." (spot and USD-M).
NOT_FOUND = frozenset({-2013})
#: USD-M -4116 "ClientOrderId is duplicated." (spot answers -2010 "Duplicate order sent.",
#: a code shared with every other new-order rejection, so spot is told by the message).
DUPLICATE = frozenset({-4116})
DUPLICATE_MESSAGES = ("Duplicate order sent.", "ClientOrderId is duplicated.")
#: -1003 "Too many requests".
RATE_LIMIT = frozenset({-1003})
#: Codes meaning "the request may or may not have been executed": -1000 unknown,
#: -1001 disconnected, -1006 unexpected response, -1007 timeout, -1008 server busy.
STATUS_UNKNOWN = frozenset({-1000, -1001, -1006, -1007, -1008})
#: -2018 "Balance is insufficient", -2019 "Margin is insufficient" (USD-M).
INSUFFICIENT_FUNDS = frozenset({-2018, -2019})

BINANCE_ERRORS = ErrorCodes(
    codes={
        **dict.fromkeys(NOT_FOUND, ErrorKind.NOT_FOUND),
        **dict.fromkeys(DUPLICATE, ErrorKind.DUPLICATE),
        **dict.fromkeys(RATE_LIMIT, ErrorKind.RATE_LIMIT),
        **dict.fromkeys(STATUS_UNKNOWN, ErrorKind.STATUS_UNKNOWN),
        **dict.fromkeys(INSUFFICIENT_FUNDS, ErrorKind.INSUFFICIENT_FUNDS),
    },
    duplicate_messages=DUPLICATE_MESSAGES,
)
