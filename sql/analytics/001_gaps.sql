-- tapeflow analytics: the gap view over ticks (sql/schema/001_ticks.sql).

-- Missing id ranges computed from the ticks themselves: exact where the ids are contiguous
-- (symbol_meta.id_model 'contiguous' or 'aggregate_ranges', sql/schema/002_id_model.sql).
-- Opaque ids carry no contiguity, so a symbol with them has no id gaps (empty view).
CREATE VIEW gaps AS
SELECT trade_id + 1 AS first_missing_id,
       next_id - 1 AS last_missing_id,
       next_id - trade_id - 1 AS missing
FROM (SELECT trade_id, lead(trade_id) OVER (ORDER BY trade_id) AS next_id FROM ticks)
WHERE next_id > trade_id + 1
  AND (SELECT id_model FROM symbol_meta) IS DISTINCT FROM 'opaque';

-- How many trade ids strictly between lo and hi are not stored (0: the tape is complete
-- there). Continuous candle series break where this is positive between two consecutive
-- traded candles (tapeflow.analytics.segments). Called with constants, the trade_id bounds
-- prune ticks row groups by their zonemaps, so a short range reads little. Always 0 for
-- opaque ids (nothing can be told from them): their series break only after a quiet stretch
-- longer than max_quiet, never by ids.
CREATE MACRO ids_missing_between(lo, hi) AS
    CASE WHEN (SELECT id_model FROM symbol_meta) IS NOT DISTINCT FROM 'opaque' THEN 0
    ELSE greatest(hi - lo - 1, 0)
        - (SELECT count(*) FROM ticks WHERE trade_id > lo AND trade_id < hi)
    END;
