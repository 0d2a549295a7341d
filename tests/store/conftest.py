"""Fixtures for store tests: real ticks parsed straight from the hftbacktest captures."""

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from tapeflow.store import RAW_TICK_SCHEMA, TickStore
from tests.support.paths import HFT_DIR


def read_capture_trades(path: Path) -> list[dict]:
    """The `@trade` messages of one hftbacktest capture, parsed with plain json."""
    out = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            _, _, payload = line.partition(" ")
            msg = json.loads(payload)
            data = msg.get("data", msg)
            if isinstance(data, dict) and data.get("e") == "trade":
                out.append(data)
    return out


def trades_to_table(trades: list[dict]) -> pa.Table:
    """Binance trade messages -> RAW_TICK_SCHEMA table (m=true means the taker sold)."""
    return pa.table(
        {
            "trade_id": pa.array([t["t"] for t in trades], pa.int64()),
            "ts": pa.array(
                [datetime.fromtimestamp(t["T"] / 1000, UTC) for t in trades],
                pa.timestamp("us", tz="UTC"),
            ),
            "price": pa.array([t["p"] for t in trades], pa.string()),
            "quantity": pa.array([t["q"] for t in trades], pa.string()),
            "side": pa.array(["sell" if t["m"] else "buy" for t in trades], pa.string()),
            "trade_type": pa.array([t.get("X") for t in trades], pa.string()),
        },
        schema=pa.schema(
            [
                RAW_TICK_SCHEMA.field(n)
                for n in ("trade_id", "ts", "price", "quantity", "side", "trade_type")
            ]
        ),
    )


@pytest.fixture(scope="session")
def usdm_btc_trades() -> list[dict]:
    return read_capture_trades(HFT_DIR / "usdm" / "btcusdt_20240808.gz")


@pytest.fixture
def store(tmp_path: Path):
    s = TickStore(tmp_path / "data", pool_limit=8, memory_limit="256MB")
    yield s
    s.close()
