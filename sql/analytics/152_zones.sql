-- tapeflow analytics: supply and demand zones, fresh / tested / broken — THE definition.
--
-- Seed 001 §4.1 (table supply_demand_zones: zone_type 'supply' | 'demand', price_low,
-- price_high, strength_score 0-100, first_seen, last_tested, test_count, status 'fresh' |
-- 'tested' | 'broken', created_from 'rejection' | 'consolidation') and §5.3 (zones from
-- price action). tapeflow.analytics.zones.ZoneTracker is an incremental evaluation of this
-- definition for the live strategy, proven equal to it on every real recording
-- (tests/analytics/test_zones_sql.py).
--
-- On the closed continuous candles of 150, per segment; range = high - low,
-- body = |close - open|; ATR = ATR(atr_period) at the PREVIOUS candle's close (the
-- volatility before the move; no zone forms at a candle whose previous ATR is NULL or 0).
-- consolidation (leg-in, base, departure):
--   a base candle has body <= base_body_ratio * range (DOUBLE arithmetic); the base is the
--   run of 1..max_base consecutive base candles right before the departure (a longer run
--   forms no zone); the leg-in is the candle before the base (a non-base candle of the same
--   segment), its direction the pattern's first letter (R: close > open, D: close < open);
--   the departure is the next non-base candle, with range >= departure_atr * ATR, closing
--   above the base's highest high (bullish: demand, DBR / RBR) or below its lowest low
--   (bearish: supply, RBD / DBD). demand = [lowest low of the base, highest body top
--   max(open, close) of the base]; supply = [lowest body bottom min(open, close), highest
--   high]. base_candles = the base's length; departure_ratio = departure range / ATR.
-- rejection (one candle): range > 0 and range >= rejection_atr * ATR, and a lower wick
--   min(open, close) - low >= rejection_wick_ratio * range (exact DECIMAL, the ratio taken
--   at its shortest decimal form) -> demand [low, min(open, close)]; else such an upper wick
--   high - max(open, close) -> supply [max(open, close), high]. base_candles = 1,
--   departure_ratio = wick / ATR.
-- first_seen = the departure (rejection) candle's open time; base_start = the first base
-- (the rejection) candle's. Only later candles of the segment test or break a zone:
--   broken at the first candle CLOSING beyond the distal line (demand: close < price_low;
--   supply: close > price_high) — final;
--   tested by each earlier candle trading into it (demand: low <= price_high; supply:
--   high >= price_low); consecutive touching candles are one test (a visit); last_tested =
--   the latest touching candle's open time.
--   status: 'fresh' (no test), 'tested', 'broken'.
-- strength (0..100) = 50 * min(departure_ratio / 3, 1) + 25 * (max_base - base_candles + 1)
--   / max_base + 25 * 0.5 ^ test_count; 0 when broken.
--
-- Example (tapeflow sql binance/spot/XRPETH "..."):
--   SELECT type, price_low, price_high, status FROM zones('15m') WHERE status <> 'broken'

-- NULL, or an error naming the parameter and the rule it breaks.
CREATE MACRO zone_params_error(base_body_ratio, max_base, departure_atr, rejection_wick_ratio,
                               rejection_atr, atr_period) AS
    CASE WHEN NOT (base_body_ratio > 0 AND base_body_ratio < 1)
         THEN error('zones: base_body_ratio must be in (0, 1)')
         WHEN max_base < 1 OR atr_period < 1
         THEN error('zones: max_base and atr_period must be >= 1')
         WHEN NOT (rejection_wick_ratio > 0.5 AND rejection_wick_ratio < 1)
         THEN error('zones: rejection_wick_ratio must be in (0.5, 1) so that only one wick '
                    || 'can qualify')
         WHEN NOT (departure_atr > 0 AND rejection_atr > 0)
         THEN error('zones: departure_atr and rejection_atr must be positive') END;

