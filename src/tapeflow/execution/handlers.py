"""The handlers of the execution chain, one small class each.

=====================  ===================================================================
name                   continues when / does
=====================  ===================================================================
``risk``               the portfolio risk manager allows new entries (no circuit breaker
                       halt, drawdown below critical, every component healthy, portfolio
                       health score not below ``health.stop_entries_below``) and the
                       operator has not paused the symbol
``trade_rate``         fewer than ``max_trades_per_day`` entries today (UTC) and
                       ``max_trades_per_hour`` in the last hour
                       (:mod:`tapeflow.execution.trade_rate`)
``existing_position``  the signal was not executed before and no position in the same
                       symbol and direction is active (no duplicates)
``reversal``           an opposite position in the symbol, if any, was closed first
``position_limit``     fewer than ``max_concurrent`` positions are active
``sizing``             equity converted into the pair's quote asset gives a size above
                       the market's minimums (sets ``ctx.size``)
``exposure``           total and per-symbol entry notional stay within their caps
``placement``          the entry order was accepted (or its outcome is being resolved)
``monitoring``         the position gets its exits: initial stop, trailing stop and
                       take-profit target (armed at the entry fill)
=====================  ===================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from tapeflow.config.execution import ExecutionSettings, HandlerName
from tapeflow.execution.accounts import Account
from tapeflow.execution.chain import CONTINUE, ExecutionChain, Verdict, refuse
from tapeflow.execution.context import SignalContext
from tapeflow.execution.errors import ExecutionError
from tapeflow.execution.exchange import Exchange
from tapeflow.execution.lifecycle import PositionLifecycle
from tapeflow.execution.pauses import SymbolPauses
from tapeflow.execution.positions import PositionBook
from tapeflow.execution.refusals import RefusalLog
from tapeflow.execution.risk import PortfolioRisk
from tapeflow.execution.sizing import position_size
from tapeflow.execution.targets import take_profit_price
from tapeflow.execution.trade_rate import TradeRate, TradeRateGate

ZERO = Decimal(0)
BPS = Decimal(10_000)


class RiskGate:
    """Refuses while the portfolio risk manager blocks new entries, or while the operator
    has paused the signal's symbol."""

    name: HandlerName = "risk"

    def __init__(self, risk: PortfolioRisk, pauses: SymbolPauses | None = None) -> None:
        self.risk = risk
        self.pauses = pauses

    async def __call__(self, ctx: SignalContext) -> Verdict:
        paused = self.pauses.reason(ctx.key) if self.pauses is not None else None
        reason = paused or self.risk.entry_block(ctx.now)
        return refuse(reason) if reason else CONTINUE


class ExistingPosition:
    """Refuses a signal already executed, or one that would duplicate an active position
    in the same symbol and direction."""

    name: HandlerName = "existing_position"

    def __init__(self, book: PositionBook) -> None:
        self.book = book

    async def __call__(self, ctx: SignalContext) -> Verdict:
        sid = ctx.signal.signal_id
        done = await self.book.lookup(sid)
        if done is not None:
            return refuse(f"signal already executed: position {sid} is {done.status}")
        for pos in self.book.active(ctx.key):
            if pos.direction == ctx.signal.direction:
                return refuse(
                    f"already {pos.direction} {ctx.key} (position {pos.position_id}, {pos.status})"
                )
        return CONTINUE


class Reversal:
    """Closes an opposite position in the symbol before the new entry; refuses if one
    cannot be closed (its entry still pending, or the exit rejected)."""

    name: HandlerName = "reversal"

    def __init__(self, book: PositionBook, lifecycle: PositionLifecycle) -> None:
        self.book = book
        self.lifecycle = lifecycle

    async def __call__(self, ctx: SignalContext) -> Verdict:
        for pos in self.book.active(ctx.key):
            if pos.direction == ctx.signal.direction or pos.status == "closing":
                continue
            if pos.status == "pending":
                return refuse(
                    f"opposite position {pos.position_id} is still pending its entry fill"
                )
            exit_order = await self.lifecycle.close(pos, f"reversal to {ctx.signal.direction}")
            if exit_order is None or exit_order.status == "rejected":
                why = exit_order.error if exit_order is not None else "not open"
                return refuse(f"could not close opposite position {pos.position_id}: {why}")
            ctx.exits.append(exit_order)
            ctx.notes.append(f"closed opposite {pos.position_id}")
        return CONTINUE


