-- tapeflow analytics: reading the candle cache (tables in sql/schema/102_candle_cache.sql,
-- which states the invariant these macros rely on).

-- The watermark of tf; the epoch when nothing is cached.
CREATE MACRO candle_watermark(tf) AS
    coalesce((SELECT open_time FROM candle_watermarks WHERE timeframe = tf),
             TIMESTAMP '1970-01-01');

-- The state a reader passes to the *_at macros: one row per timeframe with its watermark
-- (the epoch when nothing is cached) and the tape's last tick time.
-- ts_floor: any time known to be <= the last tick (e.g. a watermark seen earlier — they never
-- move past the last tick, and the last tick never moves back). With a constant it limits
-- the max(ts) search to the last row groups; DuckDB otherwise scans the whole ts column
-- whenever the table has changes not yet checkpointed (the live case). The highest current
-- watermark bounds it too (as a dynamic filter, which DuckDB applies less precisely).
CREATE MACRO candle_state_from(ts_floor) AS TABLE
SELECT timeframe,
       coalesce(open_time, TIMESTAMP '1970-01-01') AS watermark,
       (SELECT max(ts) FROM ticks
        WHERE ts >= ts_floor
          AND ts >= (SELECT coalesce(max(open_time), TIMESTAMP '1970-01-01')
                     FROM candle_watermarks))     AS last_ts
FROM candle_watermarks;

CREATE MACRO candle_state() AS TABLE
SELECT * FROM candle_state_from(TIMESTAMP '1970-01-01');

-- Sparse 1m candles with open_time in [t_from, t_to): cache below wm_1m, ticks from it on.
CREATE MACRO candles_1m_fresh_at(t_from, t_to, last_ts, wm_1m) AS TABLE
SELECT * FROM candles_1m WHERE open_time >= t_from AND open_time < least(t_to, wm_1m)
UNION ALL
SELECT * FROM candles_from_ticks('1m', greatest(t_from, wm_1m), t_to, last_ts);

-- Sparse tf candles with open_time in [t_from, t_to) rolled up from fresh 1m candles.
CREATE MACRO candles_rollup_at(tf, t_from, t_to, last_ts, wm_1m) AS TABLE
SELECT
    make_timestamp(bucket * timeframe_us(tf))       AS open_time,
    make_timestamp((bucket + 1) * timeframe_us(tf)) AS close_time,
    open, high, low, close, volume, quote_volume, trades,
    buy_volume, buy_quote_volume, sell_volume, sell_quote_volume, buy_trades, sell_trades,
    CAST(ratio8(quote_units, volume_units) AS DECIMAL(18, 8)) AS vwap,
    first_trade_id, last_trade_id,
    make_timestamp((bucket + 1) * timeframe_us(tf)) <= last_ts AS closed
FROM (SELECT *, units16(quote_volume) AS quote_units, units8(volume) AS volume_units FROM (
    SELECT
        epoch_us(open_time) // timeframe_us(tf)   AS bucket,
        arg_min(open, first_trade_id)             AS open,
        max(high)                                 AS high,
        min(low)                                  AS low,
        arg_max(close, last_trade_id)             AS close,
        sum(volume)                               AS volume,
        sum(quote_volume)                         AS quote_volume,
        CAST(sum(trades) AS BIGINT)               AS trades,
        sum(buy_volume)                           AS buy_volume,
        sum(buy_quote_volume)                     AS buy_quote_volume,
        sum(sell_volume)                          AS sell_volume,
        sum(sell_quote_volume)                    AS sell_quote_volume,
        CAST(sum(buy_trades) AS BIGINT)           AS buy_trades,
        CAST(sum(sell_trades) AS BIGINT)          AS sell_trades,
        min(first_trade_id)                       AS first_trade_id,
        max(last_trade_id)                        AS last_trade_id
    FROM candles_1m_fresh_at(ceil_us(t_from, timeframe_us(tf)), ceil_us(t_to, timeframe_us(tf)),
                             last_ts, wm_1m)
    GROUP BY bucket
));

-- Sparse candles of tf ('5m' .. '4h') with open_time in [t_from, t_to), always current: the
-- cache of tf below wm_tf, then the forming part rolled up from fresh 1m candles. Only the
-- branch of tf is used (the others fold to empty).
CREATE MACRO candles_rollup_fresh_at(tf, t_from, t_to, last_ts, wm_1m, wm_tf) AS TABLE
SELECT * FROM candles_5m
WHERE tf = '5m' AND open_time >= t_from AND open_time < least(t_to, wm_tf)
UNION ALL
SELECT * FROM candles_15m
WHERE tf = '15m' AND open_time >= t_from AND open_time < least(t_to, wm_tf)
UNION ALL
SELECT * FROM candles_1h
WHERE tf = '1h' AND open_time >= t_from AND open_time < least(t_to, wm_tf)
UNION ALL
SELECT * FROM candles_4h
WHERE tf = '4h' AND open_time >= t_from AND open_time < least(t_to, wm_tf)
UNION ALL
SELECT * FROM candles_rollup_at(tf, greatest(t_from, wm_tf), t_to, last_ts, wm_1m);

-- Sparse candles of any tf ('1m' .. '4h'), always current (wm_tf: the watermark of tf).
-- Readers that know tf call candles_1m_fresh_at / candles_rollup_fresh_at directly: each
-- macro is planned whole, so the smaller one plans faster.
CREATE MACRO candles_fresh_at(tf, t_from, t_to, last_ts, wm_1m, wm_tf) AS TABLE
SELECT * FROM candles_1m_fresh_at(t_from, t_to, last_ts, wm_tf)
WHERE tf = '1m'
UNION ALL
SELECT * FROM candles_rollup_fresh_at(tf, t_from, t_to, last_ts, wm_1m, wm_tf)
WHERE tf <> '1m';

-- The same reading the current state itself (for ad-hoc SQL), e.g.
--   SELECT * FROM candles('5m', TIMESTAMP '2024-08-08', TIMESTAMP '2024-08-09')
--   ORDER BY open_time
-- The continuous (gap-filled) series is built from these rows by
-- tapeflow.analytics.candles.fill_candles.
CREATE MACRO candles(tf, t_from, t_to) AS TABLE
SELECT * FROM candles_fresh_at(tf, t_from, t_to, tape_end(), candle_watermark('1m'),
                               candle_watermark(tf));
