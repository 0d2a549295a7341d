"""Crash recovery: a real trading process is killed (SIGKILL) at each dangerous instant, and
the restart — ``tapeflow reconcile`` in a process of its own, then the engine — converges
to the exchange's truth without a second order.

The crash points (:mod:`tapeflow.execution.crashpoints`):

* ``after_send`` — (a) the exchange filled the entry, the answer was never recorded;
* ``before_send`` — (b) the write-ahead order record is stored, the request never left;
* ``after_fill`` — (c) the fill is recorded and the position open, its trailing stop was
  never armed (nor persisted).

The local Binance-compatible server holds the truth and counts every order it receives
per client order id; the processes talk to it through the real ccxt adapter.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from pathlib import Path

import pytest

from tapeflow.execution.client_ids import client_order_id
from tapeflow.execution.engine import STOPS_STATE, ExecutionEngine
from tapeflow.model.symbols import SymbolKey
from tapeflow.reconcile.reconciler import reconcile
from tapeflow.state.embedded import EmbeddedStore
from tests.reconcile.crash_driver import TRAIL, decision, settings

REPO = Path(__file__).resolve().parents[2]
HELD = ("open", "closing")


async def python(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``python args`` from the repository root; returns (return code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode, out.decode(), err.decode()


def config_file(tmp_path: Path, market: str, state: Path) -> Path:
    path = tmp_path / "live.yaml"
    path.write_text(
        f"""\
execution:
  mode: live
  exchange: binance
  market: {market}
  retry: {{attempts: 3, initial_wait_s: 0.01, max_wait_s: 0.05}}
state:
  backend: embedded
  path: {state}
notify:
  enabled: false
defaults:
  risk: {{trailing_distance_pct: {TRAIL}}}
symbols:
  - {{exchange: binance, market: {market}, symbol: BTCUSDT}}
