"""Execution settings: per-symbol risk and the engine-wide execution configuration.

Percentages named ``*_pct`` are in percent (``0.5`` = 0.5 %); ``risk_per_trade`` is a
fraction (``0.01`` = 1 %); fees and slippage are in basis points (``4`` = 0.04 %). Money
amounts are in the quote currency of the account (USDT for Binance spot/USD-M).

The configuration engineer composes these models into the YAML configuration; they are
closed (an unknown key is an error) and frozen, like every configuration section.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal, Self, get_args

from pydantic import Field, model_validator

from tapeflow.config.base import Section
from tapeflow.model.symbols import InvalidSymbolError, SymbolKey

AssetClass = Literal["regular", "meme"]

#: An asset code (``USDT``, ``ETH``, ``1000PEPE``).
ASSET = re.compile(r"[A-Z0-9]{1,20}")

#: Default trailing-stop distance (percent of price) by asset class.
DEFAULT_TRAILING_PCT: dict[str, Decimal] = {"regular": Decimal("0.5"), "meme": Decimal("17.5")}

#: Where a position's take-profit target comes from (see :mod:`tapeflow.execution.targets`).
TakeProfit = Literal["signal_or_risk_reward", "signal", "risk_reward", "off"]

#: Default risk:reward of the take-profit target: seed 001 §6.1 ``config_1`` (the active
#: configuration there, "Ultra-Short Scalping"); its ``config_2`` uses 2.0.
DEFAULT_RISK_REWARD = Decimal("1.5")

#: Every handler of the execution chain, in the default order: the one list of their names
#: (each handler class's ``name``; :data:`tapeflow.execution.handlers.HANDLERS` is keyed by it).
HandlerName = Literal[
    "risk",
    "trade_rate",
    "existing_position",
    "reversal",
    "position_limit",
    "sizing",
    "exposure",
    "placement",
    "monitoring",
]

#: The default order of the execution chain: every handler, in :data:`HandlerName`'s order
#: (see :mod:`tapeflow.execution.handlers`).
DEFAULT_HANDLERS: tuple[HandlerName, ...] = get_args(HandlerName)


class RiskSettings(Section):
    """Risk for one symbol (a default for all, overridable per symbol).

    Attributes:
        leverage: futures leverage, 1–125. Spot markets always trade at 1 whatever is set.
        risk_per_trade: fraction of the balance risked between entry and stop (0.01 = 1 %).
        max_position_pct: cap on one position's *margin* as percent of the balance; the
            notional cap is ``balance × max_position_pct / 100 × leverage`` on futures
            (``× 1`` on spot).
        trailing_distance_pct: trailing-stop distance in percent of price; ``None`` takes
            the asset class default (:data:`DEFAULT_TRAILING_PCT`: 0.5 regular, 17.5 meme).
        asset_class: ``regular`` or ``meme`` (meme coins get wider stops).
        max_hold_minutes: close a position held longer than this; ``None`` = no limit.
        take_profit: where the take-profit target comes from: ``signal_or_risk_reward``
            (default: the signal's target when it has one, else ``risk_reward``),
            ``signal`` (only the signal's target), ``risk_reward`` (always
            entry ± ``risk_reward`` × |entry − stop|) or ``off`` (no target).
        risk_reward: reward:risk multiple of the target, 0 < x ≤ 100 (seed 001 §6.1–6.2:
            1.5 for Config 1, 2.0 for Config 2).
    """

    leverage: Decimal = Field(Decimal(1), ge=1, le=125)
    risk_per_trade: Decimal = Field(Decimal("0.01"), gt=0, le=Decimal("0.1"))
    max_position_pct: Decimal = Field(Decimal(20), gt=0, le=100)
    trailing_distance_pct: Decimal | None = Field(None, gt=0, lt=100)
    asset_class: AssetClass = "regular"
    max_hold_minutes: int | None = Field(None, gt=0)
    take_profit: TakeProfit = "signal_or_risk_reward"
    risk_reward: Decimal = Field(DEFAULT_RISK_REWARD, gt=0, le=100)

    @property
    def trailing_pct(self) -> Decimal:
        """The effective trailing distance in percent (explicit value or class default)."""
        if self.trailing_distance_pct is not None:
            return self.trailing_distance_pct
        return DEFAULT_TRAILING_PCT[self.asset_class]


class DrawdownLevels(Section):
    """Daily drawdown thresholds, percent below the UTC-day start equity.

    ``critical`` blocks new entries and tightens trailing stops; ``circuit_breaker`` closes
    every position and halts new entries until the next UTC day or a manual reset.
    """

    alert: Decimal = Field(Decimal(2), gt=0, lt=100)
    warning: Decimal = Field(Decimal(3), gt=0, lt=100)
    critical: Decimal = Field(Decimal(4), gt=0, lt=100)
    circuit_breaker: Decimal = Field(Decimal(5), gt=0, lt=100)

    @model_validator(mode="after")
    def _increasing(self) -> Self:
        if not self.alert < self.warning < self.critical < self.circuit_breaker:
            raise ValueError(
                "drawdown levels must increase: alert < warning < critical < circuit_breaker "
                f"(got {self.alert}, {self.warning}, {self.critical}, {self.circuit_breaker})"
            )
        return self


class HealthWeights(Section):
    """Weights of the portfolio health score's three penalties (they must sum to 100).

    See :mod:`tapeflow.execution.health` for the formula. Defaults: daily drawdown 50, open
    (unrealised) loss 30, share of open positions at a loss 20.
    """

    drawdown: Decimal = Field(Decimal(50), ge=0, le=100)
    open_loss: Decimal = Field(Decimal(30), ge=0, le=100)
    losing_share: Decimal = Field(Decimal(20), ge=0, le=100)

    @model_validator(mode="after")
    def _sum(self) -> Self:
        total = self.drawdown + self.open_loss + self.losing_share
        if total != 100:
            raise ValueError(
                f"health weights must sum to 100 (drawdown {self.drawdown} + open_loss "
                f"{self.open_loss} + losing_share {self.losing_share} = {total})"
            )
        return self


class PortfolioHealthSettings(Section):
    """The portfolio health score and its actions (seed 001 §8.3, its numbers the defaults).

    Attributes:
        enabled: compute the score and act on it.
        check_interval_s: seconds between scores (10); on the wall clock live, on the
            market clock (exchange time of the ticks) in a replay.
        stop_entries_below: below this score new entries are refused (70).
        tighten_below: below this every trailing stop is tightened to ``tighten_to_pct``
            (50).
        close_worst_below: below this the ``close_worst_count`` positions with the worst
            unrealised P&L are closed, at every check while the score stays below (30).
        tighten_to_pct: trailing distance, percent of price, stops are tightened to (0.3).
        close_worst_count: positions closed per check below ``close_worst_below`` (2).
        weights: the score's penalty weights (:class:`HealthWeights`).

    Validation: ``close_worst_below < tighten_below < stop_entries_below`` (all in 0–100).
    """

    enabled: bool = True
    check_interval_s: float = Field(10.0, gt=0, le=3600)
    stop_entries_below: Decimal = Field(Decimal(70), gt=0, le=100)
    tighten_below: Decimal = Field(Decimal(50), gt=0, le=100)
    close_worst_below: Decimal = Field(Decimal(30), gt=0, le=100)
    tighten_to_pct: Decimal = Field(Decimal("0.3"), gt=0, lt=100)
    close_worst_count: int = Field(2, ge=1, le=100)
    weights: HealthWeights = HealthWeights()

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.close_worst_below < self.tighten_below < self.stop_entries_below:
            raise ValueError(
                "health thresholds must increase: close_worst_below < tighten_below < "
                f"stop_entries_below (got {self.close_worst_below}, {self.tighten_below}, "
                f"{self.stop_entries_below})"
            )
        return self


DumpSignal = Literal[
    "volume_reversal", "flow_flip", "momentum_break", "liquidity_drop", "resistance_reject"
]
ALL_DUMP_SIGNALS: tuple[DumpSignal, ...] = (
    "volume_reversal",
    "flow_flip",
    "momentum_break",
    "liquidity_drop",
    "resistance_reject",
)


class DumpSettings(Section):
    """Dump detection (seed 001 §8.3 ``dump_detection``; its numbers are the defaults;
    the rules in :mod:`tapeflow.execution.dump`).

    Attributes:
        enabled: check open longs at every 1m candle close.
        signals: which signals may exit (default all five).
        reversal_candles: consecutive closed 1m candles of sell dominance (3).
        sell_buy_ratio: taker-sell volume must exceed this multiple of taker-buy (1.5).
        flow_window_s: the order-flow window, seconds (60).
        flow_flip_below: taker-buy / taker-sell of that window below this fires (0.4).
        ema_period: EMA period over closed 5m candles (20).
        liquidity_drop_pct: drop of traded quote volume, percent, window over window (30).
        liquidity_window_min: the window, minutes (10).
        liquidity_meme_only: only for ``asset_class: meme`` symbols (True, as in the seed).
        resistance_lookback: candles whose highest high is the resistance (20).
    """

    enabled: bool = True
    signals: tuple[DumpSignal, ...] = ALL_DUMP_SIGNALS
    reversal_candles: int = Field(3, ge=1, le=60)
    sell_buy_ratio: Decimal = Field(Decimal("1.5"), gt=0)
    flow_window_s: int = Field(60, ge=1, le=3600)
    flow_flip_below: float = Field(0.4, gt=0)
    ema_period: int = Field(20, ge=2, le=500)
    liquidity_drop_pct: Decimal = Field(Decimal(30), gt=0, lt=100)
    liquidity_window_min: int = Field(10, ge=1, le=1440)
    liquidity_meme_only: bool = True
    resistance_lookback: int = Field(20, ge=1, le=500)


class CorrelationSettings(Section):
    """Correlation exits (seed 001 §8.3 ``correlation_exit``; its numbers the defaults;
    the rule in :mod:`tapeflow.execution.correlation`).

    Attributes:
        enabled: check every ``check_interval_s``.
        leaders: the market leaders' native symbols on the engine's venue.
        leader_drop_pct: a leader down this much (percent) over ``drop_window_min`` (1.5).
        drop_window_min: the window of the leader's drop, minutes (60; the seed gives no
            window).
        min_correlation: exit open longs in other symbols whose correlation with the
            leader is at least this (0.7).
        window_hours: the correlation's rolling window of 1m log returns (24).
        min_points: fewest 1m returns a correlation is computed from (30).
        check_interval_s: seconds of the engine's clock between checks (60).
    """

    enabled: bool = True
    leaders: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    leader_drop_pct: Decimal = Field(Decimal("1.5"), gt=0, lt=100)
    drop_window_min: int = Field(60, ge=1, le=1440)
    min_correlation: float = Field(0.7, ge=-1, le=1)
    window_hours: int = Field(24, ge=1, le=24 * 30)
    min_points: int = Field(30, ge=3)
    check_interval_s: float = Field(60.0, gt=0, le=86_400)


class RetrySettings(Section):
    """Exponential backoff for network, rate-limit (429/418) and 5xx errors only.

    Attributes:
        attempts: total attempts including the first.
        initial_wait_s: wait before the second attempt, seconds; doubles (``multiplier``)
            per attempt up to ``max_wait_s``.
        max_retry_after_s: a server's ``Retry-After`` is honoured up to this many seconds.
    """

    attempts: int = Field(5, ge=1, le=20)
    initial_wait_s: float = Field(0.25, ge=0)
    multiplier: float = Field(2.0, ge=1)
    max_wait_s: float = Field(8.0, ge=0)
    max_retry_after_s: float = Field(30.0, ge=0)


class BreakerSettings(Section):
    """Per-exchange circuit breaker: open after ``failure_threshold`` consecutive failed
    requests, half-open (one trial request) after ``cooldown_s`` seconds."""

    failure_threshold: int = Field(5, ge=1)
    cooldown_s: float = Field(30.0, gt=0)


class FlattenSettings(Section):
    """Flatten on exit (seed 000, appendix "liquidation"): when ``enabled`` (or
    ``tapeflow run --flatten-on-exit``), shutdown cancels every open order and closes every
    position before the process ends.

    Attributes:
        enabled: flatten at every shutdown.
        close_positions, cancel_orders: what flattening does (both by default).
        timeout_s: how long one attempt waits for the exits to fill, seconds (5).
        max_retries: attempts in all before giving up and reporting what is left (3).
    """

    enabled: bool = False
    close_positions: bool = True
    cancel_orders: bool = True
    timeout_s: float = Field(5.0, gt=0)
    max_retries: int = Field(3, ge=1, le=20)


class RestingStopSettings(Section):
    """The protective stop order that rests on the exchange while a position is open
    (seed 001 §7.1–7.2: orders through CCXT, fills from the user-data stream).

    Attributes:
        enabled: after an entry fills, place a reduce-only stop at the position's current
            protective stop level (futures ``stop_market``, spot ``stop_limit``) and move it
            as the stop ratchets; off leaves protection to the engine's tick enforcement.
        min_move_interval_s: at most one cancel/replace per position in this many seconds
            — of the engine clock on the paper exchange (tick time in a replay), of the wall
            clock on a live venue; a ratchet in between is applied when the interval has
            passed, at the latest level.
        spot_limit_offset_pct: a spot stop-loss-limit's limit price lies this far beyond
            its stop price (percent; below for a sell, above for a buy), so a fast market
            still fills it.
        poll_interval_s: live venues: how often (wall seconds) the live stop orders are
            looked up by client order id to learn a fill while the user-data stream is
            down or not running; 0 = on every trade.
        user_stream: live Binance spot/USD-M: learn fills from the user-data stream
            (:mod:`tapeflow.execution.user_stream`; seed 001 §7.2) — an order event of a
            resting stop is looked up and booked at once; ignored on the paper exchange
            and on venues without one.
        stream_poll_interval_s: while the user-data stream is connected, the poll runs
            this rarely instead (wall seconds; a safety net, the stream is the fast path).
        keepalive_interval_s: how often the listen key is kept alive (Binance: a key
            lives 60 minutes; it recommends a keepalive every 30).
        user_stream_url: the stream's websocket base (``<base>/ws/<listenKey>``); None =
            Binance's (spot ``wss://stream.binance.com:9443``, USD-M
            ``wss://fstream.binance.com``), or the ``--api-url`` host with ``ws://`` when
            the REST calls go to a local server.
    """

    enabled: bool = True
    min_move_interval_s: float = Field(1.0, ge=0)
    spot_limit_offset_pct: Decimal = Field(Decimal("0.5"), gt=0, lt=50)
    poll_interval_s: float = Field(5.0, ge=0)
    user_stream: bool = True
    stream_poll_interval_s: float = Field(60.0, ge=0)
    keepalive_interval_s: float = Field(1800.0, gt=0, le=3000)
    user_stream_url: str | None = Field(None, pattern=r"^wss?://[^/\s]+(/[^\s]*)?$")


class ExecutionSettings(Section):
    """How signals become orders.

    Attributes:
        mode: ``paper`` (default; the built-in paper exchange) or ``live`` (ccxt).
        exchange, market: the venue (``binance`` + ``spot``/``usdm``; ``bybit`` +
            ``spot``/``linear``).
        quote_asset: the account currency equity, drawdown and P&L are measured in; a pair
            quoted in another asset is sized in that asset, converted at the current price
            (:mod:`tapeflow.execution.accounts`).
        fee_bps, slippage_bps: paper exchange taker fee and adverse slippage, basis points.
        paper_balance: paper starting balance in ``quote_asset`` (shorthand for
            ``paper_balances: {quote_asset: amount}``; 10,000 when neither is set).
        paper_balances: paper starting balances per asset (``{USDT: 10000, ETH: 5}``);
            exclusive with ``paper_balance``. A futures account keeps only its quote
            asset's amount (its wallet; other assets are not margin).
        reference_prices: paper mode only: price of one unit of an asset in
            ``quote_asset`` (``{ETH: 180.50}``), used to convert when no trade of the
            pairing market (``ETHUSDT``) has been seen — replays of history, offline runs.
            Live converts at market prices only.
        handlers: chain order; every name at most once; ``placement`` required, ``sizing``
            before ``exposure`` and ``placement``, ``monitoring`` after ``placement``.
        max_concurrent: most positions open (or pending) at once.
        max_total_notional, max_symbol_notional: exposure caps in quote currency (entry
            notional of open positions plus the new one); ``None`` = no cap.
        drawdown: daily drawdown levels (percent).
        critical_tighten_factor: at the critical level every trailing distance is
            multiplied by this (0.5 halves it); ``None`` leaves stops alone.
        block_entries_at_critical: refuse new entries from the critical level on.
        request_timeout_ms: per-request timeout of the exchange client.
        retry, breaker: see :class:`RetrySettings`, :class:`BreakerSettings`.
        risk: default per-symbol risk; ``symbol_risk`` overrides it per
            ``"exchange/market/SYMBOL"``.
        stop_persist_interval_s: how often trailing-stop state is written to the store.
        risk_check_interval_s: how often equity is re-measured for the drawdown levels and
            hold times are checked (0 = on every tick); seconds of the engine's clock.
        timer_interval_s: live, the engine's timer wakes this often (wall seconds) and runs
            the time-driven checks that are due (drawdown, hold time, health score), so a
            dead feed does not leave positions unmanaged. Replays drive the same checks
            from the exchange time of their ticks instead.
        max_trades_per_day: most entries per UTC day (seed 004: 5); ``None`` = no cap.
        max_trades_per_hour: most entries in any rolling hour; ``None`` = no cap.
        health: the portfolio health score (:class:`PortfolioHealthSettings`).
        flatten: flatten on exit (:class:`FlattenSettings`).
        dump: dump detection (:class:`DumpSettings`; needs the tick store: ``tapeflow run``).
        correlation: correlation exits (:class:`CorrelationSettings`; same).
        resting_stops: the exchange-side protective stop (:class:`RestingStopSettings`).
    """

    mode: Literal["paper", "live"] = "paper"
    exchange: str = "binance"
    market: str = "usdm"
    quote_asset: str = "USDT"
    fee_bps: Decimal = Field(Decimal(4), ge=0, le=1000)
    slippage_bps: Decimal = Field(Decimal(1), ge=0, le=1000)
    paper_balance: Decimal = Field(Decimal(10_000), gt=0)
    paper_balances: dict[str, Decimal] = Field(default_factory=dict)
    reference_prices: dict[str, Decimal] = Field(default_factory=dict)
    handlers: tuple[HandlerName, ...] = DEFAULT_HANDLERS
    max_concurrent: int = Field(5, ge=1)
    max_total_notional: Decimal | None = Field(None, gt=0)
    max_symbol_notional: Decimal | None = Field(None, gt=0)
    drawdown: DrawdownLevels = DrawdownLevels()
    critical_tighten_factor: Decimal | None = Field(Decimal("0.5"), gt=0, lt=1)
    block_entries_at_critical: bool = True
    request_timeout_ms: int = Field(10_000, ge=100)
    retry: RetrySettings = RetrySettings()
    breaker: BreakerSettings = BreakerSettings()
    risk: RiskSettings = RiskSettings()
    symbol_risk: dict[str, RiskSettings] = Field(default_factory=dict)
    stop_persist_interval_s: float = Field(1.0, ge=0)
    risk_check_interval_s: float = Field(1.0, ge=0)
    flatten: FlattenSettings = FlattenSettings()
    timer_interval_s: float = Field(1.0, gt=0, le=60)
    max_trades_per_day: int | None = Field(5, ge=1)
    max_trades_per_hour: int | None = Field(None, ge=1)
    health: PortfolioHealthSettings = PortfolioHealthSettings()
    dump: DumpSettings = DumpSettings()
    correlation: CorrelationSettings = CorrelationSettings()
    resting_stops: RestingStopSettings = RestingStopSettings()

    @model_validator(mode="after")
    def _check(self) -> Self:
        names = list(self.handlers)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"handlers: {', '.join(dupes)} listed more than once")
        if "placement" not in names:
            raise ValueError("handlers: 'placement' is required (no orders without it)")
        place = names.index("placement")
        if "sizing" not in names or names.index("sizing") > place:
            raise ValueError("handlers: 'sizing' is required before 'placement'")
        if "exposure" in names and names.index("exposure") < names.index("sizing"):
            raise ValueError("handlers: 'exposure' needs the size, so it must come after 'sizing'")
        if "monitoring" in names and names.index("monitoring") < place:
            raise ValueError("handlers: 'monitoring' must come after 'placement'")
        self._check_accounts()
        for text in self.symbol_risk:
            try:
                SymbolKey.parse(text)
            except InvalidSymbolError as exc:
                raise ValueError(f"symbol_risk key {text!r}: {exc}") from None
        return self

    def _check_accounts(self) -> None:
        if self.paper_balances and "paper_balance" in self.model_fields_set:
            raise ValueError(
                "paper_balance and paper_balances are exclusive: give the quote balance "
                f"inside paper_balances (e.g. {{{self.quote_asset}: {self.paper_balance}}})"
            )
        for name, table, low in (
            ("paper_balances", self.paper_balances, "≥ 0"),
            ("reference_prices", self.reference_prices, "> 0"),
        ):
            for asset, amount in table.items():
                if not ASSET.fullmatch(asset):
                    raise ValueError(
                        f"{name}.{asset}: an asset code is 1-20 upper-case letters/digits"
                    )
                if amount < 0 or (low == "> 0" and amount == 0):
                    raise ValueError(f"{name}.{asset}: must be {low} (got {amount})")
        if self.paper_balances and not any(self.paper_balances.values()):
            raise ValueError("paper_balances: at least one balance must be > 0")
        if self.quote_asset in self.reference_prices:
            raise ValueError(
                f"reference_prices.{self.quote_asset}: the account currency is worth 1 by "
                "definition; give the prices of other assets in it"
            )
        if self.reference_prices and self.mode == "live":
            raise ValueError(
                "reference_prices: paper mode only; live sizing converts at market prices "
                "(configure the pairing symbol, e.g. ETHUSDT, so its trades arrive)"
            )

    @property
    def starting_balances(self) -> dict[str, Decimal]:
        """Paper starting balances per asset: ``paper_balances``, else ``{quote_asset:
        paper_balance}``."""
        return dict(self.paper_balances) or {self.quote_asset: self.paper_balance}

    def risk_for(self, key: SymbolKey) -> RiskSettings:
        """The risk settings of ``key``: its override, else the default ``risk``."""
        return self.symbol_risk.get(str(key), self.risk)
