"""Operator controls on a running ``tapeflow run --replay`` (live mode against the local
Binance server, a separate process), through its control endpoint: the positions listed
are the stored ones; close, pause and resume change the state exactly once; a request
without the token is refused."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tapeflow.app.control import ControlClient, ControlRefused, find_control
from tapeflow.execution.pauses import STATE_NAME as PAUSES
from tapeflow.execution.risk import STATE_NAME as RISK
from tapeflow.state.embedded import EmbeddedStore
from tests.control.conftest import BTC, ETH
from tests.reconcile.run_process import (
    REPLAY,
    env_with_keys,
    run_args,
    tapeflow,
    wait_for,
    wait_ready,
    write_config,
)
from tests.servers.sendgrid import MailServer
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.slow


def cli(config: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tapeflow.cli", *args, "--config", str(config)],
        cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def state_doc(tmp_path: Path, name: str):
    with EmbeddedStore(tmp_path / "state.sqlite3") as store:
        return store.get_state(name)


def stored_positions(tmp_path: Path) -> dict:
    with EmbeddedStore(tmp_path / "state.sqlite3") as store:
        return {p.position_id: p for p in store.list_positions()}


def test_controls_on_a_running_process(tmp_path, venue, books):
    config = write_config(tmp_path)
    env = env_with_keys(venue.state)
    # speed 1: the run outlives the commands; it is stopped with SIGINT below
    proc = tapeflow(*run_args(config, venue.url, REPLAY["BTCUSDT"], REPLAY["ETHUSDT"],
                              extra=("--speed", "1")), env=env)  # fmt: skip
    try:
        wait_ready(proc)
        info = find_control(tmp_path / "data")
        assert info is not None and info.pid == proc.pid
        assert (tmp_path / "data" / ".tapeflow" / "control.json").stat().st_mode & 0o077 == 0

        # positions: what the store holds, with the engine's trailing levels and marks
        client = ControlClient(info)
        wait_for(lambda: all(r["mark"] for r in client.request("GET", "/positions")["positions"]),
                 "a trade of each symbol to reach the engine")  # fmt: skip
        res = cli(config, "positions", "--json", env=env)
        assert res.returncode == 0, res.stderr
        listed = json.loads(res.stdout)
        assert listed["source"] == f"running process {proc.pid}"
        stored = stored_positions(tmp_path)
        rows = {r["position_id"]: r for r in listed["positions"]}
        assert set(rows) == {p.position_id for p in stored.values() if p.status == "open"}
        for pid, row in rows.items():
            pos = stored[pid]
            assert (row["symbol"], row["direction"], row["status"]) == (pos.symbol, "long", "open")
            assert Decimal(row["quantity"]) == pos.quantity
            assert Decimal(row["entry_price"]) == pos.entry_price == books[pos.symbol]
            assert Decimal(row["stop_price"]) == pos.stop_price
            assert Decimal(row["target_price"]) == pos.target_price
            trailing = Decimal(row["trailing_stop"])  # 5 % below the highest price seen
            assert trailing >= pos.entry_price * Decimal("0.95")
            mark = Decimal(row["mark"])  # a replayed trade price: above the entry (2 % below)
            assert mark > pos.entry_price
            assert Decimal(row["unrealized_pnl"]) == (mark - pos.entry_price) * pos.quantity

        # no token, a wrong token: refused
        req = urllib.request.Request(f"http://{info.host}:{info.port}/positions")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=10)
        assert refused.value.code == 401
        forged = type(info)(info.host, info.port, info.pid, "not-the-token")
        with pytest.raises(ControlRefused, match="wrong control token") as wrong:
            ControlClient(forged).request("POST", "/close", {"symbol": None})
        assert wrong.value.status == 401
        assert all(p.status == "open" for p in stored_positions(tmp_path).values())

        # pause / resume: once each, then "already so"
        first = cli(config, "pause", "BTCUSDT", env=env)
        assert first.returncode == 0, first.stderr
        assert "changed\n  binance/usdm/BTCUSDT: paused: no new entries" in first.stdout
        assert state_doc(tmp_path, PAUSES) == {"symbols": [BTC]}
        again = cli(config, "pause", "BTCUSDT", env=env)
        assert "no change\n  binance/usdm/BTCUSDT: already paused" in again.stdout
        assert cli(config, "resume", "BTCUSDT", env=env).stdout.endswith(
            "changed\n  binance/usdm/BTCUSDT: resumed: new entries allowed\n"
        )
        assert state_doc(tmp_path, PAUSES) == {"symbols": []}
        assert "not paused: nothing to resume" in cli(config, "resume", "BTCUSDT", env=env).stdout

        # close: one exit order on the exchange, the second call finds nothing to close
        closed = cli(config, "close", "BTCUSDT", env=env)
        assert closed.returncode == 0, closed.stderr
        assert f"[running process {proc.pid}] changed" in closed.stdout
        assert "b1b1b1b1 binance/usdm/BTCUSDT: exit tf-b1b1b1b1-ex sell 0.010 filled" in (
            closed.stdout
        )
        again = cli(config, "close", "BTCUSDT", env=env)
        assert "no change\n  no open position in binance/usdm/BTCUSDT: nothing to close" in (
            again.stdout
        )
        exits = [
            o
            for o in venue.state.orders
            if o.symbol == "BTCUSDT" and o.reduce_only and not o.algo  # not the resting stops
        ]
        assert [(o.client_order_id, o.side, o.status) for o in exits] == [
            ("tf-b1b1b1b1-ex", "SELL", "FILLED")
        ]
        assert "BTCUSDT" not in venue.state.positions
        btc = stored_positions(tmp_path)["b1b1b1b1"]
        assert (btc.status, btc.close_reason) == ("closed", "operator close")

        # risk reset with the breaker closed: says so, changes nothing
        reset = cli(config, "risk", "reset", env=env)
        assert "no change\n  binance/usdm: circuit breaker not tripped, nothing to reset" in (
            reset.stdout
        )
        # an unknown symbol: refused, exit 2
        bad = cli(config, "close", "DOGEUSDT", env=env)
        assert bad.returncode == 2 and "DOGEUSDT is not a configured symbol" in bad.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-4000:]
    assert find_control(tmp_path / "data") is None  # the file is removed at shutdown
    # the process's log records each operator action once
    assert out.count("operator pause: binance/usdm/BTCUSDT: paused: no new entries") == 1
    assert out.count("operator close: b1b1b1b1 binance/usdm/BTCUSDT: exit tf-b1b1b1b1-ex") == 1
    assert stored_positions(tmp_path)["e3e3e3e3"].status == "open"
    assert venue.state.positions["ETHUSDT"] == (Decimal("0.100"), books[ETH])


def test_risk_reset_on_a_running_process_lifts_the_breaker_once(tmp_path, venue, books):
    """The day started at 20,000 USDT of equity; the account holds 10,000: the running
    process trips the portfolio circuit breaker at its first risk check (closing both
    longs), mails how to reset it, and ``tapeflow risk reset`` lifts it exactly once."""
    with EmbeddedStore(tmp_path / "state.sqlite3") as store:
        store.put_state(RISK, {"day": datetime.now(UTC).date().isoformat(),
                               "day_start_equity": "20000", "level": "NORMAL",
                               "peak_level": "NORMAL", "halted": False})  # fmt: skip
    mail = MailServer().start()
    config = write_config(tmp_path, mail_host=mail.host)
    env = env_with_keys(venue.state)
    proc = tapeflow(*run_args(config, venue.url, REPLAY["BTCUSDT"], REPLAY["ETHUSDT"],
                              extra=("--speed", "1")), env=env)  # fmt: skip
    try:
        wait_ready(proc)
        wait_for(lambda: (state_doc(tmp_path, RISK) or {}).get("halted"), "the breaker")
        wait_for(lambda: any("CIRCUIT BREAKER" in r.json["subject"] for r in mail.requests),
                 "the breaker's mail")  # fmt: skip
        [tripped] = [r.json for r in mail.requests if "CIRCUIT BREAKER" in r.json["subject"]]
        assert "`tapeflow risk reset`" in tripped["content"][0]["value"]

        reset = cli(config, "risk", "reset", env=env)
        assert reset.returncode == 0, reset.stderr
        assert reset.stdout.startswith(
            f"[running process {proc.pid}] changed\n  binance/usdm: circuit breaker reset "
            "(was: daily drawdown 49."
        )  # equity ~10,000 (wallet plus the longs' P&L) against 20,000
        assert "% >= 5% (equity " in reset.stdout and "new entries allowed" in reset.stdout
        doc = state_doc(tmp_path, RISK)
        assert (doc["halted"], doc["peak_level"]) == (False, "NORMAL")
        assert Decimal(doc["day_start_equity"]) < Decimal(20000)  # re-based at equity
        again = cli(config, "risk", "reset", env=env)
        assert "no change\n  binance/usdm: circuit breaker not tripped, nothing to reset" in (
            again.stdout
        )
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=300)
        mail.stop()
    assert proc.returncode == 0, out[-4000:]
    assert not state_doc(tmp_path, RISK)["halted"]  # the reset held to the end of the run
    assert {p.close_reason for p in stored_positions(tmp_path).values()} == {
        "portfolio circuit breaker"
    }
