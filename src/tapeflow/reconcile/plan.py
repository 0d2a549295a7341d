"""What reconciliation must fix: pure comparisons of local records with the exchange's.

No I/O here: :mod:`tapeflow.reconcile.reconciler` gathers the records (local positions and
orders from the store, the exchange's positions, balances and open orders) and applies the
fixes these functions return.

Positions are compared per **slot**: one futures symbol (``binance/usdm/BTCUSDT``, whose
exchange position is net, one-way mode), or one spot base asset (``binance/spot:BTC``,
whose balance is shared by every symbol with that base). Only *held* local positions
(``open``, ``closing``) count; a ``pending`` one holds nothing yet. Per slot, with ``L`` the
held local positions and ``H`` the exchange's holding:

===============================  ======================  =================================
case                             kind                    fix
===============================  ======================  =================================
no ``H``, some ``L``             ``position_missing_on_  close every ``L`` locally
                                 exchange``              ("missing on exchange")
``H``, no ``L``                  ``position_missing_     import ``H`` as a new open
                                 locally``               position
``H`` and ``L`` same direction,  ``quantity_mismatch``   adopt ``H``'s quantity (the
quantities differ                                        newest position takes the
                                                         difference; one reduced to zero
                                                         is closed)
``H`` opposite to some ``L``     ``direction_mismatch``  close every ``L``, import ``H``
===============================  ======================  =================================

Orders: an order open on the exchange whose client order id the store does not know is
``unknown_order``; one the store has as finished (filled/canceled/rejected) is
``stale_order`` — both resolved by :attr:`ReconcilePolicy.unknown_orders`. A local
``open``/``partially_filled`` order absent from the exchange's open orders is
``order_missing_on_exchange`` (looked up once more, then recorded as canceled if the
exchange has no such order).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from tapeflow.model.records import TERMINAL_ORDER_STATUSES, Order, Position

ZERO = Decimal(0)

#: Local position statuses that hold exposure on the exchange.
HELD_STATUSES: frozenset[str] = frozenset({"open", "closing"})

PositionKind = Literal[
    "position_missing_on_exchange",
    "position_missing_locally",
    "quantity_mismatch",
    "direction_mismatch",
]
OrderKind = Literal["unknown_order", "stale_order", "order_missing_on_exchange"]


class ReconcilePolicy(BaseModel):
    """How reconciliation resolves what it cannot simply adopt.

    Attributes:
        unknown_orders: for an order open on the exchange that the store does not know (or
            has as finished): ``adopt`` records the exchange's order (purpose ``other``)
            and leaves it working; ``cancel`` cancels it on the exchange and records the
            cancellation.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    unknown_orders: Literal["adopt", "cancel"] = "adopt"


@dataclass(frozen=True, slots=True)
class Holding:
    """What the exchange holds in one slot.

    Attributes:
        key: the symbol (``"exchange/market/SYMBOL"``) a position imported for it gets.
        direction: ``long`` or ``short`` (spot: always ``long``).
        quantity: absolute base quantity (contracts on contract markets), > 0.
        entry_price: the exchange's average entry price (quote per base), None where the
            exchange has none (spot balances).
    """

    key: str
    direction: Literal["long", "short"]
    quantity: Decimal
    entry_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PositionFix:
    """One position discrepancy in one slot and the writes that resolve it.

    Attributes:
        kind: see the module docstring.
        slot: the slot compared (a futures symbol or ``exchange/market:BASE``).
        local: the held local positions before (oldest first).
        holding: the exchange's holding, None when it has none.
        close: ``(position id, close reason)`` to close locally.
        resize: ``(position id, new quantity)`` to adopt.
        entry_price: the exchange's entry price, adopted with a resize of a slot's only
            position (None: keep the local one).
        imported: the holding to import as a new open position.
    """

    kind: PositionKind
    slot: str
    local: tuple[Position, ...]
    holding: Holding | None
    close: tuple[tuple[str, str], ...] = ()
    resize: tuple[tuple[str, Decimal], ...] = ()
    entry_price: Decimal | None = None
    imported: Holding | None = None


class RemoteOrder(Protocol):
    """The fields of an exchange order (:class:`tapeflow.model.orders.OrderUpdate`)
    the order comparison reads."""

    @property
    def client_order_id(self) -> str: ...
    @property
    def status(self) -> str: ...


@dataclass(frozen=True, slots=True)
class OrderFix:
    """One order discrepancy.

    Attributes:
        kind: ``unknown_order``, ``stale_order`` or ``order_missing_on_exchange``.
        client_order_id: the order.
        local: the stored order (None for an unknown one).
        remote: the exchange's open order (None when it is missing there).
    """

    kind: OrderKind
    client_order_id: str
    local: Order | None
    remote: RemoteOrder | None = field(default=None, compare=False)


