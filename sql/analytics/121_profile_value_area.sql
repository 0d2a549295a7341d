-- tapeflow analytics: market profile — point of control, value area and shape. THE definition
-- (tapeflow.analytics.profile reads it; seed 001 §4.1 `market_profile`: poc_price,
-- value_area_high/low, profile_shape).
--
-- Input: the traded levels of 120 (profile_levels_at), one row per (period, level) that
-- traded. All arithmetic is exact: volumes in integer 1e-8 units (HUGEINT), prices in 1e-8
-- units, the quote volume in 1e-16 units.
--
-- Dense levels: every level from the lowest to the highest traded level of a period, labelled
-- by its lower edge, level_index 0 = lowest; levels without trades have volume 0 (the
-- value-area walk and the shape need the gaps).
--
-- POC (point of control): the level with the most volume. Ties go to the level whose
-- midpoint level + bucket/2 is closest to the period's VWAP; if still tied, the lower level.
--
-- Value area: the CBOT Market Profile handbook method (CBOT, "CBOT Market Profile", 1991,
-- the 70 % value-area rule). Start at the POC; compare the volume of the next two levels
-- above with the next two below; add the larger pair (only one level when only one remains on
-- that side; the other side when one side is exhausted; both pairs on an exact tie); repeat
-- until the value area holds at least value_area (share in (0, 1], default 0.70, at most 16
-- decimals) of the volume. VAL/VAH are the lowest/highest levels in it (lower edges).
-- The walk is iterative: a recursive CTE, one step per pair taken.
--
-- Shape ('P', 'b', 'D', 'B', 'thin'; seed 001 §4.1 names 'P', 'b' and normal), decided in
-- this order on the dense profile of n levels, positions index / (n - 1):
--   1. 'D' when n < 5 (too few levels to tell a shape).
--   2. 'B' (double distribution): the levels grouped into k = min(20, n // 2) contiguous bins
--      (bin g holds indexes [g*n//k, (g+1)*n//k)); with p the fullest bin (lowest on ties),
--      'B' when k >= 6 and some bin q with |q - p| >= 2 is a local maximum (>= both
--      neighbours) holding at least half of p's volume while the emptiest bin strictly
--      between them holds at most half of q's volume.
--   3. 'thin' (elongated, trend-like): the value area spans at least 60 % of the levels.
--   4. 'P': the value area's lower edge at or above 40 % of the range and its middle at or
--      above 60 % (volume high, thin tail below).
--   5. 'b': the mirror — upper edge at or below 60 % and middle at or below 40 %.
--   6. 'D' (normal) otherwise.
--
-- Arguments: t_from, t_to (TIMESTAMP, UTC, [t_from, t_to)); bucket (price increment, a
-- multiple of the tick size, at most 8 decimals); period_us (µs, epoch-aligned periods; 0 =
-- the whole range is one period); value_area (share); wm_1m, wm_1h (cache watermarks, as
-- for profile_levels_at). Periods are reported clipped to [t_from, t_to).

-- NULL, or an error naming the parameter and the rule it breaks.
CREATE MACRO profile_params_error(bucket, value_area, period_us) AS
    CASE WHEN bucket IS NULL OR bucket <= 0
         THEN error('profile: bucket must be a positive price increment')
         WHEN value_area IS NULL OR value_area <= 0 OR value_area > 1
         THEN error('profile: value_area must be a share in (0, 1], e.g. 0.7')
         WHEN period_us IS NULL OR period_us < 0
         THEN error('profile: period_us must be >= 0 (0 = one period)') END;

-- Dense levels per period: period_start (the aligned label of profile_levels_at),
-- level_index, level, level_units, volume, buy_volume, sell_volume, delta, trades,
-- volume_units, quote_volume, low, high (traded price range at the level; NULL when none).
CREATE MACRO profile_dense_at(t_from, t_to, bucket, period_us, wm_1m, wm_1h) AS TABLE
WITH traded AS (
    SELECT * FROM profile_levels_at(t_from, t_to, bucket, period_us, wm_1m, wm_1h)
),
grid AS (
    SELECT period_start, min(level_units) AS first_units,
           unnest(range(min(level_units), max(level_units) + CAST(units8(bucket) AS BIGINT),
                        CAST(units8(bucket) AS BIGINT))) AS level_units
    FROM traded
    GROUP BY period_start
)
SELECT g.period_start,
       (g.level_units - g.first_units) // CAST(units8(bucket) AS BIGINT)        AS level_index,
       CAST(CAST(g.level_units AS DECIMAL(38, 0)) * 0.00000001 AS DECIMAL(18, 8)) AS level,
       g.level_units,
       coalesce(t.volume, 0)::DECIMAL(38, 8)                                      AS volume,
       coalesce(t.buy_volume, 0)::DECIMAL(38, 8)                                  AS buy_volume,
       (coalesce(t.volume, 0) - coalesce(t.buy_volume, 0))::DECIMAL(38, 8)        AS sell_volume,
       (2 * coalesce(t.buy_volume, 0) - coalesce(t.volume, 0))::DECIMAL(38, 8)    AS delta,
       coalesce(t.trades, 0)                                                      AS trades,
       coalesce(t.volume_units, 0)::HUGEINT                                       AS volume_units,
       coalesce(t.quote_volume, 0)                                                AS quote_volume,
       t.low,
       t.high
FROM grid g
LEFT JOIN traded t ON t.period_start = g.period_start AND t.level_units = g.level_units;

-- One row per period that traded: period_start, period_end (clipped to the range), bucket,
-- low, high (trade prices), vwap, poc, val, vah (level lower edges), volume, buy_volume,
-- sell_volume, delta, value_area_volume, trades, levels (n), value_area_share (achieved
-- share, DOUBLE), shape, and poc_index / val_index / vah_index (level_index of each).
CREATE MACRO profile_summary_at(t_from, t_to, bucket, period_us, value_area, wm_1m, wm_1h)
AS TABLE
WITH RECURSIVE
dense AS MATERIALIZED (
    SELECT *,
           coalesce(sum(volume_units) OVER up2, 0)   AS up_volume,
           count(*) OVER up2                         AS up_n,
           coalesce(sum(volume_units) OVER down2, 0) AS down_volume,
           count(*) OVER down2                       AS down_n
    -- the range passes the parameter check first (which raises on a bad parameter)
    FROM profile_dense_at(coalesce(profile_params_error(bucket, value_area, period_us), t_from),
                          t_to, bucket, period_us, wm_1m, wm_1h)
    WINDOW up2 AS (PARTITION BY period_start ORDER BY level_index
                   ROWS BETWEEN 1 FOLLOWING AND 2 FOLLOWING),
           down2 AS (PARTITION BY period_start ORDER BY level_index
                     ROWS BETWEEN 2 PRECEDING AND 1 PRECEDING)
),
totals AS MATERIALIZED (
    SELECT period_start,
           count(*)                                   AS n,
           sum(volume_units)                          AS total_units,
           units16(sum(quote_volume))                 AS quote_units,
           units8(sum(buy_volume))                    AS buy_units,
           CAST(sum(trades) AS BIGINT)                AS trades,
           min(low)                                   AS low,
           max(high)                                  AS high
    FROM dense
    GROUP BY period_start
),
poc AS (
    -- |midpoint - vwap| * 2 * total, in 1e-16 price units: exact
    SELECT period_start, level_index AS poc_index, volume_units AS poc_units
    FROM (
        SELECT d.period_start, d.level_index, d.volume_units,
               row_number() OVER (
                   PARTITION BY d.period_start
                   ORDER BY d.volume_units DESC,
                            abs((2 * CAST(d.level_units AS HUGEINT) + units8(bucket))
                                * t.total_units - 2 * t.quote_units),
                            d.level_index) AS rank
        FROM dense d JOIN totals t USING (period_start)
    )
    WHERE rank = 1
),
walk(period_start, step, lo, hi, acc, target) USING KEY (period_start) AS (
    SELECT p.period_start, 0, p.poc_index, p.poc_index, p.poc_units,
           units16(CAST(value_area AS DECIMAL(38, 16))) * t.total_units
    FROM poc p JOIN totals t USING (period_start)
    UNION ALL
    SELECT period_start, step + 1,
           CASE WHEN side = 'up' THEN lo ELSE lo - down_n END,
           CASE WHEN side = 'down' THEN hi ELSE hi + up_n END,
           acc + CASE side WHEN 'up' THEN up_volume WHEN 'down' THEN down_volume
                           ELSE up_volume + down_volume END,
           target
    FROM (
        SELECT w.*, u.up_n, u.up_volume, d.down_n, d.down_volume,
               CASE WHEN d.down_n = 0 OR (u.up_n > 0 AND u.up_volume > d.down_volume)
                        THEN 'up'
                    WHEN u.up_n = 0 OR d.down_volume > u.up_volume THEN 'down'
                    ELSE 'both' END AS side
        FROM walk w
        JOIN dense u ON u.period_start = w.period_start AND u.level_index = w.hi
        JOIN dense d ON d.period_start = w.period_start AND d.level_index = w.lo
        WHERE w.acc * CAST(10000000000000000 AS HUGEINT) < w.target
          AND (u.up_n > 0 OR d.down_n > 0)
    )
),
value_area AS (
    SELECT period_start, lo, hi, acc FROM walk
),
bins AS (
    -- bin g of index i: the g with g*n//k <= i < (g+1)*n//k, i.e. ceil((i+1)*k/n) - 1
    SELECT d.period_start, t.k,
           ((d.level_index + 1) * t.k + t.n - 1) // t.n - 1 AS g,
           sum(d.volume_units) AS volume_units
    FROM dense d
    JOIN (SELECT period_start, n, least(20, n // 2) AS k FROM totals) t USING (period_start)
    WHERE t.k >= 6
    GROUP BY ALL
),
bins_ranked AS (
    SELECT *,
           coalesce(lag(volume_units) OVER w, -1)  AS left_units,
           coalesce(lead(volume_units) OVER w, -1) AS right_units,
           row_number() OVER (PARTITION BY period_start
                              ORDER BY volume_units DESC, g) AS rank
    FROM bins
    WINDOW w AS (PARTITION BY period_start ORDER BY g)
),
double_distribution AS (
    SELECT DISTINCT p.period_start
    FROM bins_ranked p
    JOIN bins_ranked q
      ON q.period_start = p.period_start AND abs(q.g - p.g) >= 2
     AND 2 * q.volume_units >= p.volume_units
     AND q.volume_units >= q.left_units AND q.volume_units >= q.right_units
    WHERE p.rank = 1
      AND 2 * (SELECT min(v.volume_units) FROM bins v
               WHERE v.period_start = p.period_start
                 AND v.g > least(p.g, q.g) AND v.g < greatest(p.g, q.g))
          <= q.volume_units
)
SELECT
    CASE WHEN period_us = 0 THEN CAST(t_from AS TIMESTAMP)
         ELSE greatest(t.period_start, CAST(t_from AS TIMESTAMP)) END          AS period_start,
    CASE WHEN period_us = 0 THEN CAST(t_to AS TIMESTAMP)
         ELSE least(make_timestamp(epoch_us(t.period_start) + period_us),
                    CAST(t_to AS TIMESTAMP)) END                               AS period_end,
    CAST(bucket AS DECIMAL(18, 8))                                             AS bucket,
    t.low,
    t.high,
    CAST(ratio8(t.quote_units, t.total_units) AS DECIMAL(18, 8))               AS vwap,
    CAST(pd.level AS DECIMAL(18, 8))                                           AS poc,
    CAST(ld.level AS DECIMAL(18, 8))                                           AS val,
    CAST(hd.level AS DECIMAL(18, 8))                                           AS vah,
    CAST(ratio8(t.total_units, 1) AS DECIMAL(38, 8))                           AS volume,
    CAST(ratio8(t.buy_units, 1) AS DECIMAL(38, 8))                             AS buy_volume,
    CAST(ratio8(t.total_units - t.buy_units, 1) AS DECIMAL(38, 8))             AS sell_volume,
    CAST(CAST(2 * t.buy_units - t.total_units AS DECIMAL(38, 0)) * 0.00000001
         AS DECIMAL(38, 8))                                                    AS delta,
    CAST(ratio8(va.acc, 1) AS DECIMAL(38, 8))                                  AS value_area_volume,
    t.trades,
    t.n                                                                        AS levels,
    CAST(va.acc AS DOUBLE) / CAST(t.total_units AS DOUBLE)                     AS value_area_share,
    CASE WHEN t.n < 5 THEN 'D'
         WHEN dd.period_start IS NOT NULL THEN 'B'
         WHEN 5 * (va.hi - va.lo + 1) >= 3 * t.n THEN 'thin'
         WHEN 5 * va.lo >= 2 * (t.n - 1) AND 5 * (va.lo + va.hi) >= 6 * (t.n - 1) THEN 'P'
         WHEN 5 * va.hi <= 3 * (t.n - 1) AND 5 * (va.lo + va.hi) <= 4 * (t.n - 1) THEN 'b'
         ELSE 'D' END                                                          AS shape,
    p.poc_index,
    va.lo                                                                      AS val_index,
    va.hi                                                                      AS vah_index
FROM totals t
JOIN poc p USING (period_start)
JOIN value_area va USING (period_start)
JOIN dense pd ON pd.period_start = t.period_start AND pd.level_index = p.poc_index
JOIN dense ld ON ld.period_start = t.period_start AND ld.level_index = va.lo
JOIN dense hd ON hd.period_start = t.period_start AND hd.level_index = va.hi
LEFT JOIN double_distribution dd ON dd.period_start = t.period_start
ORDER BY 1;

-- The dense levels with their place in the profile: period_start (clipped to the range),
-- level, volume, buy_volume, sell_volume, delta (DECIMAL(38, 8)), trades, in_value_area,
-- is_poc — sorted by period, level.
CREATE MACRO profile_at(t_from, t_to, bucket, period_us, value_area, wm_1m, wm_1h) AS TABLE
SELECT
    CASE WHEN period_us = 0 THEN CAST(t_from AS TIMESTAMP)
         ELSE greatest(d.period_start, CAST(t_from AS TIMESTAMP)) END AS period_start,
    d.level, d.volume, d.buy_volume, d.sell_volume, d.delta, d.trades,
    d.level_index BETWEEN s.val_index AND s.vah_index                 AS in_value_area,
    d.level_index = s.poc_index                                       AS is_poc
FROM profile_dense_at(t_from, t_to, bucket, period_us, wm_1m, wm_1h) d
JOIN profile_summary_at(t_from, t_to, bucket, period_us, value_area, wm_1m, wm_1h) s
  ON s.period_start = CASE WHEN period_us = 0 THEN CAST(t_from AS TIMESTAMP)
                           ELSE greatest(d.period_start, CAST(t_from AS TIMESTAMP)) END
ORDER BY 1, d.level;

-- The same reading the current watermarks (for ad-hoc SQL), e.g.
--   SELECT poc, val, vah, shape FROM profile_summary(TIMESTAMP '2024-07-18 23:57',
--          TIMESTAMP '2024-07-19 00:05', 0.1)
CREATE MACRO profile_summary(t_from, t_to, bucket, period_us := 0, value_area := 0.7) AS TABLE
SELECT * FROM profile_summary_at(t_from, t_to, bucket, period_us, value_area,
                                 candle_watermark('1m'), candle_watermark('1h'));

CREATE MACRO profile(t_from, t_to, bucket, period_us := 0, value_area := 0.7) AS TABLE
SELECT * FROM profile_at(t_from, t_to, bucket, period_us, value_area,
                         candle_watermark('1m'), candle_watermark('1h'));
