"""Bad input to import and replay: refused before anything starts, or quarantined row by
row while the rest imports."""

from __future__ import annotations

import gzip
from pathlib import Path

from tapeflow.model.symbols import SymbolKey
from tapeflow.store import TickStore
from tests.cli.support import invoke, tapeflow
from tests.sources.archives import archive_rows, capture_trades
from tests.support.paths import FREQTRADE_PARQUET, HFT_DIR, TARDIS_CSV

USDM_BTC = SymbolKey("binance", "usdm", "BTCUSDT")


def test_replay_of_a_missing_path_is_refused_before_anything_starts(tmp_path: Path) -> None:
    root = tmp_path / "data"
    res = tapeflow("run", "--replay", tmp_path / "nowhere", "--root", root)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.strip() == f"error: no such file or folder: {tmp_path / 'nowhere'}"
    assert "ready" not in res.stdout and "Traceback" not in res.stderr
    assert not root.exists()  # nothing was started: no store, no state, no endpoint


def test_replay_of_a_file_without_exchange_and_market_is_refused_up_front(
    tmp_path: Path,
) -> None:
    root = tmp_path / "data"
    res = tapeflow("run", "--replay", FREQTRADE_PARQUET, "--speed", "max", "--root", root)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.strip() == (
        f"error: {FREQTRADE_PARQUET}: the file does not say its exchange, market; "
        "pass --exchange --market"
    )
    assert "ready" not in res.stdout
    assert not root.exists()


def test_import_of_a_missing_path_exits_2_in_one_line(tmp_path: Path) -> None:
    res = invoke("import", tmp_path / "nowhere.csv", "--root", tmp_path / "data", "-q")
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: no such file or folder: {tmp_path / 'nowhere.csv'}"
    assert not (tmp_path / "data").exists()


def _quarantine(root: Path, key: SymbolKey) -> list[tuple[str, str]]:
    with TickStore(root, read_only=True) as store, store.connection(key) as con:
        return con.execute("SELECT raw, reason FROM quarantine ORDER BY raw").fetchall()


def _ids(root: Path, key: SymbolKey) -> list[int]:
    with TickStore(root, read_only=True) as store, store.connection(key) as con:
        return [r[0] for r in con.execute("SELECT trade_id FROM ticks ORDER BY 1").fetchall()]


def test_ragged_and_unparseable_archive_rows_are_quarantined_and_the_rest_imports(
    tmp_path: Path,
) -> None:
    trades = capture_trades(HFT_DIR / "usdm" / "btcusdt_20240718.gz")
    rows = archive_rows(trades, "usdm")
    ragged = rows[10].rsplit(",", 3)[0]  # a truncated line: 3 cells of 6
    bad_time = rows[20].replace(f",{trades[20]['T']},", ",yesterday,")
    bad_side = rows[30].rsplit(",", 1)[0] + ",maybe"
    broken = [*rows[:10], ragged, *rows[11:20], bad_time, *rows[21:30], bad_side, *rows[31:]]
    path = tmp_path / "BTCUSDT-trades-2024-07-18.csv"
    path.write_text("\n".join(broken) + "\n")
    root = tmp_path / "data"

    res = invoke("import", path, "--market", "usdm", "--root", root, "-q")

    assert res.exit_code == 0, res.output
    bad_ids = {trades[i]["t"] for i in (10, 20, 30)}
    assert _ids(root, USDM_BTC) == [t["t"] for t in trades if t["t"] not in bad_ids]
    assert _quarantine(root, USDM_BTC) == sorted(
        [
            (ragged, "CSV row has 3 cells, expected 6"),
            (bad_time, 'time "yesterday" is not an integer'),
            (bad_side, 'is_buyer_maker "maybe" is not true/false'),
        ]
    )


def test_ragged_tardis_rows_are_quarantined_not_a_traceback(tmp_path: Path) -> None:
    lines = TARDIS_CSV.read_text().splitlines()
    ragged = ",".join(lines[5].split(",")[:3])
    bad_ts = lines[7].replace(lines[7].split(",")[2], "soon", 1)
    broken = [lines[0], *lines[1:5], ragged, lines[6], bad_ts, *lines[8:]]
    path = tmp_path / "trades.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(broken) + "\n")
    root = tmp_path / "data"

    res = invoke("import", path, "--root", root, "-q")

    assert res.exit_code == 0, res.output
    key = SymbolKey("binance", "usdm", "BTCUSDT")
    kept = [int(line.split(",")[4]) for i, line in enumerate(lines[1:], 1) if i not in (5, 7)]
    assert _ids(root, key) == sorted(kept)
    assert _quarantine(root, key) == sorted(
        [
            (ragged, "CSV row has 3 cells, expected 8"),
            (bad_ts, 'timestamp "soon" is not an integer'),
        ]
    )


def test_import_symbol_option_is_spelled_as_download_spells_it(tmp_path: Path) -> None:
    rows = archive_rows(capture_trades(HFT_DIR / "usdm" / "btcusdt_20240718.gz"), "usdm")
    path = tmp_path / "recording.csv"  # the name does not say the symbol
    path.write_text("\n".join(rows) + "\n")
    root = tmp_path / "data"
    res = invoke(
        "import",
        path,
        "--symbol",
        " btcusdt",
        "--market",
        "USDM",
        "--id-space",
        "trade",
        "--root",
        root,
        "-q",
    )
    assert res.exit_code == 0, res.output
    assert len(_ids(root, USDM_BTC)) == len(rows)
