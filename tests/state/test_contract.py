"""The one contract every position store honours, run against the embedded (SQLite) store
and the Firestore store on the real emulator (the ``store`` / ``open_store`` fixtures are
parametrised over both)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tapeflow.model.records import (
    ORDER_STATUSES,
    ORDER_TRANSITIONS,
    POSITION_STATUSES,
    POSITION_TRANSITIONS,
    InvalidTransitionError,
    Order,
    Position,
    RecordExistsError,
)
from tapeflow.state.store import PositionStore

T0 = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_position(position_id: str = "pos-1", **fields: Any) -> Position:
    base: dict[str, Any] = {
        "position_id": position_id,
        "symbol": "binance/usdm/BTCUSDT",
        "direction": "long",
        "status": "open",
        "quantity": Decimal("0.015"),
        "entry_price": Decimal("64123.40"),
        "stop_price": Decimal("63500.00"),
        "trailing_distance_pct": Decimal("0.75"),
        "entry_client_order_id": f"{position_id}-entry",
        "opened_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    base.update(fields)
    return Position(**base)


def make_order(client_order_id: str = "ord-1", **fields: Any) -> Order:
    base: dict[str, Any] = {
        "client_order_id": client_order_id,
        "symbol": "binance/usdm/BTCUSDT",
        "position_id": "pos-1",
        "purpose": "entry",
        "side": "buy",
        "order_type": "limit",
        "quantity": Decimal("0.015"),
        "price": Decimal("64123.40"),
        "status": "open",
        "exchange_order_id": "8389765521",
        "created_at": T0,
        "updated_at": T0,
    }
    base.update(fields)
    return Order(**base)


def race(*calls: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run ``calls`` in threads released together; ``("ok", result)`` or ``("err", exc)``."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, Any]] = [("pending", None)] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = ("ok", call())
        except Exception as exc:
            results[i] = ("err", exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


# -- positions -----------------------------------------------------------------------------


def test_put_get_position_round_trips_every_field(store: PositionStore) -> None:
    pos = make_position(
        status="closed",
        exit_client_order_id="pos-1-exit",
        exit_price=Decimal("64500.1"),
        realized_pnl=Decimal("-5.6553000"),
        fees=Decimal("0.00962"),
        close_reason="trailing stop",
        closed_at=T0 + timedelta(hours=2, microseconds=1),
        revision=7,
    )
    store.put_position(pos)
    got = store.get_position("pos-1")
    assert got == pos
    assert str(got.realized_pnl) == "-5.6553000"  # trailing zeros kept: exact, not float
    assert got.closed_at == datetime(2024, 3, 1, 14, 0, 0, 123457, tzinfo=UTC)
    assert type(got.closed_at) is datetime and got.closed_at.tzinfo is UTC


def test_get_unknown_position_is_none(store: PositionStore) -> None:
    assert store.get_position("nope") is None


def test_put_position_replaces(store: PositionStore) -> None:
    store.put_position(make_position(quantity=Decimal("1")))
    store.put_position(make_position(quantity=Decimal("2.5"), stop_price=None))
    got = store.get_position("pos-1")
    assert got.quantity == Decimal("2.5")
    assert got.stop_price is None


def test_create_position_refuses_existing_id(store: PositionStore) -> None:
    first = store.create_position(make_position(quantity=Decimal("1")))
    assert first.quantity == Decimal("1")
    with pytest.raises(RecordExistsError, match="pos-1"):
        store.create_position(make_position(quantity=Decimal("9")))
    assert store.get_position("pos-1").quantity == Decimal("1")


def test_returned_records_are_copies(store: PositionStore) -> None:
    pos = make_position()
    store.put_position(pos)
    got = store.get_position("pos-1")
    got.quantity = Decimal(5)
    pos.quantity = Decimal(6)
    assert store.get_position("pos-1").quantity == Decimal("0.015")


def test_list_positions_filters_and_orders(store: PositionStore) -> None:
    eth = "binance/usdm/ETHUSDT"
    rows = [
        make_position("p3", status="closed", created_at=T0 + timedelta(seconds=3)),
        make_position("p1", status="open", created_at=T0 + timedelta(seconds=1)),
        make_position("p2", status="pending", symbol=eth, created_at=T0 + timedelta(seconds=2)),
        make_position("p0", status="closing", symbol=eth, created_at=T0 + timedelta(seconds=2)),
    ]
    for p in rows:
        store.put_position(p)

    def ids(**kw: Any) -> list[str]:
        return [p.position_id for p in store.list_positions(**kw)]

    assert ids() == ["p1", "p0", "p2", "p3"]  # created_at, then id
    assert ids(status="open") == ["p1"]
    assert ids(status=["pending", "open", "closing"]) == ["p1", "p0", "p2"]
    assert ids(symbol=eth) == ["p0", "p2"]
    assert ids(symbol=eth, status="pending") == ["p2"]
    assert ids(symbol="binance/spot/BTCUSDT") == []
    assert ids(status="closed", symbol=eth) == []


def test_list_positions_rejects_unknown_status(store: PositionStore) -> None:
    with pytest.raises(ValueError, match="unknown status"):
        store.list_positions(status="opened")
    with pytest.raises(ValueError, match="empty"):
        store.list_positions(status=[])


_PAIRS = [(a, b) for a in POSITION_STATUSES for b in POSITION_STATUSES]


@pytest.mark.parametrize(("start", "to"), _PAIRS, ids=[f"{a}->{b}" for a, b in _PAIRS])
def test_position_transition_table(store: PositionStore, start: str, to: str) -> None:
    before = make_position(status=start, revision=3)
    store.put_position(before)
    if to in POSITION_TRANSITIONS[start]:
        after = store.transition("pos-1", to)
        assert after.status == to
        assert after.revision == 4
        assert after.updated_at > before.updated_at
        assert store.get_position("pos-1") == after
    else:
        with pytest.raises(InvalidTransitionError, match=f"'{start}' -> '{to}'"):
            store.transition("pos-1", to)
        assert store.get_position("pos-1") == before


def test_transition_lifecycle_applies_changes_and_stamps_times(store: PositionStore) -> None:
    store.create_position(make_position(status="pending", opened_at=None, quantity=Decimal(0)))
    opened = store.transition(
        "pos-1", "open", quantity=Decimal("0.015"), entry_price=Decimal("64123.40")
    )
    assert opened.opened_at is not None and opened.opened_at >= opened.created_at
    store.transition("pos-1", "open", stop_price=Decimal("63999.9"))  # stop moved
    store.transition("pos-1", "closing", expect="open", exit_client_order_id="pos-1-exit")
    closed = store.transition(
        "pos-1",
        "closed",
        exit_price=Decimal("64500.10"),
        realized_pnl=Decimal("5.65050"),
        fees=Decimal("0.0193"),
        close_reason="target",
    )
    assert closed.revision == 4
    assert closed.closed_at is not None and closed.closed_at >= closed.opened_at
    assert closed.created_at == T0
    got = store.get_position("pos-1")
    assert got == closed
    assert (got.stop_price, got.exit_client_order_id) == (Decimal("63999.9"), "pos-1-exit")
    assert str(got.realized_pnl) == "5.65050"


def test_transition_expect_guards_against_a_stale_view(store: PositionStore) -> None:
    store.put_position(make_position(status="closing"))
    with pytest.raises(InvalidTransitionError, match=r"expected status \['open'\]"):
        store.transition("pos-1", "closing", expect="open")
    assert store.transition("pos-1", "closed", expect=["open", "closing"]).status == "closed"


def test_transition_errors_leave_the_record_unchanged(store: PositionStore) -> None:
    before = make_position()
    store.put_position(before)
    with pytest.raises(KeyError):
        store.transition("missing", "closed")
    with pytest.raises(ValueError, match="store maintains"):
        store.transition("pos-1", "open", revision=99)
    with pytest.raises(ValueError, match="store maintains"):
        store.transition("pos-1", "open", position_id="other")
    with pytest.raises(ValidationError, match="quantity"):
        store.transition("pos-1", "open", quantity=Decimal("-1"))
    with pytest.raises(ValidationError, match="float"):
        store.transition("pos-1", "open", quantity=0.1)
    with pytest.raises(ValidationError, match="unknown_field"):
        store.transition("pos-1", "open", unknown_field=1)
    assert store.get_position("pos-1") == before


def test_ids_follow_one_rule_in_every_store(store: PositionStore) -> None:
    for bad in ("a/b", "..", "__x__", ""):
        with pytest.raises(ValueError):
            store.get_position(bad)
        with pytest.raises(ValueError):
            store.get_order(bad)
        with pytest.raises(ValueError):
            store.put_state(bad, {})


# -- concurrency ---------------------------------------------------------------------------


def test_racing_closers_on_one_instance_exactly_one_wins(store: PositionStore) -> None:
    store.put_position(make_position(status="closing"))
    results = race(
        lambda: store.transition("pos-1", "closed", close_reason="A"),
        lambda: store.transition("pos-1", "closed", close_reason="B"),
    )
    winners = [r for kind, r in results if kind == "ok"]
    losers = [r for kind, r in results if kind == "err"]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], InvalidTransitionError)
    stored = store.get_position("pos-1")
    assert stored.close_reason == winners[0].close_reason
    assert stored.revision == 1


def test_racing_instances_exactly_one_wins_and_no_update_is_lost(open_store) -> None:
    """Two store instances (two SQLite connections / two firebase apps, i.e. what two
    processes would have) race: the in-process serialisation does not help here, only the
    store's transaction does."""
    a, b = open_store(), open_store()
    a.put_position(make_position(status="open"))
    results = race(
        lambda: a.transition("pos-1", "closing", expect="open", exit_client_order_id="A"),
        lambda: b.transition("pos-1", "closing", expect="open", exit_client_order_id="B"),
    )
    kinds = sorted(kind for kind, _ in results)
    assert kinds == ["err", "ok"]
    loser = next(r for kind, r in results if kind == "err")
    assert isinstance(loser, InvalidTransitionError)
    assert "found 'closing'" in str(loser)
    winner = next(r for kind, r in results if kind == "ok")
    assert a.get_position("pos-1").exit_client_order_id == winner.exit_client_order_id

    # Lost-update check: every checked write bumps revision inside its transaction.
    results = race(
        lambda: a.transition("pos-1", "closing", stop_price=Decimal("1")),
        lambda: b.transition("pos-1", "closing", stop_price=Decimal("2")),
    )
    assert [kind for kind, _ in results] == ["ok", "ok"]
    assert b.get_position("pos-1").revision == 3


