-- tapeflow analytics: fair value gaps (FVGs) with fill % and status — THE definition.
--
-- Seed 001 §4.1 (table fair_value_gaps: fvg_type, gap_low/gap_high/gap_size, created_at,
-- filled_at, fill_percentage 0-100, status 'open' | 'partial' | 'filled') and §5.4 (the
-- three-candle detector). tapeflow.analytics.fvg.FvgTracker is an incremental evaluation of
-- this definition for the live strategy, proven equal to it on every real recording
-- (tests/analytics/test_fvg_sql.py).
--
-- On the closed continuous candles of 150, per segment (no gap spans a data gap), with
-- c1, c2, c3 consecutive:
--   bullish when c1.high < c3.low and c2 is bullish (close > open): [bottom, top] =
--           [c1.high, c3.low];
--   bearish when c1.low > c3.high and c2 is bearish (close < open): [bottom, top] =
--           [c3.high, c1.low].
-- created_at = c3's open time (known at its close), anchor_at = c2's. Edges are candle
-- prices, exact DECIMALs. size = top - bottom; size_pct = size / c3.close * 100 (DOUBLE);
-- size_atr = size / ATR at c3's close (DOUBLE, NULL before ATR exists).
-- Size filters (0 / NULL = off; all that are set must hold):
--   size >= min_ticks * tick_size (exact: tick_size taken as DECIMAL(18, 8), the store's
--   price precision; min_ticks > 0 needs a positive tick_size),
--   size_pct >= min_pct, size >= min_atr * ATR(atr_period) (a gap is rejected while ATR is
--   still undefined when min_atr > 0).
-- Fill, from the candles AFTER c3 in the same segment: a bullish gap is *touched* by a candle
-- with low < top and *filled* by one with low <= bottom (bearish: high > bottom, high >= top).
-- filled_at / first_touched_at = the first such candle's open time. deepest = the furthest
-- price traded into the gap: the filling candle's low (bullish; high if bearish), else the
-- lowest low (highest high) of the touching candles. fill_pct = 100 when filled, else
-- (top - deepest) / size * 100 (bearish: deepest - bottom), 0 untouched. status: 'open'
-- (never touched), 'partial' (touched, not filled), 'filled'. unfilled_bottom/top: the part
-- not yet traded through (bullish [bottom, deepest], bearish [deepest, top]; the whole gap
-- untouched; NULL once filled). Every value depends on candles with open_time < t_to only.
--
-- Example (tapeflow sql binance/usdm/BTCUSDT "..."):
--   SELECT * FROM fvgs('1m', min_pct := 0.01) WHERE status <> 'filled'

-- NULL, or an error naming the parameter and the rule it breaks.
CREATE MACRO fvg_params_error(min_ticks, tick_size, min_pct, min_atr, atr_period) AS
    CASE WHEN min_ticks < 0 OR min_pct < 0 OR min_atr < 0
         THEN error('fvgs: size filters min_ticks, min_pct, min_atr must be >= 0')
         WHEN min_ticks > 0 AND coalesce(CAST(tick_size AS DECIMAL(18, 8)), 0) <= 0
         THEN error('fvgs: min_ticks needs a positive tick_size')
         WHEN atr_period IS NULL OR atr_period <= 0
         THEN error('fvgs: atr_period must be positive') END;

-- One row per gap of the closed candles of tf with open_time in [t_from, t_to), in creation
-- order; columns: see the README (Jupyter use) and the header above. Defaults are the
-- strategy's (config/strategy.py: fvg_min_pct, fvg_min_atr; ATR period 14) and the store's
-- candles.max_quiet_minutes (60).
CREATE MACRO fvgs(tf, t_from := TIMESTAMP '1970-01-01', t_to := TIMESTAMP '9999-01-01',
                  min_ticks := 0, tick_size := NULL, min_pct := 0.0, min_atr := 0.0,
                  atr_period := 14, max_quiet_minutes := 60) AS TABLE
