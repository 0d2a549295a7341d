"""Early exits read from the market's tape (seed 001 §8.3): dump detection at each 1m
candle close (:mod:`tapeflow.execution.dump`) and correlation exits when a leader dumps
(:mod:`tapeflow.execution.correlation`).

Both read the tick store through the analytics queries, in a worker thread, and close
positions through the engine's ``force_exit`` (which publishes ``ForceExitRequired``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from tapeflow.config.execution import ExecutionSettings
from tapeflow.execution.correlation import LeaderDump, change_pct, closes_1m, correlation
from tapeflow.execution.dump import DumpInputs, dump_signals, read_dump_inputs
from tapeflow.execution.portfolio import ForceExit
from tapeflow.execution.positions import PositionBook
from tapeflow.model.events import CandleClosed
from tapeflow.model.records import Position
from tapeflow.model.symbols import SymbolKey
from tapeflow.store import TickStore, UnknownSymbolError

log = logging.getLogger(__name__)

ONE_MINUTE = timedelta(minutes=1)


class MarketExits:
    """Dump detection and correlation exits for one venue's engine.

    Args:
        settings: ``dump`` and ``correlation`` rules; the venue (``exchange``/``market``).
        ticks: the tick store (read through the analytics).
        book: the active positions.
        marks: last trade price per symbol (quote).
        force_exit: closes a position for a rule.
    """

    def __init__(
        self,
        settings: ExecutionSettings,
        ticks: TickStore,
        book: PositionBook,
        marks: dict[SymbolKey, Decimal],
        force_exit: ForceExit,
    ) -> None:
        self.settings = settings
        self.ticks = ticks
        self.book = book
        self.marks = marks
        self.force_exit = force_exit
        self.last_dumps: list[LeaderDump] = []

    def _open_longs(self, key: SymbolKey | None = None) -> list[Position]:
        return [p for p in self.book.active(key) if p.status == "open" and p.direction == "long"]

    # -- dump detection ------------------------------------------------------------------

    async def on_candle_closed(self, event: CandleClosed) -> list[str]:
        """At a 1m candle close: check the symbol's open longs for dump signals and exit
        them if any fires. Returns the signals that fired."""
        if event.timeframe != "1m" or not self.settings.dump.enabled:
            return []
        longs = self._open_longs(event.key)
        if not longs:
            return []
        price = self.marks.get(event.key, event.close)
        if price is None:
            return []
        end = event.open_time + ONE_MINUTE
        inputs = await asyncio.to_thread(self._read_dump, event.key, end, price)
        meme = self.settings.risk_for(event.key).asset_class == "meme"
        fired = dump_signals(inputs, self.settings.dump, meme=meme)
        if fired:
            reason = f"dump detected at the {event.open_time:%H:%M} 1m close: {', '.join(fired)}"
            log.warning("%s: %s", event.key, reason)
            for pos in longs:
                await self.force_exit(pos, "dump", reason)
        return list(fired)

    def _read_dump(self, key: SymbolKey, end: datetime, price: Decimal) -> DumpInputs:
        with self.ticks.connection(key) as con:
            return read_dump_inputs(con, end, price, self.settings.dump)

    # -- correlation exits ---------------------------------------------------------------

    def leaders(self) -> list[SymbolKey]:
        """The leaders on this venue."""
        s = self.settings
        return [SymbolKey(s.exchange, s.market, sym) for sym in s.correlation.leaders]

    async def check_correlation(self, now: datetime) -> list[LeaderDump]:
        """For each leader down at least ``leader_drop_pct``: exit the open longs of
        non-leader symbols correlated with it at ``min_correlation`` or more. Returns
        what was measured (also kept in :attr:`last_dumps`)."""
        s = self.settings.correlation
        leaders = self.leaders()
        longs = [p for p in self._open_longs() if SymbolKey.parse(p.symbol) not in leaders]
        if not longs:
            return []
        symbols = sorted({p.symbol for p in longs})
        out = []
        for leader in leaders:
            dump = await asyncio.to_thread(self._read_leader, leader, symbols, now)
            if dump is None:
                continue
            out.append(dump)
            if dump.change_pct > -s.leader_drop_pct:
                continue
            log.warning(
                "%s %.3f%% in %d min (threshold -%s%%); correlations %s",
                leader,
                dump.change_pct,
                s.drop_window_min,
                s.leader_drop_pct,
                dump.correlations,
            )
            for pos in longs:
                c = dump.correlations.get(pos.symbol)
                if c is not None and c >= s.min_correlation:
                    await self.force_exit(
                        pos,
                        "correlation",
                        f"{leader.symbol} {dump.change_pct:.3f}% in {s.drop_window_min} min; "
                        f"correlation {c:.3f} >= {s.min_correlation}",
                    )
        self.last_dumps = out
        return out

    def _read_leader(
        self, leader: SymbolKey, symbols: list[str], now: datetime
    ) -> LeaderDump | None:
        s = self.settings.correlation
        start = now - timedelta(hours=s.window_hours)
        try:
            with self.ticks.connection(leader) as con:
                lead = closes_1m(con, start, now)
        except UnknownSymbolError:
            return None
        change = change_pct(lead, now - timedelta(minutes=s.drop_window_min))
        if change is None:
            return None
        correlations: dict[str, float | None] = {}
        if change <= -s.leader_drop_pct:
            for sym in symbols:
                try:
                    with self.ticks.connection(SymbolKey.parse(sym)) as con:
                        other = closes_1m(con, start, now)
                except UnknownSymbolError:
                    correlations[sym] = None
                    continue
                correlations[sym] = correlation(lead, other, s.min_points)
        return LeaderDump(str(leader), change, correlations)


def attach_candles(bus, exits: MarketExits, name: str, trades: Callable[[SymbolKey], bool]) -> None:
    """Subscribe ``exits`` to the 1m candle closes of the venue's symbols on ``bus``."""

    async def handler(event: CandleClosed) -> None:
        if trades(event.key):
            await exits.on_candle_closed(event)

    bus.subscribe(CandleClosed, handler, name=name, overflow="block", timeout_s=60.0)
