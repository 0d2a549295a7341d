"""`tapeflow run --replay` end to end, as a subprocess, on every real recording."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

import tapeflow
from tapeflow.model.symbols import SymbolKey
from tapeflow.store import TickStore
from tests.app.sources_truth import capture_ids, ids_by_symbol, one_minute_candles
from tests.support.paths import HFT_DIR, MARKET_DIR, REPO_ROOT

pytestmark = pytest.mark.slow


def write_config(tmp_path: Path) -> Path:
    text = (REPO_ROOT / "configs" / "paper.yaml").read_text()
    text = text.replace("root: data ", f"root: {tmp_path / 'data'} ")
    text = text.replace("status_interval_s: 5", "status_interval_s: 1")
    cfg = tmp_path / "paper.yaml"
    cfg.write_text(text)
    return cfg


def tapeflow_run(config: Path, *paths: Path, speed: str = "max") -> subprocess.Popen:
    replay = [a for p in paths for a in ("--replay", str(p))]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tapeflow.cli",
            "run",
            "--config",
            str(config),
            *replay,
            "--speed",
            speed,
            "--exchange",
            "binance",
            "--market",
            "spot",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def stored_ids(root: Path) -> dict[str, list[int]]:
    with TickStore(root, read_only=True) as store:
        out = {}
        for key in store.symbols():
            with store.connection(key) as con:
                ids = [
                    r[0]
                    for r in con.execute("SELECT trade_id FROM ticks ORDER BY trade_id").fetchall()
                ]
            if ids:  # configured symbols without trades yet have an empty file
                out[str(key)] = ids
        return out


def test_replay_everything(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    proc = tapeflow_run(config, MARKET_DIR)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    root = tmp_path / "data"
    # stored ticks equal the sources, none missing, none doubled
    truth = ids_by_symbol()
    stored = stored_ids(root)
    assert set(stored) == set(truth)
    for sym, ids in truth.items():
        assert stored[sym] == sorted(ids), sym
    # 1m candles equal an independent computation from the raw capture
    with tapeflow.open(root) as ta:
        for folder, sym in (("usdm", "BTCUSDT"), ("spot", "ETHUSDT")):
            path = HFT_DIR / folder / f"{sym.lower()}_20240808.gz"
            expected = one_minute_candles(path, folder)
            frame = ta.candles(
                f"binance/{folder}/{sym}",
                "1m",
                datetime(2024, 8, 8, 23, 55, tzinfo=UTC),
                datetime(2024, 8, 8, 23, 59, tzinfo=UTC),
            )
            assert frame.height == 4
            for row in frame.iter_rows(named=True):
                minute = int(row["open_time"].timestamp() * 1000)
                o, h, lo, c, v, n = expected[minute]
                assert (row["open"], row["high"], row["low"], row["close"]) == (o, h, lo, c)
                assert (row["volume"], row["trades"]) == (v, n)
    # every closed 1m candle of every configured symbol was evaluated exactly once (the
    # last candle of a replay never closes: no later tick arrives)
    with TickStore(root, read_only=True) as store:
        for sym in (
            "binance/usdm/BTCUSDT",
            "binance/usdm/ETHUSDT",
            "binance/spot/BTCUSDT",
            "binance/spot/ETHUSDT",
        ):
            with store.connection(SymbolKey.parse(sym)) as con:
                n, candles, bad = con.execute(
                    "SELECT count(*), count(DISTINCT candle_time), count(*) FILTER (WHERE "
                    "level_reached <> 'regime' AND NOT regime_pass) FROM decision_log"
                ).fetchall()[0]
                closed = con.execute(
                    "SELECT count(*) FROM candles_1m_ticks WHERE closed"
                ).fetchall()[0][0]
            assert n == candles == closed > 0, (sym, n, candles, closed)
            assert bad == 0, sym
    assert "ticks through the pipeline: 127,471" in out
    # the bus table: one row per venue subscription, nothing failed
    assert "execution.binance.usdm.ticks" in out and "execution.binance.spot.ticks" in out
    # a second run adds nothing: everything is already stored
    proc = tapeflow_run(config, MARKET_DIR)
    out2, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out2[-4000:]
    assert stored_ids(root) == stored
    assert "ticks through the pipeline: 0" in out2


def test_query_while_running_and_restart_after_sigkill(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    usdm = HFT_DIR / "usdm"
    proc = tapeflow_run(config, usdm, speed="30")  # ~12 minutes of trades in ~25 s
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("status") and "ticks 0 " not in line:
            break
    root = tmp_path / "data"
    time.sleep(3)
    # a notebook in another process: the files are held, the endpoint answers
    with tapeflow.open(root) as ta:
        live = ta.candles("binance/usdm/BTCUSDT", "1m", closed_only=True)
    assert live.height > 0
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    before = stored_ids(root)
    assert 0 < len(before.get("binance/usdm/BTCUSDT", [])) < 32_014
    # restart: resumes where the store ends, nothing lost or doubled
    proc = tapeflow_run(config, usdm)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    assert "Reconciliation" in out or "reconcil" in out.lower()
    after = stored_ids(root)
    truth = capture_ids("usdm/*.gz")
    assert set(after) == set(truth)
    for sym, ids in truth.items():
        assert after[sym] == sorted(ids), sym
    with tapeflow.open(root) as ta:
        final = ta.candles("binance/usdm/BTCUSDT", "1m", closed_only=True)
    # what the notebook saw during the run is a prefix of the final, identical where closed
    assert final.head(live.height).equals(live)
