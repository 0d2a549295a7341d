"""The decision log: one row per evaluation in the symbol's own database
(``sql/schema/200_decision_log.sql``), so a trader can see why a symbol was rejected and at which
level (``tapeflow explain SYMBOL``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from tapeflow.model.signals import TradeSignal
from tapeflow.model.symbols import SymbolKey
from tapeflow.strategy.inputs import Direction
from tapeflow.strategy.jsonable import dumps, jsonable
from tapeflow.strategy.levels import LEVELS, LevelResult


@dataclass(frozen=True, slots=True)
class Decision:
    """One evaluation of one closed fastest-timeframe candle.

    Attributes:
        key: the symbol. candle_time: open time (UTC) of the evaluated candle.
        timeframe: the fastest timeframe. strategy: the strategy name.
        evaluated_at: wall-clock time of the evaluation (UTC).
        levels: every level evaluated, in order. The evaluation stops at the first failing
            level unless the engine runs with ``all_levels`` (then later levels are recorded
            too, for diagnosis; they never make a signal).
        direction: from the regime, if trending. signal: the emitted signal, if any.
        elapsed_us: evaluation time in microseconds.
        context: feature counts at evaluation (zones, FVGs, order blocks, candles).
    """

    key: SymbolKey
    candle_time: datetime
    timeframe: str
    strategy: str
    evaluated_at: datetime
    levels: tuple[LevelResult, ...]
    direction: Direction | None = None
    signal: TradeSignal | None = None
    elapsed_us: int = 0
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def first_failure(self) -> LevelResult | None:
        """The first level that failed (``None`` when all passed)."""
        return next((r for r in self.levels if not r.passed), None)

    @property
    def level_reached(self) -> str:
        """The level where the evaluation stopped, or ``"signal"``."""
        failed = self.first_failure
        return failed.level if failed else "signal"

    @property
    def reason(self) -> str:
        """Why it stopped (the failing level's reason) or why it signalled."""
        failed = self.first_failure
        if failed:
            return failed.reason
        return self.levels[-1].reason if self.levels else ""

    def passed(self, level: str) -> bool | None:
        """Pass/fail of ``level``; ``None`` if it was not evaluated."""
        return next((r.passed for r in self.levels if r.level == level), None)


def signal_record(sig: TradeSignal) -> dict[str, Any]:
    """A signal as a JSON-able dict (exact prices as strings) with its ``signal_id``."""
    out = jsonable(sig)
    out["key"] = str(sig.key)
    out["signal_id"] = sig.signal_id
    return out


def levels_record(d: Decision) -> dict[str, Any]:
    """``{level: {"passed", "reason", "metrics"}}`` for every evaluated level, plus the
    feature context under ``"context"``."""
    out: dict[str, Any] = {
        r.level: {"passed": r.passed, "reason": r.reason, "metrics": jsonable(r.metrics)}
        for r in d.levels
    }
    out["context"] = jsonable(d.context)
    return out


_COLUMNS: tuple[str, ...] = (
    "candle_time", "timeframe", "strategy", "evaluated_at", "level_reached", "direction",
    "regime_pass", "zone_pass", "cascade_pass", "bounce_pass", "confluence_pass", "reason",
    "levels", "signal", "signal_id", "elapsed_us",
)  # fmt: skip


def _naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def decision_params(d: Decision) -> list[Any]:
    """The ``decision_log`` row of a decision, in :data:`_COLUMNS` order."""
    return [
        _naive(d.candle_time),
        d.timeframe,
        d.strategy,
        _naive(d.evaluated_at),
        d.level_reached,
        d.direction,
        *(d.passed(level) for level in LEVELS),
        d.reason,
        dumps(levels_record(d)),
        dumps(signal_record(d.signal)) if d.signal else None,
        d.signal.signal_id if d.signal else None,
        d.elapsed_us,
    ]


def write_decisions(con: duckdb.DuckDBPyConnection, decisions: Sequence[Decision]) -> None:
    """Append ``decisions`` (all of one symbol) to its ``decision_log`` in one statement (the
    view ``decisions`` shows the latest evaluation per candle)."""
    if not decisions:
        return
    placeholders = ", ".join([f"({', '.join('?' * len(_COLUMNS))})"] * len(decisions))
    con.execute(
        f"INSERT INTO decision_log ({', '.join(_COLUMNS)}) VALUES {placeholders}",
        [v for d in decisions for v in decision_params(d)],
    )


#: Columns of :func:`read_decisions` rows.
LOG_COLUMNS: tuple[str, ...] = _COLUMNS


def read_decisions(
    con: duckdb.DuckDBPyConnection, last: int = 20, strategy: str | None = None
) -> list[dict[str, Any]]:
    """The ``last`` decisions (latest evaluation per candle, view ``decisions``), newest
    first, as dicts with :data:`LOG_COLUMNS` keys (``levels`` and ``signal`` parsed from
    JSON; times naive UTC as stored).

    Raises:
        ValueError: ``last`` is not positive.
    """
    if last < 1:
        raise ValueError(f"last must be >= 1, got {last}")
    where, params = ("WHERE strategy = ?", [strategy]) if strategy else ("", [])
    rows = con.execute(
        f"SELECT {', '.join(LOG_COLUMNS)} FROM decisions {where} "
        "ORDER BY candle_time DESC, strategy LIMIT ?",
        [*params, last],
    ).fetchall()
    out = []
    for row in rows:
        rec = dict(zip(LOG_COLUMNS, row, strict=True))
        rec["levels"] = json.loads(rec["levels"])
        rec["signal"] = json.loads(rec["signal"]) if rec["signal"] else None
        out.append(rec)
    return out
