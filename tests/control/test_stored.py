"""Operator controls with no process running: the same commands act on the stored state
(live mode: the engines start on the stored books against the local Binance server for
the one action) and change it exactly once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tapeflow.execution.pauses import STATE_NAME as PAUSES
from tapeflow.execution.risk import STATE_NAME as RISK
from tapeflow.state.embedded import EmbeddedStore
from tests.control.conftest import BTC
from tests.control.test_running import cli, state_doc, stored_positions
from tests.reconcile.run_process import env_with_keys, write_config

pytestmark = pytest.mark.slow

STORED = "[stored state (no running process)]"


def test_controls_on_the_stored_state(tmp_path, venue, books):
    config = write_config(tmp_path)
    env = env_with_keys(venue.state)
    url = ("--api-url", venue.url)

    listed = json.loads(cli(config, "positions", "--json", *url, env=env).stdout)
    assert listed["source"] == "stored state (no running process)"
    stored = stored_positions(tmp_path)
    assert {r["position_id"]: (r["symbol"], Decimal(r["quantity"]), Decimal(r["entry_price"]),
                               Decimal(r["stop_price"]), Decimal(r["target_price"]))
            for r in listed["positions"]} == {
        p.position_id: (p.symbol, p.quantity, p.entry_price, p.stop_price, p.target_price)
        for p in stored.values()
    }  # fmt: skip
    for row in listed["positions"]:  # the stop armed at the entry: 5 % below it
        assert Decimal(row["trailing_stop"]) == Decimal(row["entry_price"]) * Decimal("0.95")
    table = cli(config, "positions", *url, env=env)
    assert table.returncode == 0 and "b1b1b1b1" in table.stdout and "e3e3e3e3" in table.stdout

    out = cli(config, "pause", BTC, *url, env=env).stdout
    assert out == f"{STORED} changed\n  {BTC}: paused: no new entries\n"
    assert "already paused" in cli(config, "pause", BTC, *url, env=env).stdout
    assert state_doc(tmp_path, PAUSES) == {"symbols": [BTC]}
    assert "resumed" in cli(config, "resume", "BTCUSDT", *url, env=env).stdout
    assert "nothing to resume" in cli(config, "resume", "BTCUSDT", *url, env=env).stdout
    assert state_doc(tmp_path, PAUSES) == {"symbols": []}

    closed = cli(config, "close", "--all", *url, env=env)
    assert closed.returncode == 0, closed.stderr
    assert closed.stdout.startswith(f"{STORED} changed\n")
    assert "exit tf-b1b1b1b1-ex sell 0.010 filled" in closed.stdout
    assert "exit tf-e3e3e3e3-ex sell 0.100 filled" in closed.stdout
    again = cli(config, "close", "--all", *url, env=env)
    assert (
        again.stdout == f"{STORED} no change\n  no open position in any symbol: nothing to close\n"
    )
    assert venue.state.positions == {}
    exits = [o for o in venue.state.orders if o.reduce_only and not o.algo]  # not the stops
    assert sorted(o.client_order_id for o in exits) == [
        "tf-b1b1b1b1-ex",
        "tf-e3e3e3e3-ex",
    ]
    assert {p.close_reason for p in stored_positions(tmp_path).values()} == {"operator close"}

    # a tripped portfolio circuit breaker (stored): reset once, then nothing to reset
    now = datetime.now(UTC)
    with EmbeddedStore(tmp_path / "state.sqlite3") as store:
        store.put_state(RISK, {
            "day": now.date().isoformat(), "day_start_equity": "20000", "level": "CIRCUIT_BREAKER",
            "peak_level": "CIRCUIT_BREAKER", "halted": True,
            "halted_until": (now + timedelta(days=1)).isoformat(), "halt_reason": "test halt",
        })  # fmt: skip
    reset = cli(config, "risk", "reset", *url, env=env)
    assert reset.returncode == 0, reset.stderr
    assert reset.stdout.startswith(f"{STORED} changed\n  binance/usdm: circuit breaker reset")
    assert "(was: test halt)" in reset.stdout
    doc = state_doc(tmp_path, RISK)
    assert (doc["halted"], doc["peak_level"]) == (False, "NORMAL")
    assert Decimal(doc["day_start_equity"]) == venue.state.wallet  # re-based at equity
    again = cli(config, "risk", "reset", *url, env=env)
    assert (
        "no change\n  binance/usdm: circuit breaker not tripped, nothing to reset" in again.stdout
    )
