"""The paper exchange: the :class:`~tapeflow.execution.exchange.Exchange` interface,
simulated on the live (or replayed) trade stream.

Fill model:

* A **market** order fills completely at the price of the *next* trade of its symbol after
  it was placed (never at a price that was known when the decision was made), moved
  against the order by ``slippage_bps``: buys at ``price × (1 + s)``, sells at
  ``price × (1 − s)`` with ``s = slippage_bps / 10 000``.
* A **limit** buy fills at its limit price on the first trade at or below it (a sell: at or
  above); a limit that is already marketable on its first trade fills at that trade's
  price if better. No slippage.
* A **stop** (``stop_market``/``stop_limit``) triggers on the first trade at or through its
  stop price (sell stops: price ≤ stop; buy stops: price ≥ stop). A ``stop_market`` fills
  completely at *that* trade's price, moved against it by ``slippage_bps`` (a gap through
  the stop is filled at the trade's price, not at the stop level); a ``stop_limit`` then
  behaves as a limit order from that trade on (it fills on the trigger trade if that trade
  is at or better than its limit).
* A **protective exit** (the engine's market exit for a stop or a target that a trade
  reached, :meth:`PaperExchange.fill_at_print`) fills at *that* trade's price, moved
  against it by ``slippage_bps`` — as a stop order resting on the venue would trigger on
  it. A gap through the stop is filled at the trade's price, not at the stop level.
* Every fill pays ``fee_bps`` of its notional, in the quote asset.

Accounts:

* **spot**: per-asset balances (configured per asset: ``USDT: 10000, ETH: 5``), valued in
  the account currency at the last trade prices; a buy spends quote (notional + fee) and
  receives base, a sell the reverse; no shorts, no borrowing.
* **linear futures** (USD-M): one wallet balance in the quote asset and one net position
  per symbol (one-way mode) with a leverage. Opening needs initial margin
  ``notional / leverage`` (+ fee) out of the available balance (wallet + unrealized P&L −
  margin in use); reducing realizes ``(exit − entry) × quantity`` (× −1 for shorts).
  Reduce-only orders never open or flip a position.

The whole account (balances, positions, orders, last prices) is written to a state store
after every change and read back on construction, so a restarted paper exchange continues
where it stopped.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tapeflow.execution.accounts import Rate, Valuation, rate, value
from tapeflow.execution.errors import DuplicateClientOrderId, OrderNotFound, OrderRejected
from tapeflow.execution.markets import MarketRules
from tapeflow.execution.statefile import StateStore
from tapeflow.model.orders import Balance, ExchangePosition, OrderRequest, OrderType, OrderUpdate
from tapeflow.model.records import utcnow
from tapeflow.model.symbols import SymbolKey
from tapeflow.model.ticks import TradeTick

log = logging.getLogger(__name__)

ZERO = Decimal(0)
ONE = Decimal(1)
BPS = Decimal(10_000)
STATE_VERSION = 1


@dataclass(slots=True)
class _Order:
    key: SymbolKey
    client_order_id: str
    exchange_order_id: str
    side: str
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    reduce_only: bool
    status: str = "open"
    filled: Decimal = ZERO
    average_price: Decimal | None = None
    fee: Decimal = ZERO
    triggered: bool = False
    eligible_after: int = 0  # tick sequence after which it may fill / trigger
    rested: bool = False  # a limit order has seen a trade
    ts: datetime | None = None

    def view(self, quote: str) -> OrderUpdate:
        return OrderUpdate(
            key=self.key,
            client_order_id=self.client_order_id,
            exchange_order_id=self.exchange_order_id,
            status=self.status,  # type: ignore[arg-type]
            side=self.side,  # type: ignore[arg-type]
            order_type=self.order_type,
            quantity=self.quantity,
            filled=self.filled,
            average_price=self.average_price,
            fee=self.fee,
            fee_asset=quote,
            price=self.price,
            stop_price=self.stop_price,
            reduce_only=self.reduce_only,
            triggered=self.triggered,
            ts=self.ts or utcnow(),
        )

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["key"] = str(self.key)
        for k in ("quantity", "price", "stop_price", "filled", "average_price", "fee"):
            d[k] = None if d[k] is None else str(d[k])
        d["ts"] = self.ts.isoformat() if self.ts else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> _Order:
        dec = {
            k: (None if d.get(k) is None else Decimal(d[k]))
            for k in ("quantity", "price", "stop_price", "filled", "average_price", "fee")
        }
        return cls(
            key=SymbolKey.parse(d["key"]),
            client_order_id=d["client_order_id"],
            exchange_order_id=d["exchange_order_id"],
            side=d["side"],
            order_type=d["order_type"],
            reduce_only=bool(d["reduce_only"]),
            status=d["status"],
            triggered=bool(d["triggered"]),
            eligible_after=int(d["eligible_after"]),
            rested=bool(d["rested"]),
            ts=datetime.fromisoformat(d["ts"]) if d.get("ts") else None,
            **dec,  # type: ignore[arg-type]
        )


@dataclass(slots=True)
class _Position:
    quantity: Decimal  # signed: > 0 long, < 0 short
    entry_price: Decimal


class PaperExchange:
    """A simulated venue with the :class:`~tapeflow.execution.exchange.Exchange` interface;
    see the module docstring for the fill model and accounting.

    Args:
        name: venue name (``"binance/usdm"``); markets must belong to it.
        markets: the rules of every tradable market (all spot or all contract).
        quote_asset: the account currency (``USDT``): equity is valued in it.
        starting_balance: initial quote balance, used when the store has no state and
            ``starting_balances`` is not given.
        starting_balances: initial balance per asset (``{"USDT": 10000, "ETH": 5}``), used
            when the store has no state. Futures keep the quote asset's amount only.
        reference_prices: price of one unit of an asset in ``quote_asset``, used to value
            it while no trade of its market has been seen (see
            :mod:`tapeflow.execution.accounts`).
        fee_bps, slippage_bps: per fill, basis points.
        leverage_for: default leverage per symbol (futures); :meth:`set_leverage` overrides.
        store: state store for the account (``None``: in memory only).
        state_name: the document name in ``store``.
        keep_orders: finished (filled/canceled/rejected) orders remembered for lookups by
            client order id; older ones are forgotten (the position store keeps every
            order), so the state written per change stays small.

    Raises:
        ValueError: on inconsistent markets or malformed stored state.
    """

    def __init__(
        self,
        name: str,
        markets: Mapping[SymbolKey, MarketRules],
        *,
        quote_asset: str = "USDT",
        starting_balance: Decimal = Decimal(10_000),
        starting_balances: Mapping[str, Decimal] | None = None,
        reference_prices: Mapping[str, Decimal] | None = None,
        fee_bps: Decimal = Decimal(4),
        slippage_bps: Decimal = Decimal(1),
        leverage_for: Callable[[SymbolKey], Decimal] | None = None,
        store: StateStore | None = None,
        state_name: str | None = None,
        keep_orders: int = 100,
    ) -> None:
        self.name = name
        self._markets = dict(markets)
        kinds = {m.contract for m in self._markets.values()}
        if len(kinds) > 1:
            raise ValueError(f"{name}: mixes spot and contract markets")
        self.contract = kinds == {True}
        self.quote = quote_asset
        self.fee_rate = Decimal(fee_bps) / BPS
        self.slip_rate = Decimal(slippage_bps) / BPS
        self._leverage_for = leverage_for or (lambda key: ONE)
        self._store = store
        self.state_name = state_name or f"paper.{name.replace('/', '.')}"
        self.keep_orders = keep_orders
        self._finished: deque[str] = deque()
        start = dict(starting_balances or {quote_asset: Decimal(starting_balance)})
        if self.contract:  # one wallet in the quote asset
            start = {quote_asset: Decimal(start.get(quote_asset, ZERO))}
        self._balances: dict[str, Decimal] = {a: Decimal(v) for a, v in start.items()}
        self.reference_prices = dict(reference_prices or {})
        self._positions: dict[SymbolKey, _Position] = {}
        self._leverage: dict[SymbolKey, Decimal] = {}
        self._orders: dict[str, _Order] = {}
        self._active: dict[SymbolKey, dict[str, _Order]] = {}
        self._last: dict[SymbolKey, Decimal] = {}
        self._seq = 0
        self._tick_seq = 0
        self.realized_pnl = ZERO
        self.fees_paid = ZERO
        self._load()

    # -- Exchange interface --------------------------------------------------------------

    async def load_markets(self) -> dict[SymbolKey, MarketRules]:
        """The configured markets."""
        return dict(self._markets)

    def market(self, key: SymbolKey) -> MarketRules:
        """Rules of ``key``.

        Raises:
            OrderRejected: for a market this exchange does not have.
        """
        rules = self._markets.get(key)
        if rules is None:
            raise OrderRejected(f"{self.name}: unknown market {key}", kind="invalid_order")
        return rules

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        """Accept an order (status ``open``); it fills on later ticks.

        Raises:
            DuplicateClientOrderId: the client order id was used before.
            OrderRejected: unknown market, quantity/price filters, or (checked against the
                last trade price) insufficient balance or margin.
        """
        rules = self.market(request.key)
        cid = request.client_order_id
        if cid in self._orders:
            raise DuplicateClientOrderId(
                f"{self.name}: duplicate client order id {cid}", kind="duplicate"
            )
        ref = request.price or request.stop_price or self._last.get(request.key)
        if ref is not None:
            problem = rules.check_order(request.quantity, ref)
            if problem and not (request.reduce_only and "notional" in problem):
                raise OrderRejected(f"{self.name} {request.key}: {problem}", kind="invalid_order")
        elif request.quantity % rules.amount_step != 0 or request.quantity < rules.min_amount:
            raise OrderRejected(
                f"{self.name} {request.key}: quantity {request.quantity} violates step "
                f"{rules.amount_step} / minimum {rules.min_amount}",
                kind="invalid_order",
            )
        if ref is not None:
            self._check_funds(request.key, request.side, request.quantity, ref, request.reduce_only)
        self._seq += 1
        order = _Order(
            key=request.key,
            client_order_id=cid,
            exchange_order_id=str(self._seq),
            side=request.side,
            order_type=request.order_type,
            quantity=request.quantity,
            price=request.price,
            stop_price=request.stop_price,
            reduce_only=request.reduce_only,
            eligible_after=self._tick_seq,
            ts=utcnow(),
        )
        self._orders[cid] = order
        self._active.setdefault(request.key, {})[cid] = order
        self._save()
        return order.view(self.quote)

    async def cancel_order(
        self, key: SymbolKey, client_order_id: str, *, order_type: OrderType | None = None
    ) -> OrderUpdate:
        """Cancel an open order.

        Raises:
            OrderNotFound: unknown id; OrderRejected: the order is no longer open.
        """
        order = self._orders.get(client_order_id)
        if order is None or order.key != key:
            raise OrderNotFound(f"{self.name}: no order {client_order_id}", kind="not_found")
        if order.status not in ("open", "partially_filled"):
            raise OrderRejected(
                f"{self.name}: order {client_order_id} is {order.status}", kind="rejected"
            )
        order.status = "canceled"
        order.ts = utcnow()
        self._deactivate(order)
        self._save()
        return order.view(self.quote)

    async def fetch_order(
        self, key: SymbolKey, client_order_id: str, *, order_type: OrderType | None = None
    ) -> OrderUpdate | None:
        """The order with this client order id, or None."""
        order = self._orders.get(client_order_id)
        if order is None or order.key != key:
            return None
        return order.view(self.quote)

    async def fetch_open_orders(self, key: SymbolKey | None = None) -> list[OrderUpdate]:
        """Orders not yet filled or canceled."""
        books = [self._active.get(key, {})] if key is not None else self._active.values()
        return [o.view(self.quote) for book in books for o in book.values()]

    async def fetch_balance(self) -> dict[str, Balance]:
        """Balances by asset. Futures: the quote asset's ``total`` is the margin balance
        (wallet + unrealized P&L), ``used`` the initial margin of open positions."""
        if not self.contract:
            locked = self._spot_locked()
            return {
                asset: Balance(
                    asset, amount - locked.get(asset, ZERO), locked.get(asset, ZERO), amount
                )
                for asset, amount in self._balances.items()
            }
        wallet = self._balances.get(self.quote, ZERO)
        total = wallet + self.unrealized_pnl()
        used = self._margin_used()
        return {self.quote: Balance(self.quote, total - used, used, total)}

    async def fetch_positions(self) -> list[ExchangePosition]:
        """Open futures positions (spot: always empty)."""
        out = []
        for key, pos in self._positions.items():
            if pos.quantity == 0:
                continue
            out.append(
                ExchangePosition(
                    key=key,
                    direction="long" if pos.quantity > 0 else "short",
                    quantity=abs(pos.quantity),
                    entry_price=pos.entry_price,
                    leverage=self.leverage(key),
                    unrealized_pnl=self._upnl(key, pos),
                )
            )
        return out

    async def set_leverage(self, key: SymbolKey, leverage: Decimal) -> None:
        """Set a symbol's leverage (futures; ignored on spot). It is written with the next
        order (leverage only matters once an order exists)."""
        if not ONE <= leverage <= 125:
            raise OrderRejected(f"leverage {leverage} outside 1-125", kind="invalid_order")
        if self.contract:
            self._leverage[key] = Decimal(leverage)

    async def close(self) -> None:
        """Write the state one last time."""
        self._save()

    # -- simulation ----------------------------------------------------------------------

    def leverage(self, key: SymbolKey) -> Decimal:
        """Leverage in force for ``key`` (1 on spot)."""
        if not self.contract:
            return ONE
        lev = self._leverage.get(key)
        return lev if lev is not None else Decimal(self._leverage_for(key))

    def last_price(self, key: SymbolKey) -> Decimal | None:
        """Price of the last trade seen for ``key``."""
        return self._last.get(key)

    def on_tick(self, tick: TradeTick) -> list[OrderUpdate]:
        """Feed one trade; fills and triggers the orders of its symbol.

        Returns:
            Updates of the orders that filled, triggered or were rejected at fill time
            (usually empty).
        """
        key = tick.key
        price = tick.price
        self._tick_seq += 1
        self._last[key] = price
        book = self._active.get(key)
        if not book:
            return []
        updates: list[OrderUpdate] = []
        for order in list(book.values()):
            if order.eligible_after >= self._tick_seq:
                continue
            upd = self._evaluate(order, price, tick.ts)
            if upd is not None:
                updates.append(upd)
        if updates:
            self._save()
        return updates

    def fill_market_at_last(self, key: SymbolKey) -> list[OrderUpdate]:
        """Fill ``key``'s open market orders now at the last trade price (with the usual
        slippage), without waiting for another trade: flattening at shutdown, when no
        further trade will arrive. Returns their updates (none without a last price)."""
        price = self._last.get(key)
        book = self._active.get(key)
        if price is None or not book:
            return []
        updates = [
            upd
            for order in list(book.values())
            if order.order_type == "market"
            and (upd := self._evaluate(order, price, utcnow())) is not None
        ]
        if updates:
            self._save()
        return updates

    def fill_at_print(self, client_order_id: str, tick: TradeTick) -> OrderUpdate | None:
        """Fill a protective exit at the trade that reached its level.

        The engine calls this right after placing the market exit of a stop or target that
        ``tick`` reached (see the module docstring): the order fills completely at
        ``tick.price`` moved against it by the slippage (a sell at ``price × (1 − s)``, a
        buy at ``price × (1 + s)``), paying the fee.

        Returns:
            The order's update (``filled``, or ``rejected`` if the account cannot take
            it), or None when ``client_order_id`` is not an open market order of
            ``tick``'s symbol (then nothing changes; it fills on a later trade).
        """
        order = self._orders.get(client_order_id)
        if (
            order is None
            or order.key != tick.key
            or order.order_type != "market"
            or order.status != "open"
        ):
            return None
        buy = order.side == "buy"
        price = tick.price
        fill = price * (ONE + self.slip_rate) if buy else price * (ONE - self.slip_rate)
        update = self._fill(order, fill, tick.ts)
        self._save()
        return update

    def _evaluate(self, order: _Order, price: Decimal, ts: datetime) -> OrderUpdate | None:
        buy = order.side == "buy"
        kind = order.order_type
        just_triggered = False
        if kind.startswith("stop") and not order.triggered:
            stop = order.stop_price
            assert stop is not None  # OrderRequest requires a stop price of stop orders
            if not ((buy and price >= stop) or (not buy and price <= stop)):
                return None
            order.triggered = just_triggered = True
            order.ts = ts
        if kind in ("market", "stop_market"):
            fill = price * (ONE + self.slip_rate) if buy else price * (ONE - self.slip_rate)
            return self._fill(order, fill, ts)
        # limit / triggered stop_limit
        limit = order.price
        assert limit is not None  # OrderRequest requires a price of limit orders
        crossed = price <= limit if buy else price >= limit
        if not crossed:
            order.rested = True
            return order.view(self.quote) if just_triggered else None
        fill = limit if order.rested else (min(price, limit) if buy else max(price, limit))
        return self._fill(order, fill, ts)

    def _fill(self, order: _Order, fill_price: Decimal, ts: datetime) -> OrderUpdate:
        rules = self._markets[order.key]
        qty = order.quantity
        try:
            if self.contract:
                qty, fee = self._fill_contract(order, rules, fill_price)
            else:
                fee = self._fill_spot(order, rules, fill_price)
        except OrderRejected as exc:
            log.warning(
                "paper %s: order %s rejected at fill: %s", self.name, order.client_order_id, exc
            )
            order.status = "rejected"
            order.ts = ts
            self._deactivate(order)
            return order.view(self.quote)
        order.filled = qty
        order.average_price = fill_price
        order.fee = fee
        order.status = "filled"
        order.ts = ts
        self.fees_paid += fee
        self._deactivate(order)
        return order.view(self.quote)

    def _fill_spot(self, order: _Order, rules: MarketRules, price: Decimal) -> Decimal:
        qty = order.quantity
        notional = qty * price
        fee = notional * self.fee_rate
        quote_bal = self._balances.get(rules.quote, ZERO)
        base_bal = self._balances.get(rules.base, ZERO)
        if order.side == "buy":
            if quote_bal < notional + fee:
                raise OrderRejected(
                    f"insufficient {rules.quote}: need {notional + fee}, have {quote_bal}",
                    kind="insufficient_funds",
                )
            self._balances[rules.quote] = quote_bal - notional - fee
            self._balances[rules.base] = base_bal + qty
        else:
            if base_bal < qty:
                raise OrderRejected(
                    f"insufficient {rules.base}: need {qty}, have {base_bal}",
                    kind="insufficient_funds",
                )
            self._balances[rules.base] = base_bal - qty
            self._balances[rules.quote] = quote_bal + notional - fee
        return fee

    def _fill_contract(
        self, order: _Order, rules: MarketRules, price: Decimal
    ) -> tuple[Decimal, Decimal]:
        key = order.key
        pos = self._positions.get(key)
        held = pos.quantity if pos else ZERO
        held_entry = pos.entry_price if pos else ZERO  # read only when closing what is held
        delta = order.quantity if order.side == "buy" else -order.quantity
        if order.reduce_only:
            if held == 0 or (held > 0) == (delta > 0):
                raise OrderRejected(
                    "reduce-only order would not reduce the position", kind="invalid_order"
                )
            if abs(delta) > abs(held):
                delta = -held
        qty = abs(delta)
        cs = rules.contract_size
        fee = qty * price * cs * self.fee_rate
        closing = min(qty, abs(held)) if held and (held > 0) != (delta > 0) else ZERO
        opening = qty - closing
        if opening > 0:
            need = opening * price * cs / self.leverage(key) + fee
            available = self._available_margin()
            if closing:  # the closed part frees its margin and realizes P&L first
                available += closing * held_entry * cs / self.leverage(key)
                available += (price - held_entry) * closing * cs * (1 if held > 0 else -1)
            if need > available:
                raise OrderRejected(
                    f"insufficient margin: need {need}, available {available}",
                    kind="insufficient_funds",
                )
        wallet = self._balances.get(self.quote, ZERO)
        realized = ZERO
        if closing:
            sign = 1 if held > 0 else -1
            realized = (price - held_entry) * closing * cs * sign
            held_after = held + (closing if held < 0 else -closing)
            pos = None if held_after == 0 else _Position(held_after, held_entry)
        if opening:
            signed_open = opening if delta > 0 else -opening
            if pos is None:
                pos = _Position(signed_open, price)
            else:  # increase in the same direction: volume-weighted entry
                total = abs(pos.quantity) + opening
                entry = (abs(pos.quantity) * pos.entry_price + opening * price) / total
                pos = _Position(pos.quantity + signed_open, entry)
        if pos is None:
            self._positions.pop(key, None)
        else:
            self._positions[key] = pos
        self._balances[self.quote] = wallet + realized - fee
        self.realized_pnl += realized
        return qty, fee

    def _check_funds(
        self, key: SymbolKey, side: str, qty: Decimal, price: Decimal, reduce_only: bool
    ) -> None:
        rules = self._markets[key]
        if not self.contract:
            if side == "buy":
                need = qty * price * (ONE + self.fee_rate)
                have = self._balances.get(rules.quote, ZERO) - self._spot_locked().get(
                    rules.quote, ZERO
                )
                asset = rules.quote
            else:
                need = qty
                have = self._balances.get(rules.base, ZERO) - self._spot_locked().get(
                    rules.base, ZERO
                )
                asset = rules.base
            if need > have:
                raise OrderRejected(
                    f"insufficient {asset}: need {need}, have {have}", kind="insufficient_funds"
                )
            return
        if reduce_only:
            return
        pos = self._positions.get(key)
        held = pos.quantity if pos else ZERO
        delta = qty if side == "buy" else -qty
        opening = qty - (min(qty, abs(held)) if held and (held > 0) != (delta > 0) else ZERO)
        need = opening * price * rules.contract_size * (ONE / self.leverage(key) + self.fee_rate)
        available = self._available_margin()
        if need > available:
            raise OrderRejected(
                f"insufficient margin: need {need}, available {available}",
                kind="insufficient_funds",
            )

    # -- accounting ----------------------------------------------------------------------

    def _upnl(self, key: SymbolKey, pos: _Position) -> Decimal:
        last = self._last.get(key, pos.entry_price)
        return (last - pos.entry_price) * pos.quantity * self._markets[key].contract_size

    def unrealized_pnl(self) -> Decimal:
        """Unrealized P&L of all futures positions at the last trade prices (quote)."""
        return sum((self._upnl(k, p) for k, p in self._positions.items()), ZERO)

    def _margin_used(self) -> Decimal:
        return sum(
            (
                abs(p.quantity) * p.entry_price * self._markets[k].contract_size / self.leverage(k)
                for k, p in self._positions.items()
            ),
            ZERO,
        )

    def _available_margin(self) -> Decimal:
        return self._balances.get(self.quote, ZERO) + self.unrealized_pnl() - self._margin_used()

    def _spot_locked(self) -> dict[str, Decimal]:
        locked: dict[str, Decimal] = {}
        for book in self._active.values():
            for o in book.values():
                if o.order_type not in ("limit", "stop_limit") or o.price is None:
                    continue
                rules = self._markets[o.key]
                if o.side == "buy":
                    locked[rules.quote] = locked.get(rules.quote, ZERO) + o.quantity * o.price
                else:
                    locked[rules.base] = locked.get(rules.base, ZERO) + o.quantity
        return locked

    def rate(self, asset: str, currency: str | None = None) -> Rate | None:
        """Price of one ``asset`` in ``currency`` (default the account currency) from the
        last trades seen and the reference prices (:func:`tapeflow.execution.accounts.rate`)."""
        return rate(
            asset,
            currency or self.quote,
            self._markets.values(),
            self._last.get,
            self.reference_prices,
            self.quote,
        )

    def valuation(self) -> Valuation:
        """Every balance valued in the account currency (futures: wallet + unrealized
        P&L); assets without any price are listed in ``unpriced`` and count 0."""
        if self.contract:
            return Valuation(self._balances.get(self.quote, ZERO) + self.unrealized_pnl())
        return value(self._balances, self.quote, self.rate)

    def equity(self) -> Decimal:
        """Account value in the account currency: futures wallet + unrealized P&L; spot
        every asset balance at its price in the account currency (see :meth:`valuation`)."""
        return self.valuation().total

    def balances(self) -> dict[str, Decimal]:
        """Raw asset balances (spot) or the wallet balance (futures)."""
        return dict(self._balances)

    def _deactivate(self, order: _Order) -> None:
        book = self._active.get(order.key)
        if book is not None:
            book.pop(order.client_order_id, None)
            if not book:
                del self._active[order.key]
        self._finished.append(order.client_order_id)
        while len(self._finished) > self.keep_orders:
            self._orders.pop(self._finished.popleft(), None)

    # -- persistence ---------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The persisted document (JSON-safe, decimals as strings)."""
        return {
            "version": STATE_VERSION,
            "seq": self._seq,
            "tick_seq": self._tick_seq,
            "balances": {a: str(v) for a, v in self._balances.items()},
            "positions": {
                str(k): {"quantity": str(p.quantity), "entry_price": str(p.entry_price)}
                for k, p in self._positions.items()
            },
            "leverage": {str(k): str(v) for k, v in self._leverage.items()},
            "orders": [o.to_dict() for o in self._orders.values()],
            "last_prices": {str(k): str(v) for k, v in self._last.items()},
            "realized_pnl": str(self.realized_pnl),
            "fees_paid": str(self.fees_paid),
        }

    def _save(self) -> None:
        if self._store is not None:
            self._store.put_state(self.state_name, self.state())

    def _load(self) -> None:
        if self._store is None:
            return
        doc = self._store.get_state(self.state_name)
        if not doc:
            return
        try:
            if doc.get("version") != STATE_VERSION:
                raise ValueError(f"unsupported version {doc.get('version')!r}")
            self._seq = int(doc["seq"])
            self._tick_seq = int(doc["tick_seq"])
            self._balances = {a: Decimal(v) for a, v in doc["balances"].items()}
            self._positions = {
                SymbolKey.parse(k): _Position(Decimal(v["quantity"]), Decimal(v["entry_price"]))
                for k, v in doc["positions"].items()
            }
            self._leverage = {SymbolKey.parse(k): Decimal(v) for k, v in doc["leverage"].items()}
            self._last = {SymbolKey.parse(k): Decimal(v) for k, v in doc["last_prices"].items()}
            self.realized_pnl = Decimal(doc.get("realized_pnl", "0"))
            self.fees_paid = Decimal(doc.get("fees_paid", "0"))
            for d in doc["orders"]:
                order = _Order.from_dict(d)
                self._orders[order.client_order_id] = order
                if order.status in ("open", "partially_filled"):
                    self._active.setdefault(order.key, {})[order.client_order_id] = order
                else:
                    self._finished.append(order.client_order_id)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ValueError(f"paper state {self.state_name!r} is malformed: {exc}") from exc
        unknown = {k for k in self._positions if k not in self._markets}
        if unknown:
            log.warning(
                "paper %s: stored positions in unconfigured markets: %s",
                self.name,
                ", ".join(map(str, unknown)),
            )
        log.info(
            "paper %s restored: %d orders (%d open), %d positions",
            self.name,
            len(self._orders),
            sum(map(len, self._active.values())),
            len(self._positions),
        )
