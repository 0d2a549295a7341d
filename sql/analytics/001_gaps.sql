-- tapeflow analytics: the gap view over ticks (sql/schema/001_ticks.sql).

-- Missing id ranges computed from the ticks themselves (exact, since ids are contiguous).
CREATE VIEW gaps AS
SELECT trade_id + 1 AS first_missing_id,
       next_id - 1 AS last_missing_id,
       next_id - trade_id - 1 AS missing
FROM (SELECT trade_id, lead(trade_id) OVER (ORDER BY trade_id) AS next_id FROM ticks)
WHERE next_id > trade_id + 1;

-- How many trade ids strictly between lo and hi are not stored (0: the tape is complete
-- there). Continuous candle series break where this is positive between two consecutive
-- traded candles (tapeflow.analytics.segments). Called with constants, the trade_id bounds
-- prune ticks row groups by their zonemaps, so a short range reads little.
CREATE MACRO ids_missing_between(lo, hi) AS
    greatest(hi - lo - 1, 0)
    - (SELECT count(*) FROM ticks WHERE trade_id > lo AND trade_id < hi);
