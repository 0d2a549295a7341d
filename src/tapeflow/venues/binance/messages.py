"""Binance trade frames: strict decoding of ``@trade`` combined-stream frames.

A combined-stream frame is ``{"stream": "btcusdt@trade", "data": {...}}``; a raw trade
payload (Binance ``<symbol>@trade``) is::

    {"e":"trade","E":1723161256322,"T":1723161256322,"s":"BTCUSDT","t":5266583935,
     "p":"61800.30","q":"0.006","X":"MARKET","m":false}

``t`` is the raw trade id (contiguous per symbol and market), ``p``/``q`` exact decimal
strings, ``T`` the trade time (ms, UTC), ``m`` isBuyerMaker (true: the aggressor sold), ``X``
the USD-M trade type (absent on spot). Decoding is typed (msgspec, cryptofeed's own JSON
backend): a missing field or a number where Binance sends a string is refused with a reason,
never coerced, so prices and quantities stay the exchange's exact text.
"""

from __future__ import annotations

import re

import msgspec

from tapeflow.model.errors import TapeflowError


class TradePayload(msgspec.Struct, frozen=True):
    """The ``data`` of a Binance ``@trade`` frame (field names as Binance sends them)."""

    e: str
    s: str
    t: int
    p: str
    q: str
    T: int  # Binance's field names
    m: bool
    E: int | None = None
    X: str | None = None

    # the venue-neutral names a feed's trade carries (tapeflow.venues.protocols.RawTrade)
    @property
    def trade_id(self) -> int:
        """Raw trade id ``t``."""
        return self.t

    @property
    def time_ms(self) -> int:
        """Trade time ``T``, ms since the Unix epoch (UTC)."""
        return self.T

    @property
    def price(self) -> str:
        """Exact decimal string ``p``."""
        return self.p

    @property
    def quantity(self) -> str:
        """Exact decimal string ``q`` (base asset)."""
        return self.q

    @property
    def trade_type(self) -> str | None:
        """USD-M trade type ``X`` (``MARKET``, ``INSURANCE_FUND``, ``ADL``, ``NA``), None on
        spot."""
        return self.X


class _Frame(msgspec.Struct, frozen=True):
    stream: str
    data: msgspec.Raw


class _TradeFrame(msgspec.Struct, frozen=True):
    stream: str
    data: TradePayload


_FRAME = msgspec.json.Decoder(_Frame)
_TRADE = msgspec.json.Decoder(TradePayload)
_TRADE_FRAME = msgspec.json.Decoder(_TradeFrame)


class MalformedFrame(TapeflowError, ValueError):
    """A frame that cannot be turned into a trade; ``reason`` says why, ``symbol`` is the
    native symbol it names (if any could be read)."""

    def __init__(self, reason: str, symbol: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.symbol = symbol


def decode_frame(frame: str | bytes) -> tuple[str, msgspec.Raw]:
    """``(stream, raw data)`` of a combined-stream frame.

    Raises:
        MalformedFrame: not JSON, or not ``{"stream": str, "data": ...}``.
    """
    try:
        decoded = _FRAME.decode(frame)
    except msgspec.DecodeError as exc:
        raise MalformedFrame(f"not a combined-stream frame: {exc}", guess_symbol(frame)) from None
    return decoded.stream, decoded.data


def decode_trade(data: msgspec.Raw | bytes, *, stream: str = "") -> TradePayload:
    """The trade payload of a ``@trade`` frame's ``data``.

    Raises:
        MalformedFrame: a field is missing or has the wrong type, the event is not
            ``"trade"``, or the symbol differs from the stream's.
    """
    symbol = stream.partition("@")[0].upper() or None
    try:
        trade = _TRADE.decode(data)
    except msgspec.DecodeError as exc:
        raise MalformedFrame(f"invalid trade payload: {exc}", symbol) from None
    if trade.e != "trade":
        raise MalformedFrame(f"unexpected event type {trade.e!r} on a trade stream", symbol)
    if symbol is not None and trade.s != symbol:
        raise MalformedFrame(f"symbol {trade.s!r} does not match stream {stream!r}", symbol)
    return trade


def decode_trade_frame(frame: str | bytes) -> tuple[str, TradePayload]:
    """``(stream, trade)`` of a well-formed ``@trade`` frame in one decoding pass (the hot
    path); anything else is decoded again step by step to name the problem.

    Raises:
        MalformedFrame: as :func:`decode_frame` / :func:`decode_trade`.
        NotATradeFrame: a valid frame of another channel (``stream`` attribute).
    """
    try:
        decoded = _TRADE_FRAME.decode(frame)
    except msgspec.DecodeError:
        stream, data = decode_frame(frame)
        if not stream.endswith("@trade"):
            raise NotATradeFrame(stream) from None
        return stream, decode_trade(data, stream=stream)
    trade, stream = decoded.data, decoded.stream
    if not stream.endswith("@trade"):
        raise NotATradeFrame(stream)
    if trade.e != "trade" or trade.s != stream[:-6].upper():
        return stream, decode_trade(msgspec.json.encode(trade), stream=stream)  # raises
    return stream, trade


class NotATradeFrame(TapeflowError):
    """A well-formed frame of another stream than ``@trade`` (e.g. ``@depth``)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.stream = stream


_SYMBOL_IN_TEXT = (
    re.compile(r'"stream"\s*:\s*"([a-z0-9_]+)@'),
    re.compile(r'"s"\s*:\s*"([A-Z0-9_]+)"'),
)


def guess_symbol(frame: str | bytes) -> str | None:
    """The native symbol a (possibly broken) frame names, or None."""
    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes | bytearray) else frame
    for pattern in _SYMBOL_IN_TEXT:
        found = pattern.search(text)
        if found:
            return found.group(1).upper()
    return None
