-- tapeflow analytics: market (volume) profile — volume by price level.
--
-- A level is a price bucket [level, level + bucket) labelled by its lower edge:
--   level = price - (price mod bucket), exact DECIMAL(18, 8).
-- bucket is a price increment: the symbol's tick size (symbol_meta.tick_size) or a multiple
-- of it — never a number of decimals.
-- Only trades counted by 101 (MARKET / untyped) enter the profile.
-- The profile is dense: every level between the lowest and the highest traded level of a
-- period is a row, with volume 0 where nothing traded (the value-area walk steps over them);
-- the levels in between are added by profile_dense_at (121).
--
-- The POC, value area and shape are computed from these rows by 121_profile_value_area.sql
-- (the one definition of the CBOT value-area walk).
--
-- Cache: volume at each traded price per minute (price_volume_1m) and per hour
-- (price_volume_1h), maintained by refresh_candles with the 1m and 1h candles under the same
-- watermarks. A range reads whole hours below the 1h watermark from the hourly table (a busy
-- BTC day: ~40k rows instead of ~5M ticks), the other whole minutes below the 1m watermark
-- from the minute table, and the partial minutes at its ends and the minutes from the 1m
-- watermark on from the ticks.

-- Tick size of this symbol's market, NULL when unknown.
CREATE MACRO symbol_tick_size() AS (SELECT max(tick_size) FROM symbol_meta);

-- The definition: volume at each price per minute, for ticks with ts in [t_from, t_to).
CREATE MACRO price_volume_from_ticks(t_from, t_to) AS TABLE
SELECT floor_us(ts, 60000000)                                   AS open_time,
       price,
       sum(quantity)                                            AS volume,
       coalesce(sum(quantity) FILTER (WHERE side = 'buy'), 0)   AS buy_volume,
       count(*)                                                 AS trades
FROM kline_ticks
WHERE ts >= t_from AND ts < t_to
GROUP BY ALL;

-- The hourly rows rolled up from the minute rows with open_time in [t_from, t_to).
CREATE MACRO price_volume_rollup_1h(t_from, t_to) AS TABLE
SELECT floor_us(open_time, 3600000000) AS open_time, price,
       sum(volume) AS volume, sum(buy_volume) AS buy_volume,
       CAST(sum(trades) AS BIGINT) AS trades
FROM price_volume_1m
WHERE open_time >= t_from AND open_time < t_to
GROUP BY ALL;

-- Volume at price for ts in [t_from, t_to): whole hours below wm_1h from the hourly table,
-- other whole minutes below wm_1m from the minute table, the rest from the ticks. ts of a
-- cached row is its hour or minute: periods must be whole hours to use the hourly rows
-- (pass the epoch as wm_1h otherwise) and are always whole minutes.
-- With A1/Ah = t_from rounded up to the minute/hour and F1/Fh = t_to rounded down:
--   hours   [Ah, H)  with H = max(Ah, min(Fh, wm_1h))
--   minutes [A1, min(Ah, M)) and [max(H, A1, min(Ah, M)), M)  with M = max(A1, min(F1, wm_1m))
--   ticks   [t_from, min(A1, t_to)) and [M, t_to)
-- Every bound is an expression of the arguments, so constant arguments give static filters
-- (zonemap pruning on open_time / ts).
CREATE MACRO vap_h(t_from, t_to, wm_1h) AS
    greatest(ceil_us(t_from, 3600000000), least(floor_us(t_to, 3600000000), wm_1h));
CREATE MACRO vap_m(t_from, t_to, wm_1m) AS
    greatest(ceil_us(t_from, 60000000), least(floor_us(t_to, 60000000), wm_1m));

CREATE MACRO volume_at_price_at(t_from, t_to, wm_1m, wm_1h) AS TABLE
SELECT open_time AS ts, price, volume, buy_volume, trades
FROM price_volume_1h
WHERE open_time >= ceil_us(t_from, 3600000000)
  AND open_time < vap_h(t_from, t_to, wm_1h)
UNION ALL
SELECT open_time, price, volume, buy_volume, trades
FROM price_volume_1m
WHERE open_time >= ceil_us(t_from, 60000000)
  AND open_time < least(ceil_us(t_from, 3600000000), vap_m(t_from, t_to, wm_1m))
UNION ALL
SELECT open_time, price, volume, buy_volume, trades
FROM price_volume_1m
WHERE open_time >= greatest(vap_h(t_from, t_to, wm_1h), ceil_us(t_from, 60000000),
                            least(ceil_us(t_from, 3600000000), vap_m(t_from, t_to, wm_1m)))
  AND open_time < vap_m(t_from, t_to, wm_1m)
UNION ALL
SELECT ts, price, quantity, CASE WHEN side = 'buy' THEN quantity ELSE 0 END, 1
FROM kline_ticks
WHERE ts >= t_from AND ts < least(ceil_us(t_from, 60000000), t_to)
UNION ALL
SELECT ts, price, quantity, CASE WHEN side = 'buy' THEN quantity ELSE 0 END, 1
FROM kline_ticks
WHERE ts >= vap_m(t_from, t_to, wm_1m) AND ts < t_to;

-- Volume at price for ticks with ts in [t_from, t_to), per period of period_us µs aligned to
-- the epoch (period_us = 0: the whole range is one period, period_start = t_from).
-- One row per (period, level) that traded; profile_dense_at (121) adds the levels
-- between them (volume 0). level_units / volume_units: level and volume in integer 1e-8
-- units, for exact arithmetic. wm_1m, wm_1h: the 1m and 1h watermarks
-- (candle_watermark(); the epoch reads only ticks).
CREATE MACRO profile_levels_at(t_from, t_to, bucket, period_us, wm_1m, wm_1h) AS TABLE
SELECT *, CAST(units8(level) AS BIGINT) AS level_units, units8(volume) AS volume_units
FROM (
    SELECT
        CASE WHEN period_us = 0 THEN CAST(t_from AS TIMESTAMP)
             ELSE make_timestamp((epoch_us(ts) // period_us) * period_us) END AS period_start,
        CAST(price - price % CAST(bucket AS DECIMAL(18, 8)) AS DECIMAL(18, 8)) AS level,
        CAST(sum(volume) AS DECIMAL(38, 8))                            AS volume,
        CAST(sum(buy_volume) AS DECIMAL(38, 8))                        AS buy_volume,
        sum(price * volume)                                            AS quote_volume,
        CAST(sum(trades) AS BIGINT)                                    AS trades,
        min(price)                                                     AS low,
        max(price)                                                     AS high
    FROM volume_at_price_at(t_from, t_to, wm_1m,
                            CASE WHEN period_us % 3600000000 = 0 THEN wm_1h
                                 ELSE TIMESTAMP '1970-01-01' END)
    GROUP BY ALL
);

-- The same reading the current watermark itself (for ad-hoc SQL).
CREATE MACRO profile_levels(t_from, t_to, bucket, period_us) AS TABLE
SELECT * FROM profile_levels_at(t_from, t_to, bucket, period_us, candle_watermark('1m'),
                               candle_watermark('1h'));
