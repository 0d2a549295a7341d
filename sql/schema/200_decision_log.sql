-- Strategy decision log (tapeflow.strategy): one row per evaluation of a closed candle of the
-- symbol's fastest timeframe, appended by the engine and read by `tapeflow explain SYMBOL`.
-- Append-only: evaluating the same candle again (e.g. after a restart) adds a row; the view
-- `decisions` keeps the latest evaluation per (strategy, timeframe, candle_time).
-- levels / signal hold JSON text (VARCHAR: DuckDB's json functions read it directly; the
-- JSON type costs a validation per insert on the hot path). All times UTC.
CREATE TABLE decision_log (
    candle_time      TIMESTAMP NOT NULL,  -- open time of the evaluated fastest-timeframe candle
    timeframe        VARCHAR NOT NULL,    -- the fastest timeframe, e.g. '1m'
    strategy         VARCHAR NOT NULL,    -- strategy.name of the symbol's configuration
    evaluated_at     TIMESTAMP NOT NULL,  -- wall-clock time of the evaluation
    level_reached    VARCHAR NOT NULL     -- the level where it stopped; 'signal' = all passed
        CHECK (level_reached IN ('regime', 'zone', 'cascade', 'bounce', 'confluence', 'signal')),
    direction        VARCHAR CHECK (direction IN ('long', 'short')),  -- from the regime, if any
    regime_pass      BOOLEAN,             -- NULL = level not evaluated
    zone_pass        BOOLEAN,
    cascade_pass     BOOLEAN,
    bounce_pass      BOOLEAN,
    confluence_pass  BOOLEAN,
    reason           VARCHAR NOT NULL,    -- why the evaluation stopped (or why it signalled)
    levels           VARCHAR NOT NULL,    -- JSON {"regime": {"passed", "reason", "metrics"}, ...}
    signal           VARCHAR,             -- JSON of the emitted TradeSignal, NULL if none
    signal_id        VARCHAR,             -- TradeSignal.signal_id, NULL if none
    elapsed_us       BIGINT               -- evaluation time, microseconds
);