def test_racing_fill_and_cancel_exactly_one_wins(open_store) -> None:
    a, b = open_store(), open_store()
    a.put_order(make_order(status="open"))
    results = race(
        lambda: a.update_order("ord-1", status="filled", filled=Decimal("0.015")),
        lambda: b.update_order("ord-1", status="canceled"),
    )
    assert sorted(kind for kind, _ in results) == ["err", "ok"]
    winner = next(r for kind, r in results if kind == "ok")
    assert a.get_order("ord-1").status == winner.status
    assert a.get_order("ord-1").revision == 1


# -- orders --------------------------------------------------------------------------------


def test_put_get_order_round_trips_every_field(store: PositionStore) -> None:
    order = make_order(
        purpose="stop",
        side="sell",
        order_type="stop_market",
        price=None,
        stop_price=Decimal("63500.00"),
        status="partially_filled",
        filled=Decimal("0.007"),
        average_price=Decimal("63499.95"),
        fee=Decimal("0.17779986"),
        error=None,
        revision=2,
    )
    store.put_order(order)
    assert store.get_order("ord-1") == order
    assert store.get_order("unknown") is None


def test_create_order_refuses_a_second_send_of_the_same_id(store: PositionStore) -> None:
    store.create_order(make_order(status="new"))
    with pytest.raises(RecordExistsError, match="ord-1"):
        store.create_order(make_order(status="new", quantity=Decimal(2)))
    assert store.get_order("ord-1").quantity == Decimal("0.015")


