"""Appends are exact, idempotent, and keep bad input and conflicts out of `ticks`."""

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from tapeflow.model.symbols import SymbolKey
from tapeflow.store import IdSpaceMismatchError, TickSchemaError, TickStore, UnknownSymbolError
from tests.store.conftest import trades_to_table

KEY = SymbolKey("binance", "usdm", "BTCUSDT")


def stored(store: TickStore, sql: str = "SELECT trade_id FROM ticks ORDER BY trade_id"):
    with store.connection(KEY) as con:
        return con.execute(sql).fetchall()


def test_real_capture_stored_exactly(store: TickStore, usdm_btc_trades: list[dict]) -> None:
    table = trades_to_table(usdm_btc_trades)
    res = store.append(KEY, table, id_space="trade", source="capture")
    assert res.received == res.inserted == len(usdm_btc_trades) == 21_313
    rows = stored(
        store,
        "SELECT trade_id, price::VARCHAR, quantity, side, trade_type FROM ticks ORDER BY trade_id",
    )
    first = usdm_btc_trades[0]
    assert rows[0][0] == first["t"]
    assert Decimal(rows[0][1]) == Decimal(first["p"])
    assert rows[0][2] == Decimal(first["q"])
    assert rows[0][3] == ("sell" if first["m"] else "buy")
    assert [r[0] for r in rows] == sorted(t["t"] for t in usdm_btc_trades)
    # exact sums, not float
    total_qty = sum(Decimal(t["q"]) for t in usdm_btc_trades)
    assert stored(store, "SELECT sum(quantity) FROM ticks")[0][0] == total_qty
    assert store.gaps(KEY) == []


