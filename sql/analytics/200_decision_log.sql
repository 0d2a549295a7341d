-- tapeflow analytics: views over the strategy decision log (sql/schema/200_decision_log.sql).

-- The latest evaluation of each candle.
CREATE VIEW decisions AS
SELECT *
FROM decision_log
QUALIFY row_number() OVER (PARTITION BY strategy, timeframe, candle_time
                           ORDER BY evaluated_at DESC) = 1;

-- Evaluations and signals per level reached (for status lines and run summaries).
CREATE VIEW decision_summary AS
SELECT strategy,
       timeframe,
       level_reached,
       count(*)              AS evaluations,
       count(signal_id)      AS signals,
       min(candle_time)      AS first_candle,
       max(candle_time)      AS last_candle
FROM decisions
GROUP BY ALL;
