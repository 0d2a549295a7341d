"""Scenario 4: the ingest process is killed with SIGKILL mid-stream and started again.

``tapeflow ingest`` runs as a real subprocess (``python -m tapeflow.cli.ingest``) against the
local Binance servers. It is killed without warning while the replay goes on, so whatever
it had not committed is lost and trades keep happening while it is down. The second run
must resume from the last stored id over REST: in the end, stored ids equal the source ids
exactly and the candles are unchanged.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest
import yaml

import tapeflow
from tapeflow.ingest.recovery import rest_table
from tapeflow.model.symbols import SymbolKey
from tapeflow.store import TickStore
from tapeflow.store.owner import StoreBusyError, claim_root
from tapeflow.venues.recovery import RestTrade
from tests.ingest.conftest import API_KEY, API_KEY_ENV, assert_exact, feeds_for, ingest_harness
from tests.servers.binance_rest import make_app, running_server
from tests.servers.binance_ws import BinanceWsServer, Tape
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.timeout(300)


async def _start(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, API_KEY_ENV: API_KEY}
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tapeflow.cli.ingest",
            "--config",
            str(config),
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )


async def _wait_until(cond, *, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.05)


def _stored_through_endpoint(root: Path) -> int:
    """Ticks stored, as a reader sees them while ingest holds the files."""
    with tapeflow.open(root) as ta:
        return sum(ta.summary(key)["rows"] for key in ta.symbols())


def _stored_in_last_status(log: Path) -> int:
    """The ``stored N`` figure of the last status line in the log (0 if none yet)."""
    found = re.findall(r"\| stored ([\d,]+) ", log.read_text())
    return int(found[-1].replace(",", "")) if found else 0


async def test_sigkill_mid_stream_then_restart_loses_and_doubles_nothing(tape_jul, tmp_path):
    tape = tape_jul
    truth = tape.trades()
    root = tmp_path / "data"
    log = tmp_path / "ingest.log"
    async with BinanceWsServer(tape) as ws:
        app = make_app(trades_by_symbol=truth, clock_ms=lambda: ws.clock_ms, api_keys={API_KEY})
        async with running_server(app) as rest_url:
            config = tmp_path / "ingest.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "store": {"root": str(root)},
                        "feeds": [f.model_dump(exclude_none=True) for f in feeds_for(tape)],
                        "ingest": {
                            "ws_url": ws.base_url + "/{market}",
                            "rest_base_url": rest_url,
                            "rest_api_key_env": API_KEY_ENV,
                            "rest_rate_limit": False,
                            "status_interval_s": 0.5,
                            "gap_grace_s": 0.3,
                            "probe_timeout_s": 2.0,
                        },
                    }
                )
            )
            first = await _start(config, log)
            await ws.wait_for_streams(tape.streams(), timeout=120)
            ws.start_replay(speed=20.0)
            kill_at = tape.index_at_fraction(0.3)
            await _wait_until(lambda: ws.position >= kill_at, timeout=120)
            # a store that was never written has no last id to resume from: kill only once
            # the first run has committed something (the status line counts stored ticks)
            await _wait_until(lambda: _stored_in_last_status(log) > 0, timeout=60)
            # it owns the root: another owner is refused, readers go through its endpoint
            with pytest.raises(StoreBusyError, match=f"another tapeflow ingest \\(pid {first.pid}"):
                claim_root(root)
            assert await asyncio.to_thread(_stored_through_endpoint, root) > 0
            first.send_signal(signal.SIGKILL)
            assert await first.wait() == -signal.SIGKILL
            killed_at = ws.position
            await asyncio.sleep(1.0)  # trades go on while nobody listens

            second = await _start(config, log)
            await ws.wait_for_streams(tape.streams(), timeout=120)
            resumed_at = ws.position
            await ws.replay_finished(timeout=120)
            await asyncio.sleep(3.0)  # last flush + any repair in flight
            second.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(second.wait(), 60) == 0, log.read_text()[-3000:]

    output = log.read_text()
    assert resumed_at > killed_at  # the restart really missed part of the stream
    store = TickStore(root)
    try:
        stored = assert_exact(store, truth)
    finally:
        store.close()
    # the missed trades came back over REST, ledgered as detected -> filled
    ledger = [row for s in stored.values() for row in s.ledger]
    assert ledger, output[-3000:]
    assert all(status == "filled" for _, _, status, _ in ledger), ledger
    assert any("startup" in (reason or "") for _, _, _, reason in ledger), ledger
    assert "ingest stopped: avg" in output  # the clean stop printed its summary


async def test_startup_resumes_from_the_last_stored_id(tape_jul, tmp_path, api_key_env):
    """In-process variant: a store already holding the first third of every symbol, and a
    stream that starts later. Startup probes each symbol: the first tick after the last
    stored id triggers a REST repair of everything in between."""
    truth = tape_jul.trades()
    root = tmp_path / "data"
    store = TickStore(root)
    last_stored = {}
    for (market, symbol), trades in truth.items():
        part = trades[: len(trades) // 3]
        rows = [
            RestTrade(t.trade_id, t.price, t.quantity, t.time_ms, t.is_buyer_maker) for t in part
        ]
        key = SymbolKey("binance", market, symbol)
        store.append(key, rest_table(rows, market=market), id_space="trade", source="seed")
        last_stored[key] = part[-1].trade_id
    store.close()
    tape = Tape(tape_jul.messages[tape_jul.index_at_fraction(0.6) :])
    first_streamed = {
        SymbolKey("binance", m, s): v[0].trade_id for (m, s), v in tape.trades().items()
    }
    async with ingest_harness(tape, root, api_key_env=api_key_env, truth=truth) as h:
        await h.replay(speed=None)
        await h.settle()
        await h.finish()
        stored = assert_exact(h.store, truth)

    for key, s in stored.items():
        if first_streamed[key] > last_stored[key] + 1:  # a real hole between store and stream
            assert s.ledger == [
                (last_stored[key] + 1, first_streamed[key] - 1, "filled", s.ledger[0][3])
            ]
            assert s.ledger[0][3].startswith("startup")
        else:  # the stream overlapped what was stored: duplicates, no gap
            assert s.ledger == []
    assert h.service.recovery.stats.gaps_filled >= 1