class PositionLimit:
    """Refuses when ``max_concurrent`` positions (pending or open; closing ones do not
    count) are already active."""

    name: HandlerName = "position_limit"

    def __init__(self, book: PositionBook, max_concurrent: int) -> None:
        self.book = book
        self.max_concurrent = max_concurrent

    async def __call__(self, ctx: SignalContext) -> Verdict:
        active = self.book.count()
        if active >= self.max_concurrent:
            return refuse(f"{active} positions active; limit {self.max_concurrent}")
        return CONTINUE


class Sizing:
    """Sizes the entry from the account equity converted into the market's quote asset at
    the current price, capped by that asset's free balance less the fee and slippage of
    the fill (``fee_bps + slippage_bps``; spot: what it buys at the higher of the signal's
    entry and the last trade; see
    :mod:`tapeflow.execution.sizing` and :mod:`tapeflow.execution.accounts`); refuses
    naming the missing price when there is no conversion price, and below the market's
    minimum quantity or notional."""

    name: HandlerName = "sizing"

    def __init__(
        self, exchange: Exchange, account: Account, currency: str, reserve_bps: Decimal = ZERO
    ) -> None:
        self.exchange = exchange
        self.account = account
        self.currency = currency
        # the free balance must also pay the fee and the slippage of the fill
        self.spendable = BPS / (BPS + reserve_bps)

    async def __call__(self, ctx: SignalContext) -> Verdict:
        try:
            ctx.market = self.exchange.market(ctx.key)
            balances = await self.exchange.fetch_balance()
            equity = await self.account.equity(balances)
        except ExecutionError as exc:
            return refuse(f"cannot size: {exc}")
        quote = ctx.market.quote
        conv = self.account.rate(quote, self.currency)
        if conv is None:
            return refuse(f"cannot size: {self.account.missing_rate(quote, self.currency)}")
        ctx.balance = equity / conv.price
        if quote != self.currency:
            ctx.notes.append(
                f"equity {equity} {self.currency} = {ctx.balance} {quote} at {conv.price} "
                f"{self.currency}/{quote} ({conv.source})"
            )
        bal = balances.get(quote)
        available = bal.free * self.spendable if bal is not None else ZERO
        entry = ctx.signal.entry_price
        last = self.account.last_price(ctx.key)
        if not ctx.market.contract and last is not None and last > entry:
            # spot spends quote at the market price, not the signal's: buy what it pays for
            available = available * entry / last
        ctx.size = position_size(
            balance=ctx.balance,
            entry=entry,
            stop=ctx.signal.stop_loss,
            direction=ctx.signal.direction,
            risk=ctx.risk,
            market=ctx.market,
            available=available,
        )
        if not ctx.size.ok:
            return refuse(f"size refused: {ctx.size.refused}")
        return CONTINUE


class Exposure:
    """Refuses when the new entry's notional would lift the total or the symbol's entry
    notional (pending and open positions) above its cap."""

    name: HandlerName = "exposure"

    def __init__(
        self, book: PositionBook, max_total: Decimal | None, max_symbol: Decimal | None
    ) -> None:
        self.book = book
        self.max_total = max_total
        self.max_symbol = max_symbol

    async def __call__(self, ctx: SignalContext) -> Verdict:
        if ctx.size is None:
            return refuse("exposure needs the size: put 'sizing' before 'exposure'")
        new = ctx.size.notional
        if self.max_total is not None:
            total = self.book.notional() + new
            if total > self.max_total:
                return refuse(f"total notional {total} would exceed {self.max_total}")
        if self.max_symbol is not None:
            sym = self.book.notional(ctx.key) + new
            if sym > self.max_symbol:
                return refuse(f"{ctx.key} notional {sym} would exceed {self.max_symbol}")
        return CONTINUE


