"""Strict decoding of Binance trade frames, on real recorded frames."""

from __future__ import annotations

import pytest

from tapeflow.venues.binance.messages import (
    MalformedFrame,
    decode_frame,
    decode_trade,
    guess_symbol,
)


def _frame(tape, market: str) -> bytes:
    return next(m.payload for m in tape.messages if m.market == market and m.trade is not None)


@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_real_frames_decode_exactly(tape_aug, market):
    for m in [x for x in tape_aug.messages if x.market == market][:2000]:
        stream, data = decode_frame(m.payload)
        t = decode_trade(data, stream=stream)
        assert stream == m.stream
        assert (t.t, t.p, t.q, t.T, t.m, t.X) == (
            m.trade.trade_id,
            m.trade.price,  # the exchange's text, not a float
            m.trade.quantity,
            m.trade.time_ms,
            m.trade.is_buyer_maker,
            m.trade.trade_type,
        )
        assert m.trade.trade_type == ("MARKET" if market == "usdm" else None)


def test_usdm_frame_fields(tape_aug):
    stream, data = decode_frame(_frame(tape_aug, "usdm"))
    t = decode_trade(data, stream=stream)
    assert stream == "btcusdt@trade"
    assert (t.e, t.s, t.t, t.p, t.q, t.X, t.m) == (
        "trade",
        "BTCUSDT",
        5266583935,
        "61800.30",
        "0.006",
        "MARKET",
        False,
    )


@pytest.mark.parametrize(
    ("frame", "reason", "symbol"),
    [
        (
            b'{"stream":"btcusdt@trade","data":{"e":"trade","E":17',
            "not a combined-stream",
            "BTCUSDT",
        ),
        (b"<html>502 Bad Gateway</html>", "not a combined-stream", None),
        (b'{"data":{}}', "not a combined-stream", None),
    ],
)
def test_unparseable_frames_are_refused_with_a_reason(frame, reason, symbol):
    with pytest.raises(MalformedFrame) as exc:
        decode_frame(frame)
    assert exc.value.reason.startswith(reason)
    assert exc.value.symbol == symbol


def _data(**override) -> bytes:
    fields = {
        "e": '"trade"',
        "E": "1723161256322",
        "T": "1723161256322",
        "s": '"BTCUSDT"',
        "t": "5266583935",
        "p": '"61800.30"',
        "q": '"0.006"',
        "X": '"MARKET"',
        "m": "false",
    }
    fields.update(override)
    return ("{" + ",".join(f'"{k}":{v}' for k, v in fields.items() if v is not None) + "}").encode()


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (_data(p=None), "missing required field `p`"),
        (_data(t=None), "missing required field `t`"),
        (_data(p="61800.3"), "Expected `str`, got `float`"),  # a float price is never coerced
        (_data(t='"5266583935"'), "Expected `int`, got `str`"),
        (_data(e='"aggTrade"'), "unexpected event type 'aggTrade'"),
        (_data(s='"ETHUSDT"'), "does not match stream"),
    ],
)
def test_invalid_trade_payloads_are_refused(data, needle):
    with pytest.raises(MalformedFrame) as exc:
        decode_trade(data, stream="btcusdt@trade")
    assert needle in exc.value.reason
    assert exc.value.symbol == "BTCUSDT"


def test_negative_price_is_left_to_the_store_to_refuse():
    # syntactically a trade; the store's validation owns "positive price"
    assert decode_trade(_data(p='"-61800.30"'), stream="btcusdt@trade").p == "-61800.30"


def test_guess_symbol_from_broken_text():
    assert guess_symbol('{"stream":"ethusdt@trade","data":{"e":"tr') == "ETHUSDT"
    assert guess_symbol(b'{"e":"trade","s":"BTCUSDT","t":') == "BTCUSDT"
    assert guess_symbol("garbage") is None
