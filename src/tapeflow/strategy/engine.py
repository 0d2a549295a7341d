"""The hierarchical strategy engine: regime → zone → cascade → bounce → confluence, per
symbol, on every closed candle of the symbol's fastest timeframe.

Reads (all through :mod:`tapeflow.strategy.reads`, i.e. the analytics SQL):

* longest-timeframe closed candles — once at startup (``detection.history_candles`` of
  them) and then only the newly closed ones, fed to the incremental
  :class:`~tapeflow.strategy.features.LongestFeatures` (indicators, zones, FVGs, structure);
* at the zone level: the last ``bounce.volume_lookback + 1`` fastest candles (the evaluated
  candle's close is the price), and the market profile of the last ``zone.profile_candles``
  longest candles (cached until the next longest candle closes);
* at the cascade level: the three trailing imbalances ending at the candle's close (summed
  from the cached candles' taker volumes; ``flow_window`` over the ticks when the cache does
  not cover them).

A symbol in a ranging regime therefore reads nothing. Every evaluation is appended to the
symbol's ``decision_log`` (in batches, off the evaluation path:
:mod:`tapeflow.strategy.writer`); a signal is published on the bus at once as
:class:`~tapeflow.bus.SignalGenerated`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import polars as pl

from tapeflow.analytics.closed_candles import iter_candles
from tapeflow.bus import EventBus, Subscription
from tapeflow.config.app import AppConfig
from tapeflow.config.symbols import SymbolConfig
from tapeflow.model.events import CandleClosed, ConnectionRestored, SignalGenerated
from tapeflow.model.signals import TradeSignal
from tapeflow.model.symbols import SymbolKey
from tapeflow.model.timeframes import floor_time, timeframe_delta
from tapeflow.store import TickStore
from tapeflow.strategy import reads
from tapeflow.strategy.confluence import confluence, confluence_level
from tapeflow.strategy.decision_log import Decision
from tapeflow.strategy.features import FeatureParams, LongestFeatures
from tapeflow.strategy.inputs import Direction, IndicatorRow, ProfileSummary
from tapeflow.strategy.jsonable import jsonable
from tapeflow.strategy.levels import (
    LevelResult,
    bounce_level,
    cascade_level,
    regime_level,
    zone_level,
)
from tapeflow.strategy.writer import DecisionWriter

log = logging.getLogger(__name__)


def _utc(t: datetime) -> datetime:
    """``t`` as an aware UTC time (a naive ``t`` is taken as UTC)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