""",
        encoding="utf-8",
    )
    return path


def exchange_holding(venue, key: SymbolKey) -> tuple[str, Decimal] | None:
    """The server's truth: the USD-M net position, or the spot BTC balance floored to the
    0.00001 step (what reconciliation compares)."""
    st = venue.state
    if key.market == "usdm":
        held = st.positions.get(key.symbol)
        if held is None:
            return None
        return ("long" if held[0] > 0 else "short", abs(held[0]))
    btc = st.spot_balances["BTC"].quantize(Decimal("0.00001"), rounding=ROUND_DOWN)
    return ("long", btc) if btc > 0 else None


def local_holding(store, key: SymbolKey) -> tuple[str, Decimal] | None:
    held = [p for p in store.list_positions(status=HELD, symbol=str(key))]
    if not held:
        return None
    assert len({p.direction for p in held}) == 1
    return (held[0].direction, sum((p.quantity for p in held), Decimal(0)))


#: Exit code of ``tapeflow reconcile`` after each crash: (a) and (b) leave an unsettled
#: order (1: resolved); (c) leaves an open position without its resting stop (1: placed),
#: and on spot the fee Binance took in BTC makes the balance 0.1 % smaller than the fill
#: (adopted).
RECONCILE_EXIT = {
    ("after_send", "usdm"): 1,
    ("before_send", "usdm"): 1,
    ("after_fill", "usdm"): 1,
    ("after_send", "spot"): 1,
    ("before_send", "spot"): 1,
    ("after_fill", "spot"): 1,
}


@pytest.mark.parametrize("market", ["usdm", "spot"])
@pytest.mark.parametrize("point", ["after_send", "before_send", "after_fill"])
async def test_killed_process_restarts_into_the_exchange_truth(point, market, venue, tmp_path):
    key = SymbolKey("binance", market, "BTCUSDT")
    price = venue.state.prices[(market, "BTCUSDT")]
    entry, stop = price, price - 300
    sig = decision(key, entry, stop)
    pid, cid = sig.signal_id, client_order_id(sig.signal_id, "entry")
    state = tmp_path / "state.sqlite3"
    env = {
        **os.environ,
        "BINANCE_API_KEY": venue.state.api_key,
        "BINANCE_API_SECRET": venue.state.secret,
    }
    env.pop("TAPEFLOW_CRASHPOINT", None)

    # 1. the trading process dies at the crash point
    code, out, err = await python(
        [
            "-m",
            "tests.reconcile.crash_driver",
            f"--url={venue.url}",
            f"--symbol={key}",
            f"--state={state}",
            f"--entry={entry}",
            f"--stop={stop}",
        ],
        {**env, "TAPEFLOW_CRASHPOINT": point},
    )
    assert code == -signal.SIGKILL, f"exit {code}\n{out}\n{err}"
    assert out == ""  # it never got to report a result

    store = EmbeddedStore(state)
    try:
        left = store.get_order(cid)
        on_server = venue.state.orders_with(cid)
        stops = (store.get_state(STOPS_STATE) or {}).get("stops", [])
        if point == "before_send":
            assert left.status == "sent" and on_server == []
        elif point == "after_send":
            assert left.status == "sent" and [o.status for o in on_server] == ["FILLED"]
        else:
            assert left.status == "filled" and [o.status for o in on_server] == ["FILLED"]
            assert store.get_position(pid).status == "open"
            assert all(s["position_id"] != pid for s in stops)  # the stop was never armed
    finally:
        store.close()

    # 2. restart: `tapeflow reconcile`, a process of its own
    code, out, err = await python(
        [
            "-m",
            "tests.reconcile.cli_main",
            "reconcile",
            f"--config={config_file(tmp_path, market, state)}",
            f"--api-url={venue.url}",
            "--plain",
        ],
        env,
    )
    assert code == RECONCILE_EXIT[(point, market)], f"exit {code}\n{out}\n{err}"
    assert out.startswith(f"Reconciliation binance/{market}: ")

    # 3. the engine starts, and the same decision is delivered again
    store = EmbeddedStore(state)
    exchange = venue.adapter(market)
    try:
        engine = ExecutionEngine(settings(market), exchange, store)
        await engine.start()
        again = await engine.on_signal(sig)
        assert (again.accepted, again.refused_by) == (False, "existing_position")
        after = await reconcile(store, exchange)
        position = store.get_position(pid)
        stop_armed = engine.stops.get(pid)
        truth, books = exchange_holding(venue, key), local_holding(store, key)
    finally:
        await exchange.close()
        store.close()

    # converged: the books hold what the exchange holds, and nothing more was sent
    assert after.consistent, after.text()
    assert books == truth
    sent = [o.client_order_id for o in venue.state.orders]
    stop_cid = client_order_id(pid, "stop")
    # one order per decision, at most; the restarted engine put the open position's stop
    # on the exchange (the dead process never got to)
    assert sent == ([] if point == "before_send" else [cid, stop_cid])
    if point == "before_send":
        assert truth is None
        assert (position.status, position.close_reason) == (
            "closed",
            "entry rejected: never reached the exchange",
        )
        assert stop_armed is None
    else:
        assert truth is not None and truth[0] == "long" and truth[1] > 0
        assert position.status == "open" and position.quantity == truth[1]
        assert stop_armed is not None and stop_armed.distance_pct == TRAIL


@pytest.mark.parametrize("market", ["usdm", "spot"])
async def test_killed_process_leaves_its_position_protected_and_the_stop_fill_is_booked(
    market, venue, tmp_path
):
    """The process holding a position is killed (SIGKILL); the exchange still holds its
    resting stop, which fills while nothing runs; the restarted engine books that fill as
    the position's exit — no other exit is sent — and reconciliation finds nothing amiss."""
    key = SymbolKey("binance", market, "BTCUSDT")
    st = venue.state
    price = st.prices[(market, "BTCUSDT")]
    sig = decision(key, price, price - 300)
    pid, stop_cid = sig.signal_id, client_order_id(sig.signal_id, "stop")
    state = tmp_path / "state.sqlite3"
    env = {
        **os.environ,
        "BINANCE_API_KEY": st.api_key,
        "BINANCE_API_SECRET": st.secret,
    }
    env.pop("TAPEFLOW_CRASHPOINT", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.reconcile.crash_driver",
        f"--url={venue.url}",
        f"--symbol={key}",
        f"--state={state}",
        f"--entry={price}",
        f"--stop={price - 300}",
        "--hold",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=120)
        assert line, (await proc.stderr.read()).decode()
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # the dead process's position is protected: its stop rests on the exchange
    [held] = st.orders_with(stop_cid)
    assert (held.status, held.side) == ("NEW", "SELL")
    assert held.reduce_only if market == "usdm" else held.type == "STOP_LOSS_LIMIT"
    # the protective level: the signal's stop or the 0.5 % trail below the fill (at
    # `price`), whichever is tighter, up to the price tick
    tick = Decimal("0.1") if market == "usdm" else Decimal("0.01")
    level = max(price - 300, price * (1 - TRAIL / 100)).quantize(tick, rounding=ROUND_CEILING)
    assert held.stop_price == level
    # the market falls through it while nothing runs: the exchange fills it
    through = held.stop_price - 20
    st.set_price(market, "BTCUSDT", through)
    assert held.status in ("FINISHED", "FILLED") and exchange_holding(venue, key) is None

    # restart: the engine books the stop's fill as the exit
    store = EmbeddedStore(state)
    exchange = venue.adapter(market)
    try:
        engine = ExecutionEngine(settings(market), exchange, store)
        await engine.start()
        position = store.get_position(pid)
        after = await reconcile(store, exchange)
    finally:
        await exchange.close()
        store.close()
    assert position.status == "closed" and position.exit_price == through
    assert position.close_reason == f"resting stop {held.stop_price} filled at {through}"
    assert engine.book.get(pid) is None and engine.stops.get(pid) is None
    assert st.orders_with(client_order_id(pid, "exit")) == []  # no second exit
    assert len(st.orders_with(stop_cid)) == 1  # and no new stop
    assert after.consistent, after.text()