-- Strength of an unbroken zone (header), DOUBLE 0..100.
CREATE MACRO zone_strength(max_base, departure_ratio, base_candles, tests) AS
    CAST(50 AS DOUBLE) * least(departure_ratio / CAST(3 AS DOUBLE), CAST(1 AS DOUBLE))
    + CAST(25 AS DOUBLE) * (max_base - base_candles + 1) / max_base
    + CAST(25 AS DOUBLE) * pow(CAST(0.5 AS DOUBLE), tests);

-- One row per zone of the closed candles of tf with open_time in [t_from, t_to), in creation
-- order (a consolidation before a rejection on the same candle); columns: see the README
-- (Jupyter use) and the header above. Defaults are the strategy's (config/strategy.py:
-- zone_base_body_ratio, zone_max_base, zone_departure_atr, zone_rejection_wick_ratio,
-- zone_rejection_atr; ATR period 14) and the store's candles.max_quiet_minutes (60).
CREATE MACRO zones(tf, t_from := TIMESTAMP '1970-01-01', t_to := TIMESTAMP '9999-01-01',
                   base_body_ratio := 0.5, max_base := 6, departure_atr := 1.5,
                   rejection_wick_ratio := 0.6, rejection_atr := 1.0, atr_period := 14,
                   max_quiet_minutes := 60) AS TABLE
