"""A SIGKILLed ``tapeflow run`` (live mode against the local Binance server, a separate
process) leaves its position protected by the stop resting on the exchange; the stop
fills while nothing runs; the restarted run books that fill as the position's one exit,
reports and mails it, and then runs on until it is stopped."""

from __future__ import annotations

import os
import signal
from decimal import Decimal

import pytest

from tests.execution.support import real_ticks
from tests.reconcile.records import position
from tests.reconcile.run_process import (
    REPLAY,
    SPOT_REPLAY,
    env_with_keys,
    local,
    run_args,
    stored,
    tapeflow,
    wait_for,
    wait_ready,
    write_config,
)
from tests.servers.binance_trading import COMMISSION_STEP, SPOT_FEE, USDM_FEE

pytestmark = pytest.mark.slow

PID = "b1b1b1b1"
QTY = Decimal("0.010")
#: Per market: the replayed recording (file, day), the price tick, the resting stop's
#: order type and whether it is reduce-only (spot has no reduce-only orders).
MARKETS = {
    "usdm": (REPLAY["BTCUSDT"], "20240718", Decimal("0.1"), "STOP_MARKET", True),
    "spot": (SPOT_REPLAY["BTCUSDT"], "20240809", Decimal("0.01"), "STOP_LOSS_LIMIT", False),
}


def reconciliation_mails(mail_server) -> list[dict]:
    return [r.json for r in mail_server.requests if "Reconciliation" in r.json.get("subject", "")]


def resting(venue, market: str) -> list:
    """Every stop order the server was sent for BTCUSDT."""
    return [
        o
        for o in venue.state.orders
        if (o.market, o.symbol) == (market, "BTCUSDT") and o.stop_price
    ]


def held_on_exchange(venue, market: str) -> Decimal:
    """The exchange's BTC holding: the USD-M net position, or the spot BTC balance."""
    st = venue.state
    if market == "usdm":
        return st.positions["BTCUSDT"][0] if "BTCUSDT" in st.positions else Decimal(0)
    return st.spot_balances["BTC"]