WITH c AS (
    SELECT open_time, open, high, low, close, segment, atr
    FROM candles_atr(tf, t_from, t_to, max_quiet_minutes, atr_period)
    WHERE fvg_params_error(min_ticks, tick_size, min_pct, min_atr, atr_period) IS NULL
),
triples AS (
    SELECT *,
        lag(high, 2) OVER s AS c1_high, lag(low, 2) OVER s AS c1_low,
        lag(open, 1) OVER s AS c2_open, lag(close, 1) OVER s AS c2_close,
        lag(open_time, 1) OVER s AS c2_open_time
    FROM c
    WINDOW s AS (PARTITION BY segment ORDER BY open_time)
),
found AS (
    SELECT segment, direction, c2_open_time AS anchor_at, open_time AS created_at,
           bottom, top, size_ AS size,
           CAST(units8(size_) * 100 AS DOUBLE) / CAST(units8(close) AS DOUBLE) AS size_pct,
           CASE WHEN atr <> 0 THEN CAST(size_ AS DOUBLE) / atr END AS size_atr,
           atr
    FROM (SELECT *,
              CASE WHEN c1_high < low AND c2_close > c2_open THEN 'bullish'
                   WHEN c1_low > high AND c2_close < c2_open THEN 'bearish' END AS direction,
              CASE WHEN c1_high < low AND c2_close > c2_open THEN c1_high ELSE high END
                  AS bottom,
              CASE WHEN c1_high < low AND c2_close > c2_open THEN low ELSE c1_low END AS top,
              top - bottom AS size_
          FROM triples)
    WHERE direction IS NOT NULL
),
gaps AS (
    SELECT * EXCLUDE (atr) FROM found
    -- (a NULL tick_size goes through the check again: a constant NULL here would fold the
    -- plan to an empty result that never reads the candles, nor raises)
    WHERE (min_ticks = 0
           OR size >= min_ticks * CAST(coalesce(tick_size,
                                                fvg_params_error(min_ticks, tick_size, min_pct,
                                                                 min_atr, atr_period))
                                       AS DECIMAL(18, 8)))
      AND size_pct >= min_pct
      AND (min_atr = 0 OR (atr IS NOT NULL AND NOT isnan(atr)
                           AND CAST(size AS DOUBLE) >= min_atr * atr))
),
-- every later candle of the segment, with whether it touches / fills the gap
later AS (
    SELECT g.created_at, l.open_time,
        CASE WHEN g.direction = 'bullish' THEN l.low ELSE l.high END AS price,
        CASE WHEN g.direction = 'bullish' THEN l.low < g.top ELSE l.high > g.bottom END
            AS touches,
        CASE WHEN g.direction = 'bullish' THEN l.low <= g.bottom ELSE l.high >= g.top END
            AS fills
    FROM gaps g JOIN c l ON l.segment = g.segment AND l.open_time > g.created_at
),
fill AS (
    SELECT created_at,
        min(open_time) FILTER (WHERE fills)                   AS filled_at,
        arg_min(price, open_time) FILTER (WHERE fills)        AS fill_price,
        min(open_time) FILTER (WHERE touches)                 AS first_touched_at,
        min(price) FILTER (WHERE touches)                     AS lowest,
        max(price) FILTER (WHERE touches)                     AS highest
    FROM later
    GROUP BY created_at
),
state AS (
    SELECT g.*, f.filled_at,
        f.first_touched_at,
        -- a fill ends the tracking at the filling candle's price; before it every touch
        -- lies inside the gap, so the lowest (highest) touch is the furthest one
        CASE WHEN f.filled_at IS NOT NULL THEN f.fill_price
             WHEN g.direction = 'bullish' THEN f.lowest ELSE f.highest END AS deepest
    FROM gaps g LEFT JOIN fill f USING (created_at)
)
SELECT
    direction,
    anchor_at,
    created_at,
    bottom,
    top,
    size,
    size_pct,
    size_atr,
    CASE WHEN filled_at IS NOT NULL THEN CAST(100 AS DOUBLE)
         WHEN deepest IS NULL THEN CAST(0 AS DOUBLE)
         ELSE least(CAST(100 AS DOUBLE),
                    CAST(units8(depth) * 100 AS DOUBLE) / CAST(units8(size) AS DOUBLE))
    END AS fill_pct,
    CASE WHEN filled_at IS NOT NULL THEN 'filled'
         WHEN deepest IS NOT NULL THEN 'partial' ELSE 'open' END AS status,
    first_touched_at,
    filled_at,
    deepest,
    CASE WHEN filled_at IS NOT NULL THEN NULL
         WHEN direction = 'bearish' THEN coalesce(deepest, bottom) ELSE bottom END
        AS unfilled_bottom,
    CASE WHEN filled_at IS NOT NULL THEN NULL
         WHEN direction = 'bullish' THEN coalesce(deepest, top) ELSE top END AS unfilled_top
FROM (SELECT *, CASE WHEN direction = 'bullish' THEN top - deepest ELSE deepest - bottom END
                    AS depth
      FROM state)
ORDER BY created_at;
