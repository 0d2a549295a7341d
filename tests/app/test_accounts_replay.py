"""`tapeflow run --replay` of the XRP/ETH recording with an account in USDT and ETH: the
longs open, sized in ETH from the USDT equity converted at the configured ETH price."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tapeflow.model.symbols import SymbolKey
from tapeflow.state.embedded import EmbeddedStore
from tapeflow.store import TickStore
from tapeflow.strategy.decision_log import read_decisions
from tests.support.paths import FREQTRADE_PARQUET, REPO_ROOT

pytestmark = pytest.mark.slow

XRPETH = SymbolKey("binance", "spot", "XRPETH")
FROM_MS = 1_570_903_200_000  # 2019-10-12 18:00 UTC: 17 h of trades, signals from 02:23 on

CONFIG = """
store: {{root: {root}}}
execution:
  mode: paper
  paper_balances: {{USDT: 10000, ETH: 500}}
  reference_prices: {{ETH: 180.50}}
  max_trades_per_day: null    # sizing is under test, not seed 004's daily cap of 5
state: {{backend: embedded, path: {state}}}
notify: {{enabled: false}}
app: {{status_interval_s: 5}}
defaults:
  exchange: binance
  timeframes: {{longest: 15m, middle: 5m, fastest: 1m}}
  strategy:
    indicators: {{ema_fast: 5, ema_mid: 10, ema_slow: 20, hurst_window: 32,
                 autocorrelation_window: 20, mean_reversion_window: 20}}
    regime: {{min_adx: 0, min_atr_pct: 0, min_hurst: 0, max_mean_reversion: 1}}
    zone: {{atr_multiple: 5, max_distance_pct: 5}}
    cascade: {{min_fast_imbalance: 0.01, max_fast_imbalance: 0.001}}
    bounce: {{min_strength: 0, min_volume_spike: 0}}
    confluence: {{min_score: 0}}
symbols:
  - {{symbol: XRPETH, market: spot}}
"""


def test_replay_of_xrp_eth_opens_longs_sized_in_eth(tmp_path: Path) -> None:
    # the recording's last 17 hours (a temporary file derived from it, not a copy in the
    # repo): enough 15m candles to warm the short indicator periods above
    table = pq.read_table(FREQTRADE_PARQUET)
    part = tmp_path / "XRP_ETH-trades.parquet"
    pq.write_table(table.filter(pc.greater_equal(table["timestamp"], FROM_MS)), part)
    root, state = tmp_path / "data", tmp_path / "state.sqlite3"
    config = tmp_path / "xrp.yaml"
    config.write_text(CONFIG.format(root=root, state=state))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tapeflow.cli",
            "run",
            "--config",
            str(config),
            "--replay",
            str(part),
            "--exchange",
            "binance",
            "--market",
            "spot",
            "--speed",
            "1000",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    refusals = [
        json.loads(line)
        for line in (root / "logs" / "refusals-binance-spot.jsonl").read_text().splitlines()
    ]
    assert not [r for r in refusals if "insufficient" in r["reason"]]
    assert {r["handler"] for r in refusals} <= {"sizing", "existing_position"}, {
        (r["handler"], r["reason"][:60]) for r in refusals
    }
    store = EmbeddedStore(state)
    try:
        positions = sorted(store.list_positions(), key=lambda p: p.created_at)
    finally:
        store.close()
    assert len([p for p in positions if p.opened_at is not None]) >= 3
    with TickStore(root, read_only=True) as ticks, ticks.connection(XRPETH) as con:
        signals = {
            r["signal_id"]: r["signal"]
            for r in read_decisions(con, last=10_000)
            if r["signal_id"] is not None
        }
    # the first position is sized from the untouched account: 10,000 + 500 × 180.50 =
    # 100,250 USDT = 555.40... ETH; 1 % at risk over (entry − stop), capped at 20 %
    first = positions[0]
    sig = signals[first.position_id]
    entry, stop = Decimal(sig["entry_price"]), Decimal(sig["stop_loss"])
    equity_eth = Decimal(100_250) / Decimal("180.50")
    risk_qty = equity_eth * Decimal("0.01") / (entry - stop)
    cap_qty = equity_eth * Decimal(20) / Decimal(100) / entry
    want = min(risk_qty, cap_qty).quantize(Decimal(1), rounding=ROUND_DOWN)
    assert first.opened_at is not None and first.quantity == want == Decimal(73_259)