def test_list_orders_filters_and_orders(store: PositionStore) -> None:
    rows = [
        make_order("o3", status="filled", created_at=T0 + timedelta(seconds=3)),
        make_order("o1", status="open", position_id="p9", created_at=T0 + timedelta(seconds=1)),
        make_order("o2", status="new", symbol="binance/spot/ETHUSDT", position_id=None),
        make_order("o0", status="canceled", created_at=T0 + timedelta(seconds=1)),
    ]
    for o in rows:
        store.put_order(o)

    def ids(**kw: Any) -> list[str]:
        return [o.client_order_id for o in store.list_orders(**kw)]

    assert ids() == ["o2", "o0", "o1", "o3"]
    assert ids(status=["new", "sent", "open", "partially_filled"]) == ["o2", "o1"]
    assert ids(position_id="p9") == ["o1"]
    assert ids(position_id="pos-1") == ["o0", "o3"]
    assert ids(symbol="binance/spot/ETHUSDT") == ["o2"]
    assert ids(symbol="binance/usdm/BTCUSDT", status="filled") == ["o3"]


_ORDER_PAIRS = [(a, b) for a in ORDER_STATUSES for b in ORDER_STATUSES]


@pytest.mark.parametrize(("start", "to"), _ORDER_PAIRS, ids=[f"{a}->{b}" for a, b in _ORDER_PAIRS])
def test_order_status_table(store: PositionStore, start: str, to: str) -> None:
    before = make_order(status=start)
    store.put_order(before)
    if to in ORDER_TRANSITIONS[start]:
        after = store.update_order("ord-1", status=to, exchange_order_id="x-2")
        assert (after.status, after.revision, after.exchange_order_id) == (to, 1, "x-2")
        assert store.get_order("ord-1") == after
    else:
        with pytest.raises(InvalidTransitionError, match=f"'{start}' -> '{to}'"):
            store.update_order("ord-1", status=to)
        assert store.get_order("ord-1") == before


