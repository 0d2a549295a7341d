"""tapeflow.strategy: the hierarchical regime → zone → cascade → bounce strategy.

Modules (import what you need; this package file stays light). The ``TradeSignal`` it emits,
what the execution chain consumes, is :mod:`tapeflow.model.signals`.

* :mod:`~tapeflow.strategy.levels`, :mod:`~tapeflow.strategy.confluence` — the rules, as
  pure functions over :mod:`~tapeflow.strategy.inputs`;
* :mod:`~tapeflow.strategy.engine` — ``StrategyEngine``: per-symbol evaluation on each
  closed fastest candle, bus wiring (``CandleClosed`` → ``SignalGenerated``);
* :mod:`~tapeflow.strategy.features` — incremental longest-timeframe features;
* :mod:`~tapeflow.strategy.reads` — what the engine reads from the analytics;
* :mod:`~tapeflow.strategy.decision_log`, :mod:`~tapeflow.strategy.writer` — the decision
  log (``sql/schema/200_decision_log.sql``) and its batched writer.

Rules and their defaults: ``docs/strategy.md``.
"""
