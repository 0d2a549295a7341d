"""Startup reconciliation inside ``tapeflow run`` (live mode, a separate process) against
the local Binance server: every kind of divergence converges, is printed and mailed, and
the run then trades on the reconciled books (its trailing stops close positions on the
replayed trades)."""

from __future__ import annotations

import socket
from decimal import Decimal

import pytest

from tapeflow.model.records import Order
from tests.reconcile.records import position
from tests.reconcile.run_process import (
    REPLAY,
    env_with_keys,
    local,
    run_args,
    stored,
    tapeflow,
    write_config,
)
from tests.servers.binance_trading import ServerOrder
from tests.servers.sendgrid import MailServer

pytestmark = pytest.mark.slow

BTC, ETH = "binance/usdm/BTCUSDT", "binance/usdm/ETHUSDT"


@pytest.fixture
def venue(priced_venue):
    """The local exchange priced at the replay's first trades (tests/reconcile/conftest.py)."""
    return priced_venue


def reconciliation_mails(mail_server: MailServer) -> list[dict]:
    return [r.json for r in mail_server.requests if "Reconciliation" in r.json.get("subject", "")]


def exits_on_exchange(venue, symbol: str) -> list[ServerOrder]:
    return [o for o in venue.state.orders if o.symbol == symbol and o.reduce_only and not o.algo]


def stops_on_exchange(venue, symbol: str) -> list:
    return [o for o in venue.state.orders if o.symbol == symbol and o.algo]


def test_unknown_position_on_the_exchange_is_imported_then_traded(
    tmp_path, venue, mail_server, first_prices
):
    """The exchange holds a long the store does not know (a crash, a manual trade): the
    run imports it with the symbol's trailing stop instead of failing, says so, mails it,
    and its trailing stop then closes it on the replayed trades."""
    entry = (first_prices["BTCUSDT"] * Decimal("1.02")).quantize(Decimal("0.1"))
    venue.state.positions["BTCUSDT"] = (Decimal("0.010"), entry)
    config = write_config(tmp_path, mail_host=mail_server.host)
    proc = tapeflow(*run_args(config, venue.url, REPLAY["BTCUSDT"]), env=env_with_keys(venue.state))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]

    assert "Reconciliation binance/usdm: 2 discrepancies resolved" in out
    assert "position_missing_locally  binance/usdm/BTCUSDT" in out
    assert f"exchange  long 0.01 @ {entry}" in out
    assert "2. stop_missing  rc-binance-usdm-BTCUSDT-" in out  # the import is protected
    assert mail_server.wait_for(1)
    [mail] = reconciliation_mails(mail_server)
    assert mail["subject"] == "[P2] run: Reconciliation: 2 discrepancies resolved"
    assert "position_missing_locally  binance/usdm/BTCUSDT" in mail["content"][0]["value"]
    assert "stop_missing" in mail["content"][0]["value"]
    # its stop rested on the exchange until the run closed it (then it was cancelled)
    [stop] = stops_on_exchange(venue, "BTCUSDT")
    assert (stop.type, stop.side, stop.quantity, stop.status) == (
        "STOP_MARKET",
        "SELL",
        Decimal("0.010"),
        "CANCELED",
    )

    positions, _ = stored(tmp_path)
    [imported] = [p for p in positions if p.position_id.startswith("rc-binance-usdm-BTCUSDT-")]
    assert imported.trailing_distance_pct == Decimal("0.5")  # the symbol's default
    # the run then traded it: the first replayed trade is below its 0.5 % stop
    assert imported.status == "closed", imported
    assert imported.close_reason.startswith("trailing stop ")
    [exit_order] = exits_on_exchange(venue, "BTCUSDT")
    assert (exit_order.side, exit_order.type, exit_order.status) == ("SELL", "MARKET", "FILLED")
    assert exit_order.quantity == Decimal("0.010")
    assert "BTCUSDT" not in venue.state.positions
    assert imported.exit_price == first_prices["BTCUSDT"]