@pytest.mark.parametrize("market", ["usdm", "spot"])
def test_killed_run_leaves_the_position_protected_and_the_restart_books_the_stop_fill(
    market, tmp_path, threaded_venue, mail_server
):
    """A long held locally and on the exchange; the run puts its reduce-only stop on the
    exchange at the position's stop; SIGKILL; the stop rests on; the price falls through it
    while nothing runs; the restart books the fill (price, P&L by hand) once, sends no other
    exit, reports and mails it, and stops cleanly on SIGTERM."""
    venue, st = threaded_venue, threaded_venue.state
    replay, day, tick, stop_type, reduce_only = MARKETS[market]
    entry = real_ticks(market, "BTCUSDT", day)[0].price  # the replay's first trade
    # the position's stop 3 % below the entry; its 20 % trail stays below that, so the
    # protective level (and the resting stop) is the stop itself while the replay runs
    stop = (entry * Decimal("0.97")).quantize(tick)
    st.set_price(market, "BTCUSDT", entry)
    if market == "usdm":
        st.positions["BTCUSDT"] = (QTY, entry)
    else:
        st.spot_balances["BTC"] = QTY
    local(tmp_path, position(PID, f"binance/{market}/BTCUSDT", quantity=str(QTY),
                             entry=str(entry), stop_price=stop,
                             trailing_distance_pct=Decimal(20)))  # fmt: skip
    config = write_config(tmp_path, mail_host=mail_server.host, market=market)
    env = env_with_keys(st)
    # speed 1: the replay outlasts the test; the runs end by SIGKILL and SIGTERM
    args = run_args(config, venue.url, replay, extra=("--speed", "1"), market=market)

    # 1. the run places the position's resting stop (startup reconciliation: stop_missing)
    proc = tapeflow(*args, env=env, new_session=True)
    try:
        first_out = "".join(wait_ready(proc))
        wait_for(lambda: any(o.status == "NEW" for o in resting(venue, market)), "the resting stop")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # 2. killed: nothing runs from here on
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (first_out + rest)[-4000:]
    assert f"1. stop_missing  {PID}" in first_out
    assert f"placed a reduce-only stop at {stop}" in first_out

    # the position is protected with nothing running: its stop rests on the exchange
    [held] = resting(venue, market)
    assert (held.client_order_id, held.status, held.type, held.side) == (
        f"tf-{PID}-sl",
        "NEW",
        stop_type,
        "SELL",
    )
    assert (held.reduce_only, held.quantity) == (reduce_only, QTY)
    [pos], orders = stored(tmp_path)
    assert held.stop_price == pos.stop_price == stop
    assert {o.client_order_id: o.status for o in orders} == {f"tf-{PID}-sl": "open"}
    assert pos.status == "open" and held_on_exchange(venue, market) == QTY

    # 3. the market falls through the stop while nothing runs: the exchange fills it
    # (spot: above the stop-loss-limit's limit, 0.5 % below the stop)
    through = stop - Decimal("25.0")
    st.set_price(market, "BTCUSDT", through)
    assert held.status in ("FINISHED", "FILLED") and held.executed == QTY
    assert held_on_exchange(venue, market) == 0
    mails_before = len(reconciliation_mails(mail_server))

    # 4. the restart books the stop's fill as the exit, and runs on
    proc = tapeflow(*args, env=env, new_session=True)
    try:
        second_out = "".join(wait_ready(proc))
        wait_for(lambda: len(reconciliation_mails(mail_server)) > mails_before, "the report mail")
        # it runs on: a status line after ready (every second), then it is stopped
        running = next((line for line in proc.stdout if line.startswith("status ")), None)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        rest, _ = proc.communicate(timeout=300)
    out = second_out + rest
    assert proc.returncode == 0, out[-4000:]
    assert running is not None, out[-4000:]
    assert "execution (live)\n" in out and "Traceback" not in out

    [pos], orders = stored(tmp_path)
    assert (pos.status, pos.exit_price) == ("closed", through)
    assert pos.close_reason == f"resting stop {stop} filled at {through}"
    assert pos.exit_client_order_id == f"tf-{PID}-sl"
    # the stop's commission, from its trades (the order lookup carries none): USD-M 0.04 %,
    # spot 0.1 % of the notional in USDT, charged to 8 decimals
    rate = USDM_FEE if market == "usdm" else SPOT_FEE
    fee = (through * QTY * rate).quantize(COMMISSION_STEP)
    assert pos.fees == held.commission == fee and fee > 0
    # P&L by hand from the stop's fill: (exit - entry) x quantity, less its fee
    assert pos.realized_pnl == (through - entry) * QTY - fee
    assert pos.realized_pnl < 0 and pos.quantity == QTY
    assert {o.client_order_id: o.status for o in orders} == {f"tf-{PID}-sl": "filled"}
    # exactly one exit: no close order, no second stop sent to the exchange
    assert [o.client_order_id for o in st.orders] == [f"tf-{PID}-sl"]
    # the report says so, and is mailed
    report = second_out[second_out.index(f"Reconciliation binance/{market}: ") :]
    assert f"order_settled  tf-{PID}-sl" in report, report
    assert "stop_missing" not in report
    mail = reconciliation_mails(mail_server)[-1]
    assert f"order_settled  tf-{PID}-sl" in mail["content"][0]["value"]
    # the books agree with the exchange: nothing open on either side
    assert held_on_exchange(venue, market) == 0
    assert [o for o in st.orders if o.status in ("NEW", "PARTIALLY_FILLED")] == []
    # and `tapeflow reconcile` afterwards finds nothing to do
    check = tapeflow("reconcile", "--config", str(config), "--api-url", venue.url, "--plain",
                     env=env)  # fmt: skip
    text, _ = check.communicate(timeout=120)
    assert check.returncode == 0, text
    assert f"Reconciliation binance/{market}: consistent, no discrepancies" in text