def test_reimport_and_overlap_store_each_trade_once(
    store: TickStore, usdm_btc_trades: list[dict]
) -> None:
    n = len(usdm_btc_trades)
    first_half = trades_to_table(usdm_btc_trades[: n // 2 + 100])
    second_half = trades_to_table(usdm_btc_trades[n // 2 :])
    assert store.append(KEY, first_half, id_space="trade").inserted == n // 2 + 100
    res = store.append(KEY, second_half, id_space="trade")
    assert (res.inserted, res.duplicates, res.conflicts) == (n - n // 2 - 100, 100, 0)
    again = store.append(KEY, trades_to_table(usdm_btc_trades), id_space="trade")
    assert (again.inserted, again.duplicates, again.conflicts) == (0, n, 0)
    ids = [r[0] for r in stored(store)]
    assert len(ids) == len(set(ids)) == n


def test_unordered_batch_with_repeats(store: TickStore, usdm_btc_trades: list[dict]) -> None:
    sample = usdm_btc_trades[:500]
    shuffled = sample[250:] + sample[:250] + sample[100:110]  # out of order + 10 repeats
    res = store.append(KEY, trades_to_table(shuffled), id_space="trade")
    assert (res.inserted, res.duplicates, res.conflicts) == (500, 10, 0)
    assert [r[0] for r in stored(store)] == [t["t"] for t in sample]


def test_conflicting_content_is_recorded_not_stored(
    store: TickStore, usdm_btc_trades: list[dict]
) -> None:
    sample = usdm_btc_trades[:50]
    store.append(KEY, trades_to_table(sample), id_space="trade")
    altered = [dict(t) for t in sample[10:12]]
    altered[0]["p"] = str(Decimal(altered[0]["p"]) + 1)
    altered[1]["m"] = not altered[1]["m"]
    res = store.append(KEY, trades_to_table(altered), id_space="trade", source="bad-feed")
    assert (res.inserted, res.duplicates, res.conflicts) == (0, 0, 2)
    price = stored(store, f"SELECT price FROM ticks WHERE trade_id = {sample[10]['t']}")[0][0]
    assert price == Decimal(sample[10]["p"])
    conflicts = stored(store, "SELECT trade_id, source FROM tick_conflicts ORDER BY 1")
    assert conflicts == [(sample[10]["t"], "bad-feed"), (sample[11]["t"], "bad-feed")]
    # seen again: counted, but recorded once
    assert store.append(KEY, trades_to_table(altered), id_space="trade").conflicts == 2
    assert len(stored(store, "SELECT * FROM tick_conflicts")) == 2


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("p", "-61800.1", "non-positive price"),
        ("p", "0", "non-positive price"),
        ("p", "abc", "price is not a number"),
        ("q", "0.0000000001", "quantity has more decimals"),
        ("q", "-1", "non-positive quantity"),
        ("p", None, "missing price"),
        ("t", None, "missing trade id"),
        ("T", None, "missing or unparseable time"),
        ("T", 1000, "time out of range"),
        ("X", "LIQUIDATION?", "unknown trade type"),
    ],
)
def test_malformed_rows_quarantined_with_reason(
    store: TickStore, usdm_btc_trades: list[dict], field: str, value, reason: str
) -> None:
    sample = [dict(t) for t in usdm_btc_trades[:20]]
    sample[7][field] = value
    table = trades_to_table_lenient(sample)
    res = store.append(KEY, table, id_space="trade", source="file.gz")
    assert (res.inserted, res.quarantined) == (19, 1)
    rows = stored(store, "SELECT reason, raw, source FROM quarantine")
    assert len(rows) == 1 and rows[0][0].startswith(reason) and rows[0][2] == "file.gz"
    assert '"price"' in rows[0][1]  # the record is kept, not just the reason


def trades_to_table_lenient(trades: list[dict]) -> pa.Table:
    from datetime import UTC, datetime

    return pa.table(
        {
            "trade_id": pa.array([t["t"] for t in trades], pa.int64()),
            "ts": pa.array(
                [
                    None if t["T"] is None else datetime.fromtimestamp(t["T"] / 1000, UTC)
                    for t in trades
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "price": pa.array([t["p"] for t in trades], pa.string()),
            "quantity": pa.array([t["q"] for t in trades], pa.string()),
            "side": pa.array(["sell" if t["m"] else "buy" for t in trades], pa.string()),
            "trade_type": pa.array([t.get("X") for t in trades], pa.string()),
        }
    )


def test_unknown_side_quarantined(store: TickStore, usdm_btc_trades: list[dict]) -> None:
    table = trades_to_table(usdm_btc_trades[:3])
    table = table.set_column(4, "side", pa.array(["buy", "BUY?", "sell"]))
    res = store.append(KEY, table, id_space="trade")
    assert (res.inserted, res.quarantined) == (2, 1)
    assert stored(store, "SELECT reason FROM quarantine") == [("unknown side",)]


def test_unparseable_records_kept(store: TickStore) -> None:
    assert store.quarantine_records(KEY, [("{not json", "bad JSON")], source="ws") == 1
    assert store.quarantine_records(KEY, [("{not json", "bad JSON")], source="ws") == 1
    assert stored(store, "SELECT raw, reason FROM quarantine") == [("{not json", "bad JSON")]


def test_schema_and_id_space_errors(store: TickStore, usdm_btc_trades: list[dict]) -> None:
    table = trades_to_table(usdm_btc_trades[:5])
    with pytest.raises(TickSchemaError, match="price"):
        store.append(KEY, table.drop_columns(["price"]), id_space="trade")
    with pytest.raises(TickSchemaError, match="must be exact"):
        store.append(KEY, table.set_column(2, "price", pa.array([1.5] * 5)), id_space="trade")
    store.append(KEY, table, id_space="trade")
    with pytest.raises(IdSpaceMismatchError, match="stores 'trade' ids"):
        store.append(KEY, table, id_space="agg_trade")


def test_persisted_and_readable_read_only(tmp_path: Path, usdm_btc_trades: list[dict]) -> None:
    root = tmp_path / "data"
    with TickStore(root) as writer:
        writer.append(KEY, trades_to_table(usdm_btc_trades[:1000]), id_space="trade")
    with TickStore(root, read_only=True) as reader:
        assert reader.symbols() == [KEY]
        assert reader.summary(KEY)["rows"] == 1000
        with pytest.raises(PermissionError):
            reader.append(KEY, trades_to_table(usdm_btc_trades[:1]), id_space="trade")
        with pytest.raises(UnknownSymbolError, match="no database for binance/spot/BTCUSDT"):
            reader.summary(SymbolKey("binance", "spot", "BTCUSDT"))
    # re-opened read-write: cached max id is rebuilt, appends continue idempotently
    with TickStore(root) as writer:
        res = writer.append(KEY, trades_to_table(usdm_btc_trades[500:1500]), id_space="trade")
        assert (res.inserted, res.duplicates) == (500, 500)


def test_gap_listing_and_ledger(store: TickStore, usdm_btc_trades: list[dict]) -> None:
    keep = usdm_btc_trades[:100] + usdm_btc_trades[110:200] + usdm_btc_trades[201:300]
    store.append(KEY, trades_to_table(keep), id_space="trade")
    t = [x["t"] for x in usdm_btc_trades]
    assert store.gaps(KEY) == [(t[100], t[109]), (t[200], t[200])]
    store.record_gap(KEY, t[100], t[109], "detected", "id jump in stream")
    store.record_gap(KEY, t[100], t[109], "filled")
    rows = stored(store, "SELECT status, reason, resolved_at IS NOT NULL FROM gap_ledger")
    assert rows == [("filled", "id jump in stream", True)]