def test_closed_meanwhile_unknown_order_and_missing_order_converge_then_trade(
    tmp_path, venue, mail_server, first_prices
):
    """Three divergences in one start: a BTCUSDT long closed on the exchange meanwhile, a
    local BTCUSDT order the exchange does not have, an ETHUSDT order placed by hand. Each
    is resolved and reported (one mail); the ETHUSDT long that matches the exchange is then
    traded as usual (its trailing stop closes it on the replayed trades)."""
    eth_entry = (first_prices["ETHUSDT"] * Decimal("1.02")).quantize(Decimal("0.01"))
    venue.state.positions["ETHUSDT"] = (Decimal("0.100"), eth_entry)
    st = venue.state
    manual = ServerOrder(
        market="usdm", symbol="ETHUSDT", order_id=st.next_id(), client_order_id="manual-eth-1",
        side="BUY", type="LIMIT", quantity=Decimal("0.050"), price=Decimal("3000.00"),
        stop_price=Decimal(0), time_in_force="GTC", reduce_only=False, algo=False,
        time_ms=st.clock_ms(), update_ms=st.clock_ms(),
    )  # fmt: skip
    st.orders.append(manual)
    local(
        tmp_path,
        position("b1b1b1b1", BTC, quantity="0.010", entry="64000.0"),
        position(
            "e3e3e3e3",
            ETH,
            quantity="0.100",
            entry=str(eth_entry),
            trailing_distance_pct=Decimal("0.5"),
        ),
        Order(
            client_order_id="tf-c2c2c2c2-ot",
            symbol=BTC,
            purpose="other",
            side="buy",
            order_type="limit",
            quantity=Decimal("0.005"),
            price=Decimal("50000.0"),
            status="open",
            exchange_order_id="999",
        ),
    )
    config = write_config(tmp_path, mail_host=mail_server.host)
    replays = (REPLAY["BTCUSDT"], REPLAY["ETHUSDT"])
    proc = tapeflow(*run_args(config, venue.url, *replays), env=env_with_keys(venue.state))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]

    report = out[out.index("Reconciliation binance/usdm: 4 discrepancies resolved") :]
    for line in (
        "1. unknown_order  manual-eth-1",
        "   action    adopted: recorded as the exchange has it, left working (purpose 'other')",
        "2. order_missing_on_exchange  tf-c2c2c2c2-ot",
        "   action    recorded as canceled (not found on the exchange)",
        "3. position_missing_on_exchange  binance/usdm/BTCUSDT",
        "   action    closed locally: missing on exchange",
        "4. stop_missing  e3e3e3e3",
    ):
        assert line + "\n" in report, line
    assert mail_server.wait_for(1)
    [mail] = reconciliation_mails(mail_server)
    assert mail["subject"] == "[P2] run: Reconciliation: 4 discrepancies resolved"
    body = mail["content"][0]["value"]
    assert "1. unknown_order  manual-eth-1" in body and "3. position_missing_on_exchange" in body

    positions, orders = stored(tmp_path)
    by_id = {p.position_id: p for p in positions}
    assert (by_id["b1b1b1b1"].status, by_id["b1b1b1b1"].close_reason) == (
        "closed",
        "missing on exchange",
    )
    status = {o.client_order_id: (o.purpose, o.status) for o in orders}
    assert status["tf-c2c2c2c2-ot"] == ("other", "canceled")
    assert status["manual-eth-1"] == ("other", "open")
    assert manual.status == "NEW"  # adopted, left working on the exchange
    # the run then traded: the ETHUSDT long was closed by its trailing stop
    eth = by_id["e3e3e3e3"]
    assert eth.status == "closed" and eth.close_reason.startswith("trailing stop ")
    [exit_order] = exits_on_exchange(venue, "ETHUSDT")
    assert (exit_order.side, exit_order.quantity, exit_order.status) == (
        "SELL",
        Decimal("0.100"),
        "FILLED",
    )
    assert "ETHUSDT" not in venue.state.positions
    assert status[exit_order.client_order_id] == ("exit", "filled")


def test_unreachable_exchange_stops_the_run_before_anything_trades(tmp_path, venue):
    """Reconciliation cannot compare anything: the run refuses to trade, in one message
    (exit 2, no traceback), and the local books are left as they were."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{s.getsockname()[1]}"
    local(tmp_path, position("b1b1b1b1", BTC, quantity="0.010", entry="64000.0"))
    config = write_config(tmp_path)
    proc = tapeflow(
        *run_args(config, closed_url, REPLAY["BTCUSDT"]), env=env_with_keys(venue.state)
    )
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 2, out[-4000:]
    assert "not trading: reconciliation with binance/usdm is incomplete; refusing to trade" in out
    assert "markets could not be loaded" in out and "Traceback" not in out
    assert venue.state.secret not in out
    [pos], orders = stored(tmp_path)
    assert (pos.status, orders) == ("open", [])
