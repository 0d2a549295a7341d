"""What every command shares: version, exit codes and one wording per error, data printed
as data, listings that fit 80 columns with --json / --csv, the store root from --root or
TAPEFLOW_ROOT with state beneath it, one spelling of symbols."""

from __future__ import annotations

import csv
import io
import json
import socket
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tapeflow import __version__
from tapeflow.analytics.api import open as open_analytics
from tapeflow.analytics.charts import load_chart_data
from tests.cli.support import invoke, tapeflow
from tests.sources.archives import capture_trades
from tests.support.paths import HFT_DIR

CM = HFT_DIR / "cm"


@pytest.fixture(scope="module")
def cm_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """COIN-M BTCUSD_PERP and ETHUSD_PERP, two days each (the real captures)."""
    root = tmp_path_factory.mktemp("cm") / "data"
    res = invoke("import", CM, "--root", root, "-q")
    assert res.exit_code == 0, res.output
    return root


@pytest.fixture(scope="module")
def two_markets_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BTCUSDT in USD-M (July and August 2024) and in spot: a bare BTCUSDT is ambiguous."""
    root = tmp_path_factory.mktemp("two") / "data"
    files = [HFT_DIR / "usdm" / f"btcusdt_2024{d}.gz" for d in ("0718", "0719", "0808")]
    res = invoke("import", *files, HFT_DIR / "spot" / "btcusdt_20240808.gz", "--root", root, "-q")
    assert res.exit_code == 0, res.output
    return root


def test_version_option() -> None:
    res = tapeflow("--version")
    assert res.returncode == 0 and res.stdout == f"tapeflow {__version__}\n"


def test_sql_prints_data_not_markup(cm_root: Path) -> None:
    res = invoke(
        "sql",
        "BTCUSD_PERP",
        "SELECT '[red]abc[/red]' AS markup, ':x:' AS emoji, 1e-7::DOUBLE AS small, "
        "CAST(price AS VARCHAR) AS price FROM ticks ORDER BY trade_id LIMIT 1",
        "--root",
        cm_root,
    )
    assert res.exit_code == 0, res.output
    assert "[red]abc[/red]" in res.stdout and ":x:" in res.stdout and "❌" not in res.stdout
    assert "0.0000001" in res.stdout and "e-07" not in res.stdout


def test_listings_have_json_and_csv(cm_root: Path) -> None:
    trades = capture_trades(CM / "btcusd_perp_20240808.gz") + capture_trades(
        CM / "btcusd_perp_20240809.gz"
    )
    info = [
        json.loads(line) for line in invoke("info", "--json", "--root", cm_root).stdout.splitlines()
    ]
    btc = next(r for r in info if r["symbol"] == "binance/coinm/BTCUSD_PERP")
    assert (btc["rows"], btc["first_id"], btc["last_id"], btc["gaps"]) == (
        len(trades),
        trades[0]["t"],
        trades[-1]["t"],
        0,
    )
    table = list(csv.reader(io.StringIO(invoke("info", "--csv", "--root", cm_root).stdout)))
    assert table[0][:3] == ["symbol", "id_space", "rows"]
    assert {r[0] for r in table[1:]} == {"binance/coinm/BTCUSD_PERP", "binance/coinm/ETHUSD_PERP"}

    res = invoke(
        "sql", "btcusd_perp", "SELECT sum(quantity) AS q FROM ticks", "--json", "--root", cm_root
    )
    assert json.loads(res.stdout) == {
        "q": str(sum(Decimal(t["q"]) for t in trades).quantize(Decimal("1e-8")))
    }
    res = invoke("gaps", "--csv", "--root", cm_root)
    assert res.exit_code == 0 and res.stdout == "symbol,first_missing,last_missing,count\n"
    both = invoke("gaps", "--csv", "--json", "--root", cm_root)
    assert both.exit_code == 2


def test_info_fits_80_columns(cm_root: Path) -> None:
    res = invoke("info", "--root", cm_root, columns=80)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    btc = next(i for i, line in enumerate(lines) if line.startswith("binance/coinm/BTCUSD_PERP"))
    assert lines[btc].split()[1:3] == ["5,235", "2024-08-08"]  # symbol, rows, first trade
    assert "2024-08-09 00:05" in lines[btc + 1]  # the last trade beneath it
    assert "…" not in res.stdout  # nothing cut off


def test_one_wording_and_exit_code_for_an_ambiguous_symbol(
    two_markets_root: Path, tmp_path: Path
) -> None:
    expected = (
        "error: 'BTCUSDT' exists in several markets (binance/spot/BTCUSDT, "
        "binance/usdm/BTCUSDT); pass 'exchange/market/SYMBOL'"
    )
    for args in (
        ("gaps", "BTCUSDT"),
        ("sql", "BTCUSDT", "SELECT 1"),
        ("chart", "BTCUSDT", "--out", tmp_path / "c.png"),
        ("explain", "BTCUSDT"),
    ):
        res = invoke(*args, "--root", two_markets_root)
        assert (res.exit_code, res.stderr.strip()) == (2, expected), args
    for args in (("gaps", "DOGEUSDT"), ("chart", "DOGEUSDT"), ("explain", "DOGEUSDT")):
        res = invoke(*args, "--root", two_markets_root)
        assert res.exit_code == 2 and res.stderr.startswith("error: no symbol 'DOGEUSDT' in"), args


def test_every_reading_command_honours_tapeflow_root(
    two_markets_root: Path, tmp_path: Path
) -> None:
    env = {"TAPEFLOW_ROOT": str(two_markets_root)}
    out = tmp_path / "chart.png"
    res = invoke("chart", "binance/usdm/btcusdt", "--tf", "1h", "--out", out, env=env)
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 10_000
    res = invoke("explain", "binance/usdm/BTCUSDT", env=env)
    assert res.exit_code == 0, res.output
    assert "no decisions recorded for binance/usdm/BTCUSDT" in res.stdout
    for command in ("info", "gaps", "migrate"):
        res = invoke(command, env=env)
        assert res.exit_code == 0 and "BTCUSDT" in res.stdout, (command, res.output)


def test_chart_title_has_no_exponent(two_markets_root: Path) -> None:
    with open_analytics(two_markets_root) as ta:
        data = load_chart_data(ta, "binance/usdm/BTCUSDT", "4h")
    assert data.bucket == Decimal(50)  # July and August prices: ~60 levels of 50 USDT
    assert data.title.endswith("(profile level 50)"), data.title


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_reconcile_dry_run_offline_uses_shipped_rules_and_the_roots_own_state(
    tmp_path: Path,
) -> None:
    offline = f"http://127.0.0.1:{_closed_port()}"  # nothing listens: as without network
    for name in ("a", "b"):
        root = tmp_path / name
        res = tapeflow(
            "reconcile", "--dry-run", "--plain", "--api-url", offline, "--root", root, timeout=120
        )
        assert res.returncode == 0, res.stdout + res.stderr
        assert "consistent, no discrepancies" in res.stdout
        assert "using the snapshot in configs/markets" in res.stderr
        assert (root / "state" / "state.sqlite3").is_file()  # paper account under its root


def test_replay_status_is_on_the_replay_clock() -> None:
    from tapeflow.app.replay import ReplayStats
    from tapeflow.app.run import replay_position

    last = capture_trades(HFT_DIR / "usdm" / "btcusdt_20240808.gz")[-1]
    stats = ReplayStats(last_ts=datetime.fromtimestamp(last["T"] / 1000, UTC))
    assert replay_position(stats) == "replay clock 2024-08-08 23:59:59 UTC"  # not wall time
    stats.behind_s = 2.5  # a paced replay two and a half exchange seconds behind
    assert replay_position(stats) == "replay clock 2024-08-08 23:59:59 UTC (behind pace 2.5s)"