def signed(direction: str, quantity: Decimal) -> Decimal:
    """``quantity`` with the sign of ``direction`` (short negative)."""
    return quantity if direction == "long" else -quantity


def plan_positions(
    local: Sequence[Position],
    holdings: Mapping[str, Holding],
    slot_of: Callable[[Position], str],
    *,
    skip: Collection[str] = (),
) -> list[PositionFix]:
    """The position fixes that make the local books equal the exchange's holdings.

    Args:
        local: local positions of the venue (any status; only ``open``/``closing`` count),
            oldest first.
        holdings: the exchange's holding per slot (slots it holds nothing in are absent).
        slot_of: the slot of a local position.
        skip: slots not to compare (their orders are unresolved, so the local side is not
            known yet).

    Returns:
        One fix per slot that differs, in slot order.
    """
    held: dict[str, list[Position]] = {}
    for pos in local:
        if pos.status in HELD_STATUSES:
            held.setdefault(slot_of(pos), []).append(pos)
    fixes = []
    for slot in sorted(set(held) | set(holdings)):
        if slot in skip:
            continue
        mine = tuple(held.get(slot, ()))
        theirs = holdings.get(slot)
        fix = _plan_slot(slot, mine, theirs)
        if fix is not None:
            fixes.append(fix)
    return fixes


def _plan_slot(slot: str, mine: tuple[Position, ...], theirs: Holding | None) -> PositionFix | None:
    if theirs is None:
        if not mine:
            return None
        closes = tuple((p.position_id, "missing on exchange") for p in mine)
        return PositionFix("position_missing_on_exchange", slot, mine, None, close=closes)
    if not mine:
        return PositionFix("position_missing_locally", slot, mine, theirs, imported=theirs)
    if any(p.direction != theirs.direction for p in mine):
        why = f"direction differs on exchange ({theirs.direction} {theirs.quantity:f})"
        closes = tuple((p.position_id, why) for p in mine)
        return PositionFix("direction_mismatch", slot, mine, theirs, close=closes, imported=theirs)
    total = sum((p.quantity for p in mine), ZERO)
    if total == theirs.quantity:
        return None
    resize, close = _allocate(mine, theirs.quantity - total)
    adopt_price = (
        theirs.entry_price
        if len(mine) == 1
        and theirs.entry_price is not None
        and theirs.entry_price != mine[0].entry_price
        else None
    )
    return PositionFix(
        "quantity_mismatch",
        slot,
        mine,
        theirs,
        close=close,
        resize=resize,
        entry_price=adopt_price,
    )


def _allocate(
    mine: tuple[Position, ...], delta: Decimal
) -> tuple[tuple[tuple[str, Decimal], ...], tuple[tuple[str, str], ...]]:
    """Spread a quantity difference over a slot's positions: an increase goes to the newest
    one; a decrease comes out of the newest first, closing those it empties."""
    newest = mine[-1]
    if delta > 0:
        return ((newest.position_id, newest.quantity + delta),), ()
    resize: list[tuple[str, Decimal]] = []
    close: list[tuple[str, str]] = []
    remove = -delta
    for pos in reversed(mine):
        if remove == 0:
            break
        take = min(pos.quantity, remove)
        remove -= take
        if take == pos.quantity:
            close.append((pos.position_id, "reduced to zero on exchange"))
        else:
            resize.append((pos.position_id, pos.quantity - take))
    return tuple(resize), tuple(close)


def plan_orders(
    local_open: Sequence[Order],
    remote_open: Sequence[RemoteOrder],
    known: Mapping[str, Order | None],
) -> list[OrderFix]:
    """The order fixes.

    Args:
        local_open: local orders of the venue that are ``open``/``partially_filled`` after
            settlement (``new``/``sent`` ones were unresolved and are not compared).
        remote_open: the exchange's open orders.
        known: the stored order for each remote open order's client order id (None if the
            store has none).

    Returns:
        Fixes for remote orders first (in the exchange's order), then for missing local ones.
    """
    fixes = []
    remote_ids = {r.client_order_id for r in remote_open}
    for remote in remote_open:
        cid = remote.client_order_id
        mine = known.get(cid)
        if mine is None:
            fixes.append(OrderFix("unknown_order", cid, None, remote))
        elif mine.status in TERMINAL_ORDER_STATUSES:
            fixes.append(OrderFix("stale_order", cid, mine, remote))
    for mine in local_open:
        if mine.status in ("open", "partially_filled") and mine.client_order_id not in remote_ids:
            fixes.append(OrderFix("order_missing_on_exchange", mine.client_order_id, mine))
    return fixes
