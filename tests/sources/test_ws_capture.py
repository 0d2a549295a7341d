"""Binance WebSocket captures (hftbacktest): counts, market detection, malformed lines."""

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest

from tapeflow.model.symbols import SymbolKey
from tapeflow.sources import ImportOptions, import_paths, ws_capture
from tests.sources.conftest import count
from tests.support.paths import HFT_DIR

CAPTURES = sorted(HFT_DIR.glob("*/*.gz"))


def independent_counts(path: Path) -> tuple[int, int, int, Decimal]:
    """(trade lines, other non-empty lines, taker sells, sum of quantities) via gzip+json."""
    trades = others = sells = 0
    qty = Decimal(0)
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if not line.strip():
                continue
            body = json.loads(line.partition(" ")[2])
            data = body.get("data", body)
            if data.get("e") == "trade":
                trades += 1
                sells += data["m"] is True
                qty += Decimal(data["q"])
            else:
                others += 1
    return trades, others, sells, qty


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_trade_line_becomes_one_row(path: Path):
    trades, others, sells, qty = independent_counts(path)
    batches = list(ws_capture.read(path, ImportOptions()))
    rows = sum(b.table.num_rows for b in batches)
    assert rows == trades
    assert sum(b.skipped for b in batches) == others
    assert not any(b.quarantined for b in batches)
    sides = [s for b in batches for s in b.table["side"].to_pylist()]
    assert sides.count("sell") == sells
    assert sum(Decimal(q) for b in batches for q in b.table["quantity"].to_pylist()) == qty


@pytest.mark.parametrize(
    ("path", "key"),
    [
        (HFT_DIR / "spot/btcusdt_20240808.gz", SymbolKey("binance", "spot", "BTCUSDT")),
        (HFT_DIR / "usdm/btcusdt_20240808.gz", SymbolKey("binance", "usdm", "BTCUSDT")),
        (HFT_DIR / "cm/btcusd_perp_20240808.gz", SymbolKey("binance", "coinm", "BTCUSD_PERP")),
        (HFT_DIR / "cm/ethusd_perp_20240809.gz", SymbolKey("binance", "coinm", "ETHUSD_PERP")),
    ],
)
def test_market_detected_from_message_fields(path: Path, key: SymbolKey):
    assert ws_capture.probe(path, ImportOptions()) == [key]
    batch = next(ws_capture.read(path, ImportOptions()))
    assert batch.key == key
    types = set(batch.table["trade_type"].to_pylist())
    # spot messages carry no X (trade type); futures ones carry MARKET here
    assert types == ({None} if key.market == "spot" else {"MARKET"})


def test_first_row_matches_the_documented_example():
    # SOURCES.md example line of usdm/btcusdt_20240808.gz
    batch = next(ws_capture.read(HFT_DIR / "usdm/btcusdt_20240808.gz", ImportOptions()))
    row = batch.table.slice(0, 1).to_pylist()[0]
    assert row["trade_id"] == 5266583935
    assert row["price"] == "61800.30" and row["quantity"] == "0.006"
    assert row["side"] == "buy"  # m=false: the buyer was the taker
    assert int(row["ts"].timestamp() * 1000) == 1723161256322
    assert row["local_ts"].timestamp() == pytest.approx(1723161255.088176, abs=1e-6)


def _lines(path: Path, n: int) -> list[str]:
    with gzip.open(path, "rt") as fh:
        return [next(fh).rstrip("\n") for _ in range(n)]


def test_malformed_trade_lines_are_quarantined_and_the_rest_imports(tmp_path, store):
    src = HFT_DIR / "usdm/ethusdt_20240718.gz"
    lines = _lines(src, 3000)
    good_trades = sum('"e":"trade"' in ln for ln in lines)
    bad = [
        # cut JSON on a trade stream
        '1721347021434994132 {"stream":"ethusdt@trade","data":{"e":"trade","E":17213470',
        # missing price
        '1721347021434994133 {"stream":"ethusdt@trade","data":{"e":"trade","E":1721347022956,'
        '"T":1721347022956,"s":"ETHUSDT","t":4217899999,"q":"0.003","X":"MARKET","m":true}}',
        # negative price
        '1721347021434994134 {"stream":"ethusdt@trade","data":{"e":"trade","E":1721347022956,'
        '"T":1721347022956,"s":"ETHUSDT","t":4217899998,"p":"-3400.10","q":"0.003",'
        '"X":"MARKET","m":true}}',
    ]
    mixed = lines[:1000] + bad + lines[1000:]
    path = tmp_path / "ethusdt_20240718.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(mixed) + "\n")

    summary = import_paths(store, [path], progress=False)
    key = SymbolKey("binance", "usdm", "ETHUSDT")
    c = summary.symbols[key]
    assert (c.inserted, c.quarantined) == (good_trades, 3)
    assert count(store, key) == good_trades
    with store.connection(key) as con:
        stored = con.execute("SELECT raw, reason, source FROM quarantine ORDER BY raw").fetchall()
    assert {r[0] for r in stored} == set(bad)
    reasons = " | ".join(r[1] for r in stored)
    assert "bad JSON" in reasons and "'p'" in reasons and "not a positive decimal" in reasons
    assert {r[2] for r in stored} == {str(path)}


def test_microsecond_prefix_and_agg_trade_messages(tmp_path, store):
    """The *.dat.gz variant stamps lines in µs; aggTrade messages go to the agg_trade space."""
    lines = [
        '1723161255088176 {"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1723161256322,'
        '"a":2307000001,"s":"BTCUSDT","p":"61800.30","q":"0.205","f":5266583935,"l":5266583936,'
        '"T":1723161256344,"m":false}}',
        '1723161255088999 {"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1723161256400,'
        '"a":2307000002,"s":"BTCUSDT","p":"61800.20","q":"0.010","f":5266583937,"l":5266583937,'
        '"T":1723161256400,"m":true}}',
        '1723161255089000 {"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":1}}',
    ]
    path = tmp_path / "btcusdt_20240808.dat.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    summary = import_paths(store, [path], progress=False)
    # futures aggTrade messages carry neither X nor M (spot ones carry M): USD-M by symbol
    key = SymbolKey("binance", "usdm", "BTCUSDT")
    assert list(summary.symbols) == [key]
    assert summary.symbols[key].inserted == 2 and summary.symbols[key].skipped == 1
    with store.connection(key) as con:
        rows = con.execute(
            "SELECT trade_id, first_trade_id, last_trade_id, side, local_ts, "
            "(SELECT id_space FROM symbol_meta) FROM ticks ORDER BY 1"
        ).fetchall()
    assert rows[0][:4] == (2307000001, 5266583935, 5266583936, "buy")
    assert rows[1][3] == "sell"
    assert rows[0][4].isoformat() == "2024-08-08T23:54:15.088176"
    assert rows[0][5] == "agg_trade"