class LazyConnection:
    """A symbol's store connection, leased from the pool on first use only — an evaluation
    that stops at the regime (no new longest candle due) never touches the store."""

    def __init__(self, store: TickStore, key: SymbolKey, stack: ExitStack) -> None:
        self._store, self._key, self._stack = store, key, stack
        self._con: duckdb.DuckDBPyConnection | None = None

    def __call__(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB cursor on the symbol's database (leased now if not yet)."""
        if self._con is None:
            self._con = self._stack.enter_context(self._store.connection(self._key))
        return self._con


@dataclass(slots=True)
class SymbolRuntime:
    """The engine's state for one symbol."""

    config: SymbolConfig
    params: FeatureParams
    features: LongestFeatures
    price_step: Decimal | None = None
    first_tick: datetime | None = None
    fed_until: datetime | None = None  # longest candles opening before this were read
    cache: reads.CacheHint = field(default_factory=reads.CacheHint)
    profile_key: datetime | None = None
    profile: ProfileSummary | None = None
    evaluations: int = 0
    signals: int = 0
    reached: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> SymbolKey:
        """The symbol."""
        return self.config.key


def _lean(row: IndicatorRow) -> Direction:
    """Direction to evaluate the later levels in when the regime gave none (diagnostics
    only): the side of EMA fast the close is on."""
    if row.close is not None and row.ema_fast is not None and row.close < row.ema_fast:
        return "short"
    return "long"


class StrategyEngine:
    """Evaluates the configured symbols; see the module docstring.

    Args:
        store: the tick store (read-write: the decision log is written to each symbol's
            database).
        symbols: symbol configurations (disabled ones are ignored).
        bus: where signals are published (``on_candle_closed``); optional for direct use.
        all_levels: evaluate every level even after one fails (diagnostics, benchmarks);
            a signal still needs all levels to pass.
        write_interval_s: the decision log is written in batches off the evaluation path
            (:class:`~tapeflow.strategy.writer.DecisionWriter`): every this many seconds once
            :meth:`start` (or :meth:`subscribe`) started its thread; otherwise on
            :meth:`flush`. Call :meth:`close` on shutdown.
        max_pending: a symbol with this many unwritten decisions is written at once.
        clock: wall clock for ``evaluated_at`` (UTC).
    """

    def __init__(
        self,
        store: TickStore,
        symbols: Iterable[SymbolConfig],
        *,
        bus: EventBus | None = None,
        all_levels: bool = False,
        write_interval_s: float = 2.0,
        max_pending: int = 256,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.bus = bus
        self.all_levels = all_levels
        self.clock = clock
        self.writer = DecisionWriter(store, interval_s=write_interval_s, max_pending=max_pending)
        self._rt: dict[SymbolKey, SymbolRuntime] = {}
        for cfg in (c for c in symbols if c.enabled):
            params = FeatureParams.from_settings(cfg.strategy)
            self._rt[cfg.key] = SymbolRuntime(cfg, params, LongestFeatures(params))

    @classmethod
    def from_config(
        cls, store: TickStore, config: AppConfig, *, bus: EventBus | None = None, **options
    ) -> StrategyEngine:
        """An engine for every enabled symbol of ``config`` (``options``: see the class)."""
        return cls(store, config.enabled_symbols, bus=bus, **options)

    @property
    def symbols(self) -> list[SymbolKey]:
        """The symbols this engine evaluates."""
        return list(self._rt)

    def runtime(self, key: SymbolKey) -> SymbolRuntime:
        """The engine state of ``key``.

        Raises:
            KeyError: ``key`` is not an enabled, configured symbol.
        """
        try:
            return self._rt[key]
        except KeyError:
            raise KeyError(f"{key} is not an enabled symbol of this strategy engine") from None

    # ------------------------------------------------------------------ features

    def warm_up(
        self, keys: Iterable[SymbolKey] | None = None, as_of: datetime | None = None
    ) -> None:
        """Compute each symbol's features from its stored history: the last
        ``detection.history_candles`` closed longest-timeframe candles before ``as_of``
        (default: the last stored tick), and its current market profile. Symbols without a
        database start empty."""
        stored = set(self.store.symbols())
        for key in list(keys) if keys is not None else list(self._rt):
            rt = self.runtime(key)
            if key not in stored:
                continue
            with ExitStack() as stack:
                con = LazyConnection(self.store, key, stack)
                end = as_of or reads.last_tick_time(con())
                if end is None:
                    continue
                self._rebuild(rt, con, end)
                # read now what the first deep evaluation would otherwise wait for
                rt.first_tick = reads.first_tick_time(con())
                for tf in (rt.config.timeframes.fastest, rt.config.timeframes.longest):
                    rt.cache.covers(con(), tf, datetime.max)  # remembers the watermark
                if rt.config.strategy.zone.use_profile_levels:
                    self._profile(rt, con)

    def _rebuild(self, rt: SymbolRuntime, con: LazyConnection, end: datetime) -> None:
        tf = rt.config.timeframes.longest
        width = timeframe_delta(tf)
        stop = floor_time(_utc(end), width)
        start = stop - width * rt.config.strategy.detection.history_candles
        seg = reads.segment_candles(con(), tf, start, stop, rt.config.candles.max_quiet)
        self._restart(rt, seg)
        first = rt.features.first_open_time or seg.segment_start
        if rt.features.data_gap is None and first is not None and first > start:
            # the segment began inside the window: data before it is behind a gap (or none)
            before = reads.last_candle_before(con(), tf, first)
            rt.features.data_gap = None if before is None else (before, first)
        rt.profile_key = None
        self._mark_fed(rt, con, stop)
        if rt.price_step is None:
            rt.price_step = reads.price_step(con())

    @staticmethod
    def _restart(rt: SymbolRuntime, seg: reads.SegmentRead) -> None:
        """Features from the current segment's candles alone (warming up again after a data
        gap: nothing before the break is used)."""
        rt.features = LongestFeatures.from_history(seg.candles, rt.params)
        if seg.gap_before is not None and seg.segment_start is not None:
            rt.features.data_gap = (seg.gap_before, seg.segment_start)
        rt.profile_key = None

    @staticmethod
    def _mark_fed(rt: SymbolRuntime, con: LazyConnection, stop: datetime) -> None:
        """Remember that every longest candle opening before ``stop`` has been asked for —
        if the tape proves they are all closed (a tick at or after ``stop``), so that the
        store is not asked again before the next longest candle can close."""
        last = rt.features.last_open_time
        width = timeframe_delta(rt.config.timeframes.longest)
        if last is not None and last + width >= stop:
            rt.fed_until = stop
            return
        tape_end = reads.last_tick_time(con())
        rt.fed_until = stop if tape_end is not None and tape_end >= stop else None

    def _catch_up(self, rt: SymbolRuntime, con: LazyConnection, now: datetime) -> None:
        """Feed the longest candles that closed by ``now`` since the last one fed (for a
        symbol with no candle yet: since the store was last found to hold none). More than
        ``history_candles`` due (a long outage) → recompute from history instead."""
        width = timeframe_delta(rt.config.timeframes.longest)
        stop = floor_time(now, width)  # open time of the candle still forming at `now`
        if rt.fed_until is not None and stop <= rt.fed_until:
            return  # nothing new can have closed
        last = rt.features.last_open_time
        start = last + width if last is not None else rt.fed_until
        if start is None or (stop - start) // width > rt.config.strategy.detection.history_candles:
            self._rebuild(rt, con, now)
            return
        tf = rt.config.timeframes.longest
        fresh = reads.continued_candles(
            con(), tf, last or start, stop, rt.cache, include_last=last is None
        )
        if fresh is not None:  # the cache proves the series runs on: no data gap since
            for candle in fresh:
                rt.features.update(candle)
            self._mark_fed(rt, con, stop)
            return
        quiet = rt.config.candles.max_quiet
        seg = reads.segment_candles(con(), tf, last or start, stop, quiet)
        times = seg.candles["open_time"]
        if last is None or seg.broken or (times.len() and times[0] != last):
            # a data gap since the last candle fed (or nothing fed yet): start over from the
            # candles after it, which are all the current segment has
            gap = rt.features.data_gap
            self._restart(rt, seg)
            if last is not None and rt.features.data_gap is None and seg.segment_start:
                rt.features.data_gap = (last, seg.segment_start)
            elif last is None and rt.features.data_gap is None:
                rt.features.data_gap = gap
        else:
            for candle in iter_candles(seg.candles.filter(pl.col("open_time") >= start)):
                rt.features.update(candle)
        self._mark_fed(rt, con, stop)

    def _profile(self, rt: SymbolRuntime, con: LazyConnection) -> ProfileSummary | None:
        """Market profile of the last ``zone.profile_candles`` closed longest candles, cached
        per longest candle."""
        last = rt.features.last_open_time
        if last is None:
            return None
        if rt.profile_key == last:
            return rt.profile
        cfg = rt.config
        if rt.price_step is None:
            rt.price_step = reads.price_step(con())
        tick = cfg.profile.tick_size or rt.price_step
        rt.profile_key, rt.profile = last, None
        if tick is None:
            return None
        width = timeframe_delta(cfg.timeframes.longest)
        end = last + width
        start = end - width * cfg.strategy.zone.profile_candles
        bucket = tick * cfg.profile.bucket_ticks
        rt.profile = reads.profile_summary(con(), start, end, bucket, cfg.profile.value_area_pct)
        return rt.profile

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, key: SymbolKey, candle_time: datetime) -> Decision:
        """Evaluate the closed fastest-timeframe candle opening at ``candle_time`` (UTC) and
        record the decision in the symbol's ``decision_log``.

        Raises:
            KeyError: ``key`` is not an enabled symbol of this engine.
            tapeflow.store.UnknownSymbolError: the symbol has no database.
        """
        started = time.perf_counter()
        rt = self.runtime(key)
        tfs = rt.config.timeframes
        candle_time = floor_time(_utc(candle_time), tfs.fastest)
        now = candle_time + timeframe_delta(tfs.fastest)
        with ExitStack() as stack:
            con = LazyConnection(self.store, key, stack)
            self._catch_up(rt, con, now)
            decision = self._decide(rt, con, candle_time, now, started)
        self.writer.add(decision)
        rt.evaluations += 1
        rt.reached[decision.level_reached] = rt.reached.get(decision.level_reached, 0) + 1
        if decision.signal is not None:
            rt.signals += 1
        return decision

    def _decide(
        self,
        rt: SymbolRuntime,
        con: LazyConnection,
        candle_time: datetime,
        now: datetime,
        started: float,
    ) -> Decision:
        cfg = rt.config
        s, tfs = cfg.strategy, cfg.timeframes
        row = rt.features.indicator_row()
        levels: list[LevelResult] = []

        def done(direction: Direction | None = None, sig: TradeSignal | None = None) -> Decision:
            return Decision(
                key=rt.key,
                candle_time=candle_time,
                timeframe=tfs.fastest,
                strategy=s.name,
                evaluated_at=self.clock(),
                levels=tuple(levels),
                direction=direction,
                signal=sig,
                elapsed_us=int((time.perf_counter() - started) * 1e6),
                context=rt.features.summary(),
            )

        regime = regime_level(row, s.regime, data_gap=rt.features.data_gap)
        levels.append(regime)
        direction = regime.direction
        if not (regime.passed or self.all_levels):
            return done()
        side: Direction = direction or _lean(row)

        # level 2: zone, at the last traded price up to the evaluated candle's close
        lookback = s.bounce.volume_lookback
        width = timeframe_delta(tfs.fastest)
        bars = reads.recent_bars(con(), tfs.fastest, candle_time, lookback + 1, rt.cache)
        if not bars:
            levels.append(
                LevelResult(
                    "zone", False, f"no trades in the last {lookback + 1} {tfs.fastest} candles"
                )
            )
            return done(direction)
        close = bars[-1].close
        profile = self._profile(rt, con)
        zones = rt.features.live_zones()
        zone = zone_level(side, close, row.atr, zones, profile, s.zone, rt.price_step)
        levels.append(zone)
        if not (zone.passed or self.all_levels):
            return done(direction)

        # level 3: order-flow cascade over the trailing windows ending at the close
        windows = [tfs.seconds("fastest"), tfs.seconds("middle"), tfs.seconds("longest")]
        flow = reads.flow(con(), tfs.fastest, now, windows, rt.cache)
        cascade = cascade_level(side, flow, s.cascade)
        levels.append(cascade)
        if not (cascade.passed or self.all_levels):
            return done(direction)

        # level 4: bounce of the evaluated candle off the zone, on a volume spike
        if zone.zone is None:
            levels.append(LevelResult("bounce", False, "no zone to bounce from"))
            return done(direction)
        # a zone level that found a zone also sets its stop and tolerance (levels.zone_level)
        assert zone.stop is not None and zone.tolerance is not None, "zone without stop"
        bar = bars[-1] if bars[-1].open_time == candle_time else None
        if rt.first_tick is None:
            rt.first_tick = reads.first_tick_time(con())
        covered = rt.first_tick is not None and (
            floor_time(rt.first_tick, width) <= candle_time - lookback * width
        )
        previous = (
            sum((b.volume for b in bars if b.open_time < candle_time), Decimal(0))
            if covered
            else None
        )
        bounce = bounce_level(side, bar, previous, zone.zone, zone.tolerance, s.bounce)
        levels.append(bounce)
        if not (bounce.passed or self.all_levels):
            return done(direction)

        # confluence gate
        conf = confluence(
            side,
            close,
            zone.stop,
            zone.zone,
            row,
            profile,
            zones,
            rt.features.live_gaps(),
            s.confluence,
        )
        gate = confluence_level(conf, s.confluence)
        levels.append(gate)
        if not all(r.passed for r in levels):
            return done(direction)
        # passed cascade and bounce levels always carry their value (levels.py)
        assert cascade.value is not None and bounce.value is not None, "passed level, no value"
        fast = cascade.value
        directional = fast if side == "long" else (1 / fast if fast else float("inf"))
        sig = TradeSignal(
            key=rt.key,
            direction=side,
            entry_price=close,
            stop_loss=zone.stop,
            candle_time=candle_time,
            strategy=s.name,
            entry_score=bounce.value * directional,
            zone_strength=zone.zone.strength,
            confluence=conf.score,
            probability=conf.probability,
            metrics={r.level: jsonable(r.metrics) for r in levels},
            target=conf.target,
        )
        return done(direction, sig)

    def start(self) -> None:
        """Start writing the decision log in the background (the live process)."""
        self.writer.start()

    def flush(self, keys: Iterable[SymbolKey] | None = None) -> int:
        """Write every queued decision (of ``keys``, default all symbols) now; return how
        many were written."""
        return self.writer.flush(None if keys is None else list(keys))

    def close(self) -> None:
        """Stop the background writer and write everything queued."""
        self.writer.close()

    # ------------------------------------------------------------------ the bus

    def invalidate(self, key: SymbolKey) -> None:
        """Forget ``key``'s features: the next evaluation recomputes them from the store
        (after older trades were inserted, e.g. a repaired gap, the cached candles and
        therefore the features may have changed)."""
        rt = self.runtime(key)
        rt.features = LongestFeatures(rt.params)
        rt.fed_until = None
        rt.profile_key = rt.profile = None

    async def on_connection_restored(self, event: ConnectionRestored) -> None:
        """Bus handler: symbols whose gaps were refilled recompute their features."""
        for key, _first, _last in event.gaps:
            if key in self._rt:
                self.invalidate(key)

    async def on_candle_closed(self, event: CandleClosed) -> None:
        """Bus handler: evaluate on the symbol's fastest timeframe; publish a signal."""
        rt = self._rt.get(event.key)
        if rt is None or event.timeframe != rt.config.timeframes.fastest:
            return
        decision = await asyncio.to_thread(self.evaluate, event.key, event.open_time)
        if decision.signal is not None and self.bus is not None:
            await self.bus.publish(SignalGenerated(signal=decision.signal))

    def subscribe(self, bus: EventBus | None = None) -> Subscription:
        """Subscribe :meth:`on_candle_closed` to ``CandleClosed`` and
        :meth:`on_connection_restored` to ``ConnectionRestored`` on ``bus`` (or
        ``self.bus``), and start the background decision-log writer (:meth:`close` stops it).
        Returns the ``CandleClosed`` subscription.

        Raises:
            ValueError: no bus given.
        """
        bus = bus or self.bus
        if bus is None:
            raise ValueError("no event bus to subscribe to")
        self.bus = bus
        self.start()
        bus.subscribe(ConnectionRestored, self.on_connection_restored, name="strategy-gaps")
        return bus.subscribe(
            CandleClosed, self.on_candle_closed, name="strategy", overflow="block", timeout_s=30.0
        )

    def stats(self) -> dict[str, dict]:
        """Per symbol: evaluations, signals and evaluations per level reached."""
        return {
            str(k): {
                "evaluations": rt.evaluations,
                "signals": rt.signals,
                "reached": dict(rt.reached),
            }
            for k, rt in self._rt.items()
        }
