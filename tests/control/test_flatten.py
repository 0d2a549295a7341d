"""``tapeflow run --flatten-on-exit`` (live mode against the local Binance server, a
separate process): at the end of the run no position and no open order is left, on the
exchange or in the books."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tapeflow.state.embedded import EmbeddedStore
from tests.reconcile.run_process import REPLAY, env_with_keys, run_args, tapeflow, write_config
from tests.servers.binance_trading import ServerOrder

pytestmark = pytest.mark.slow


def test_flatten_on_exit_leaves_nothing_open(tmp_path, venue, books):
    st = venue.state
    resting = ServerOrder(
        market="usdm", symbol="ETHUSDT", order_id=st.next_id(), client_order_id="manual-eth-2",
        side="BUY", type="LIMIT", quantity=Decimal("0.050"), price=Decimal("3000.00"),
        stop_price=Decimal(0), time_in_force="GTC", reduce_only=False, algo=False,
        time_ms=st.clock_ms(), update_ms=st.clock_ms(),
    )  # fmt: skip
    st.orders.append(resting)
    config = write_config(tmp_path)  # the seed's budget: 5 s an attempt, 3 attempts
    args = run_args(config, venue.url, REPLAY["BTCUSDT"], extra=("--flatten-on-exit",))
    proc = tapeflow(*args, env=env_with_keys(st))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]

    assert (
        "flatten binance/usdm: flat after 1 attempt(s); 1 order(s) cancelled, "
        "2 position(s) closed" in out
    )
    # the exchange: flat, nothing working
    assert st.positions == {}
    assert [o.client_order_id for o in st.orders if o.status in ("NEW", "PARTIALLY_FILLED")] == []
    assert resting.status == "CANCELED"
    exits = sorted(
        (o.client_order_id, o.side, o.status) for o in st.orders if o.reduce_only and not o.algo
    )
    assert exits == [("tf-b1b1b1b1-ex", "SELL", "FILLED"), ("tf-e3e3e3e3-ex", "SELL", "FILLED")]
    # the resting stops (placed at startup) were lifted by the closes, not left behind
    # (a ratchet move under way when flattening starts may have replaced one first: -sl1)
    stops = {(o.client_order_id, o.status) for o in st.orders if o.algo}
    assert {("tf-b1b1b1b1-sl", "CANCELED"), ("tf-e3e3e3e3-sl", "CANCELED")} <= stops
    assert {status for _, status in stops} == {"CANCELED"}
    # the books: every position closed, no open order
    with EmbeddedStore(tmp_path / "state.sqlite3") as store:
        positions, orders = store.list_positions(), store.list_orders()
    assert {(p.position_id, p.status, p.close_reason) for p in positions} == {
        ("b1b1b1b1", "closed", "flatten on exit"),
        ("e3e3e3e3", "closed", "flatten on exit"),
    }
    booked = {o.client_order_id: o.status for o in orders}
    assert {k: v for k, v in booked.items() if "-sl" not in k} == {
        "manual-eth-2": "canceled",
        "tf-b1b1b1b1-ex": "filled",
        "tf-e3e3e3e3-ex": "filled",
    }
    # the resting stops, lifted by the closes
    assert {k: v for k, v in booked.items() if "-sl" in k} == {cid: "canceled" for cid, _ in stops}