WITH c AS (
    SELECT *,
        CAST(abs(close - open) AS DOUBLE) <= base_body_ratio * CAST(high - low AS DOUBLE)
            AS is_base,
        CASE WHEN lag(atr) OVER s > 0 AND NOT isnan(lag(atr) OVER s)
             THEN lag(atr) OVER s END AS prev_atr
    FROM candles_atr(tf, t_from, t_to, max_quiet_minutes, atr_period)
    WHERE zone_params_error(base_body_ratio, max_base, departure_atr, rejection_wick_ratio,
                            rejection_atr, atr_period) IS NULL
    WINDOW s AS (PARTITION BY segment ORDER BY open_time)
),
-- grp: non-base candles so far in the segment; a group is one non-base candle (its head)
-- and the base candles after it
grouped AS (
    SELECT *,
        sum(CASE WHEN is_base THEN 0 ELSE 1 END) OVER (PARTITION BY segment ORDER BY open_time
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS grp
    FROM c
),
bases AS (
    SELECT segment, grp,
        count(*) FILTER (WHERE is_base)                           AS base_candles,
        min(open_time) FILTER (WHERE is_base)                     AS base_start,
        max(high) FILTER (WHERE is_base)                          AS base_high,
        min(low) FILTER (WHERE is_base)                           AS base_low,
        max(greatest(open, close)) FILTER (WHERE is_base)         AS body_high,
        min(least(open, close)) FILTER (WHERE is_base)            AS body_low,
        arg_min(close, open_time) FILTER (WHERE NOT is_base)      AS leg_close,
        arg_min(open, open_time) FILTER (WHERE NOT is_base)       AS leg_open
    FROM grouped
    WHERE grp > 0
    GROUP BY segment, grp
),
consolidations AS (
    SELECT
        CASE WHEN d.close > d.open THEN 'demand' ELSE 'supply' END             AS type,
        CASE WHEN b.leg_close > b.leg_open THEN 'R' ELSE 'D' END
            || CASE WHEN d.close > d.open THEN 'BR' ELSE 'BD' END              AS pattern,
        'consolidation'                                                        AS created_from,
        CASE WHEN d.close > d.open THEN b.base_low ELSE b.body_low END         AS price_low,
        CASE WHEN d.close > d.open THEN b.body_high ELSE b.base_high END       AS price_high,
        b.base_start,
        d.open_time                                                            AS first_seen,
        b.base_candles,
        CAST(d.high - d.low AS DOUBLE) / d.prev_atr                            AS departure_ratio,
        d.segment
    FROM bases b
    JOIN grouped d ON d.segment = b.segment AND d.grp = b.grp + 1 AND NOT d.is_base
    WHERE b.base_candles BETWEEN 1 AND max_base
      AND b.leg_close <> b.leg_open
      AND d.prev_atr IS NOT NULL
      AND CAST(d.high - d.low AS DOUBLE) >= departure_atr * d.prev_atr
      AND ((d.close > d.open AND d.close > b.base_high)
           OR (d.close < d.open AND d.close < b.base_low))
),
wicks AS (
    SELECT *,
        least(open, close) - low                                  AS lower_wick,
        high - greatest(open, close)                              AS upper_wick,
        CAST(CAST(rejection_wick_ratio AS VARCHAR) AS DECIMAL(20, 18)) * (high - low)
            AS wick_min
    FROM c
    WHERE prev_atr IS NOT NULL AND high > low
      AND CAST(high - low AS DOUBLE) >= rejection_atr * prev_atr
),
rejections AS (
    SELECT
        CASE WHEN lower_wick >= wick_min THEN 'demand' ELSE 'supply' END       AS type,
        'rejection'                                                            AS pattern,
        'rejection'                                                            AS created_from,
        CASE WHEN lower_wick >= wick_min THEN low ELSE greatest(open, close) END AS price_low,
        CASE WHEN lower_wick >= wick_min THEN least(open, close) ELSE high END AS price_high,
        open_time                                                              AS base_start,
        open_time                                                              AS first_seen,
        CAST(1 AS BIGINT)                                                      AS base_candles,
        CAST(CASE WHEN lower_wick >= wick_min THEN lower_wick ELSE upper_wick END AS DOUBLE)
            / prev_atr                                                         AS departure_ratio,
        segment
    FROM wicks
    WHERE lower_wick >= wick_min OR upper_wick >= wick_min
),
found AS (
    SELECT * FROM consolidations
    UNION ALL
    SELECT * FROM rejections
),
-- every later candle of the segment: does it break / touch the zone
later AS (
    SELECT z.first_seen, z.created_from, l.open_time,
        CASE WHEN z.type = 'demand' THEN l.close < z.price_low ELSE l.close > z.price_high END
            AS breaks,
        CASE WHEN z.type = 'demand' THEN l.low <= z.price_high ELSE l.high >= z.price_low END
            AS touches
    FROM found z JOIN c l ON l.segment = z.segment AND l.open_time > z.first_seen
),
broken AS (
    SELECT first_seen, created_from, min(open_time) FILTER (WHERE breaks) AS broken_at
    FROM later GROUP BY ALL
),
-- the candles before the break; a visit starts at a touching candle whose previous candle
-- did not touch (or is the zone's own)
visits AS (
    SELECT first_seen, created_from,
        count(*) FILTER (WHERE touches AND NOT coalesce(prev_touches, false)) AS test_count,
        max(open_time) FILTER (WHERE touches)                                 AS last_tested
    FROM (SELECT l.*, lag(l.touches) OVER (PARTITION BY l.first_seen, l.created_from
                                           ORDER BY l.open_time) AS prev_touches
          FROM later l JOIN broken b USING (first_seen, created_from)
          WHERE b.broken_at IS NULL OR l.open_time < b.broken_at)
    GROUP BY ALL
)
SELECT
    z.type,
    z.pattern,
    z.created_from,
    z.price_low,
    z.price_high,
    z.base_start,
    z.first_seen,
    z.base_candles,
    z.departure_ratio,
    CASE WHEN b.broken_at IS NOT NULL THEN CAST(0 AS DOUBLE)
         ELSE zone_strength(max_base, z.departure_ratio, z.base_candles,
                            coalesce(v.test_count, 0)) END          AS strength,
    coalesce(v.test_count, 0)                                       AS test_count,
    v.last_tested,
    CASE WHEN b.broken_at IS NOT NULL THEN 'broken'
         WHEN coalesce(v.test_count, 0) > 0 THEN 'tested' ELSE 'fresh' END AS status,
    b.broken_at
FROM found z
LEFT JOIN broken b USING (first_seen, created_from)
LEFT JOIN visits v USING (first_seen, created_from)
ORDER BY z.first_seen, z.created_from;
