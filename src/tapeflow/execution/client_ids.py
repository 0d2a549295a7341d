"""Deterministic client order ids: one decision, one id, on every exchange.

An id is ``tf-<signal id>-<purpose code>[<attempt>]``, e.g. ``tf-3f9a...c1-en`` for the
entry of a signal and ``tf-3f9a...c1-ex`` for the exit of the position it opened. The same
decision always produces the same id, so after a timeout or a restart the engine can ask
the exchange whether the order exists before it sends it again.

Binance accepts ``^[.A-Z:/a-z0-9_-]{1,36}$`` for ``newClientOrderId``; Bybit's
``orderLinkId`` allows 36 characters of letters, digits, ``-`` and ``_``. Ids built here
satisfy both (at most 28 characters).
"""

from __future__ import annotations

import hashlib
import re

from tapeflow.model.errors import TapeflowError

#: Order purpose -> the two-letter code in the id.
PURPOSE_CODES: dict[str, str] = {"entry": "en", "exit": "ex", "stop": "sl", "other": "ot"}

#: Binance's rule for client order ids (newClientOrderId / origClientOrderId).
BINANCE_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")

_SIGNAL_ID = re.compile(r"^[0-9a-f]{8,20}$")
PREFIX = "tf"


class InvalidClientOrderIdError(TapeflowError, ValueError):
    """A signal id, purpose or attempt that cannot form a valid client order id."""


def client_order_id(signal_id: str, purpose: str, attempt: int = 0) -> str:
    """The client order id of ``purpose`` for the decision ``signal_id``.

    Args:
        signal_id: :attr:`tapeflow.model.signals.TradeSignal.signal_id` (8–20 lower-case
            hex characters).
        purpose: ``entry``, ``exit``, ``stop`` or ``other``.
        attempt: 0 for the first order of this purpose; 1, 2, ... for a *new* decision to
            retry after the previous order was definitely rejected (never for a resend).

    Raises:
        InvalidClientOrderIdError: on a malformed signal id, unknown purpose or attempt
            outside 0–999.
    """
    if not isinstance(signal_id, str) or not _SIGNAL_ID.fullmatch(signal_id):
        raise InvalidClientOrderIdError(
            f"signal id must be 8-20 lower-case hex characters, got {signal_id!r}"
        )
    code = PURPOSE_CODES.get(purpose)
    if code is None:
        raise InvalidClientOrderIdError(
            f"unknown order purpose {purpose!r}; known: {', '.join(PURPOSE_CODES)}"
        )
    if not 0 <= attempt <= 999:
        raise InvalidClientOrderIdError(f"attempt must be 0-999, got {attempt}")
    cid = f"{PREFIX}-{signal_id}-{code}{attempt if attempt else ''}"
    assert BINANCE_CLIENT_ID.fullmatch(cid)
    return cid


def decision_id(position_id: str) -> str:
    """The decision id a position's client order ids are built from: the position id
    itself when it is a signal id (8–20 lower-case hex), else the first 20 hex digits of
    its SHA-256 — a position imported by reconciliation (``rc-binance-usdm-BTCUSDT-...``)
    gets the same exit ids on every call, so a resend after a restart is recognised."""
    if _SIGNAL_ID.fullmatch(position_id):
        return position_id
    return hashlib.sha256(position_id.encode()).hexdigest()[:20]


def parse_client_order_id(cid: str) -> tuple[str, str, int] | None:
    """``(signal_id, purpose, attempt)`` of an id built by :func:`client_order_id`, or
    ``None`` for an id tapeflow did not make (e.g. an order placed by hand)."""
    m = re.fullmatch(rf"{PREFIX}-([0-9a-f]{{8,20}})-([a-z]{{2}})(\d{{0,3}})", cid or "")
    if m is None:
        return None
    purposes = {v: k for k, v in PURPOSE_CODES.items()}
    if m.group(2) not in purposes:
        return None
    return m.group(1), purposes[m.group(2)], int(m.group(3) or 0)