class Placement:
    """Creates the pending position (initial stop = the signal's stop, take-profit target
    from :func:`~tapeflow.execution.targets.take_profit_price`) and sends its market entry
    order."""

    name: HandlerName = "placement"

    def __init__(self, lifecycle: PositionLifecycle) -> None:
        self.lifecycle = lifecycle

    async def __call__(self, ctx: SignalContext) -> Verdict:
        if ctx.size is None:
            return refuse("placement needs the size: put 'sizing' before 'placement'")
        position, order = await self.lifecycle.open(
            ctx.signal,
            ctx.size.quantity,
            trailing_distance_pct=ctx.risk.trailing_pct,
            leverage=ctx.risk.leverage,
            target_price=take_profit_price(ctx.signal, ctx.risk),
        )
        ctx.position, ctx.entry_order = position, order
        if order.status == "rejected":
            return refuse(f"entry order rejected: {order.error}")
        if order.status == "sent":
            ctx.notes.append("entry outcome unknown; it will be looked up")
        return CONTINUE


class Monitoring:
    """Arms the position's exits — initial stop, trailing stop, target — now, or when the
    entry fills, and, if the entry has filled already, its resting stop order on the
    exchange."""

    name: HandlerName = "monitoring"

    def __init__(self, lifecycle: PositionLifecycle) -> None:
        self.lifecycle = lifecycle

    async def __call__(self, ctx: SignalContext) -> Verdict:
        if ctx.position is not None:
            self.lifecycle.monitor(ctx.position)
            await self.lifecycle.protect(ctx.position.position_id)
        return CONTINUE


@dataclass(frozen=True, slots=True)
class ChainServices:
    """What the handlers are built from."""

    settings: ExecutionSettings
    exchange: Exchange
    book: PositionBook
    lifecycle: PositionLifecycle
    risk: PortfolioRisk
    trade_rate: TradeRate
    account: Account
    pauses: SymbolPauses | None = None


#: name -> factory(services) for every handler, keyed by each handler class's ``name`` (one of
#: :data:`tapeflow.config.execution.HandlerName`).
HANDLERS: dict[str, Callable[[ChainServices], object]] = {
    RiskGate.name: lambda s: RiskGate(s.risk, s.pauses),
    TradeRateGate.name: lambda s: TradeRateGate(s.trade_rate),
    ExistingPosition.name: lambda s: ExistingPosition(s.book),
    Reversal.name: lambda s: Reversal(s.book, s.lifecycle),
    PositionLimit.name: lambda s: PositionLimit(s.book, s.settings.max_concurrent),
    Sizing.name: lambda s: Sizing(
        s.exchange, s.account, s.settings.quote_asset, s.settings.fee_bps + s.settings.slippage_bps
    ),
    Exposure.name: lambda s: Exposure(
        s.book, s.settings.max_total_notional, s.settings.max_symbol_notional
    ),
    Placement.name: lambda s: Placement(s.lifecycle),
    Monitoring.name: lambda s: Monitoring(s.lifecycle),
}


def build_chain(
    services: ChainServices,
    names: Sequence[str] | None = None,
    refusals: RefusalLog | None = None,
) -> ExecutionChain:
    """The chain of ``names`` (default: ``services.settings.handlers``) in that order.

    Raises:
        ValueError: for an unknown handler name.
    """
    names = list(names if names is not None else services.settings.handlers)
    unknown = [n for n in names if n not in HANDLERS]
    if unknown:
        raise ValueError(f"unknown handler(s) {', '.join(unknown)}; known: {', '.join(HANDLERS)}")
    return ExecutionChain([HANDLERS[n](services) for n in names], refusals)  # type: ignore[misc]