def test_update_order_errors(store: PositionStore) -> None:
    store.put_order(make_order(status="sent"))
    with pytest.raises(KeyError):
        store.update_order("missing", status="open")
    with pytest.raises(InvalidTransitionError, match="expected status"):
        store.update_order("ord-1", expect="new", status="open")
    with pytest.raises(ValueError, match="store maintains"):
        store.update_order("ord-1", client_order_id="other")
    with pytest.raises(ValidationError):
        store.update_order("ord-1", filled=Decimal("-0.1"))
    after = store.update_order("ord-1", expect="sent", filled=Decimal("0.001"))
    assert (after.status, after.filled, after.revision) == ("sent", Decimal("0.001"), 1)


# -- engine state --------------------------------------------------------------------------


def test_engine_state_round_trip(store: PositionStore) -> None:
    value = {
        "equity": Decimal("10000.00000001"),
        "day_start": datetime(2024, 3, 1, tzinfo=UTC),
        "breaker": {"open": False, "reason": None, "trips": 0, "loss_pct": 1.25},
        "symbols": ["binance/usdm/BTCUSDT", "binance/spot/ETHUSDT"],
        "last_ids": (4221190, 4221191),
        "nested": [{"q": Decimal("-0.0"), "at": T0}],
        "empty": {},
    }
    store.put_state("risk", value)
    got = store.get_state("risk")
    expected = dict(value, last_ids=[4221190, 4221191])
    assert got == expected
    assert str(got["equity"]) == "10000.00000001"
    assert str(got["nested"][0]["q"]) == "-0.0"
    assert got["nested"][0]["at"] == T0 and type(got["nested"][0]["at"]) is datetime
    assert store.get_state("other") is None
    store.put_state("risk", {"equity": Decimal("9990.5")})  # replaces, never merges
    assert store.get_state("risk") == {"equity": Decimal("9990.5")}


def test_engine_state_refuses_what_it_cannot_round_trip(store: PositionStore) -> None:
    with pytest.raises(TypeError, match=r"value\.s"):
        store.put_state("x", {"s": {1, 2}})
    with pytest.raises(ValueError, match="naive"):
        store.put_state("x", {"t": datetime(2024, 1, 1)})
    with pytest.raises(ValueError, match="non-finite"):
        store.put_state("x", {"f": float("nan")})
    with pytest.raises(ValueError, match="key"):
        store.put_state("x", {"$decimal": "1"})
    with pytest.raises(TypeError, match="dict"):
        store.put_state("x", [1, 2])  # type: ignore[arg-type]
    assert store.get_state("x") is None


# -- exactness and durability --------------------------------------------------------------

EXACT = [
    "0.00000001",
    "0.10000000",
    "1E-8",
    "1E+3",
    "123456789012345678.123456789012",
    "64123.400000000000000000001",
    "0",
    "0.0",
]


def test_decimals_are_stored_exactly(store: PositionStore) -> None:
    for i, text in enumerate(EXACT):
        store.put_position(
            make_position(f"p{i}", quantity=Decimal(text), realized_pnl=-Decimal(text))
        )
        store.put_order(make_order(f"o{i}", fee=Decimal(text), filled=Decimal(text)))
    store.put_state("exact", {"values": [Decimal(t) for t in EXACT]})
    for i, text in enumerate(EXACT):
        exact = Decimal(text).as_tuple()  # sign, every digit and the exponent
        p, o = store.get_position(f"p{i}"), store.get_order(f"o{i}")
        assert p.quantity.as_tuple() == exact
        assert o.fee.as_tuple() == exact and o.filled.as_tuple() == exact
        assert p.realized_pnl.as_tuple() == (-Decimal(text)).as_tuple()
    got = store.get_state("exact")["values"]
    assert [v.as_tuple() for v in got] == [Decimal(t).as_tuple() for t in EXACT]


def test_everything_persists_across_reopen(open_store) -> None:
    first = open_store()
    first.create_position(make_position(status="pending", opened_at=None))
    first.transition("pos-1", "open", quantity=Decimal("0.020"))
    first.create_order(make_order(status="new"))
    first.update_order("ord-1", status="filled", filled=Decimal("0.020"))
    first.put_state("engine", {"started": T0, "equity": Decimal("1.50")})
    pos, order = first.get_position("pos-1"), first.get_order("ord-1")
    first.close()
    first.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        first.get_position("pos-1")

    second = open_store()
    assert second.get_position("pos-1") == pos
    assert second.get_order("ord-1") == order
    assert second.get_state("engine") == {"started": T0, "equity": Decimal("1.50")}
    assert [p.position_id for p in second.list_positions(status="open")] == ["pos-1"]
