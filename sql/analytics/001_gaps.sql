-- tapeflow analytics: the gap view over ticks (sql/schema/001_ticks.sql).

-- Missing id ranges computed from the ticks themselves (exact, since ids are contiguous).
CREATE VIEW gaps AS
SELECT trade_id + 1 AS first_missing_id,
       next_id - 1 AS last_missing_id,
       next_id - trade_id - 1 AS missing
FROM (SELECT trade_id, lead(trade_id) OVER (ORDER BY trade_id) AS next_id FROM ticks)
WHERE next_id > trade_id + 1;
