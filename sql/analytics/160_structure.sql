-- tapeflow analytics: swing structure — swing highs/lows, breaks of structure (BOS / CHoCH)
-- and order blocks with their mitigation. THE definition; tapeflow.analytics.structure's
-- StructureTracker is an incremental evaluation of it for the live strategy, proven equal to
-- it on every real recording (tests/analytics/test_structure_sql.py).
--
-- On the closed continuous candles of 150 (candles_continuous), per segment (nothing spans a
-- data gap), rows r = 0, 1, ... of a segment in open_time order; n = swing_bars,
-- L = ob_lookback. Swings: Bill Williams' fractal; BOS, CHoCH and order blocks: ICT /
-- "smart money concepts" as commonly charted.
--
-- Swing high at row k: high[k] > max(high[k-n .. k-1]) and high[k] >= max(high[k+1 .. k+n])
--   (strict on the left: a flat double top marks its first bar); swing low mirrored with
--   lows. Known n candles later: confirmed_at = open time of row k + n (the swing needs n
--   rows on both sides inside its segment).
-- Break of structure: the latest confirmed swing high is the reference from the row after its
--   confirmation up to and including the row that confirms the next swing high; the first
--   row in that span whose close > its price breaks structure upward and consumes it (swing
--   lows: close < price, downward). A break is 'choch' (change of character) when the
--   segment's previous break went the other way, else 'bos'. (One close cannot break both
--   references: a live swing high is never below a live swing low.)
-- Order block, at a break at row t of the swing at row k: the window is the last
--   w = min(t - k, L) rows up to t; the displacement leg starts at the row with the lowest low
--   in it (ties: the latest); the bullish block is the last bearish row (close < open) of the
--   window at or before that start. Downward: highest high, last bullish row (close > open),
--   bearish block. No such row: no block. The block spans that candle's [low, high].
-- Mitigation, over the rows after t in the segment: a bullish block is reached by a row with
--   low <= price_high and broken by a reached row closing below price_low (bearish: high >=
--   price_low, close above price_high). Until broken, each run of consecutive reached rows is
--   one mitigation (mitigations counts them; first_mitigated_at = the first one's open time);
--   broken_at = the breaking row's open time. status: 'fresh', 'mitigated', 'broken'.
-- Every value depends on candles with open_time < t_to only.
--
-- Defaults are the strategy's (config/strategy.py DetectionSettings: swing_bars 2,
-- order_block_lookback 20) and the store's candles.max_quiet_minutes (60).

-- NULL, or an error naming the parameter and the rule it breaks.
CREATE MACRO structure_params_error(swing_bars, ob_lookback) AS
    CASE WHEN swing_bars IS NULL OR swing_bars < 1 OR ob_lookback IS NULL OR ob_lookback < 1
         THEN error('structure: swing_bars and ob_lookback must be >= 1') END;

-- The closed continuous candles with seg_row (BIGINT, 0-based row in the segment).
CREATE MACRO structure_candles(tf, t_from, t_to, max_quiet_minutes) AS TABLE
SELECT open_time, open, high, low, close, segment,
       row_number() OVER (PARTITION BY segment ORDER BY open_time) - 1 AS seg_row
FROM candles_continuous(tf, t_from, t_to, max_quiet_minutes);

-- One row per confirmed swing, in confirmation order (a high before a low of the same
-- candle): kind ('high' | 'low'), price (DECIMAL, quote units), at (the swing candle's open
-- time), confirmed_at (open time of the candle swing_bars later) — plus segment, swing_row,
-- confirmed_row (rows in the segment).
CREATE MACRO swings(tf, t_from := TIMESTAMP '1970-01-01', t_to := TIMESTAMP '9999-01-01',
                    swing_bars := 2, max_quiet_minutes := 60) AS TABLE
WITH c AS (
    SELECT *,
        max(high) OVER l AS left_high, min(low) OVER l AS left_low, count(*) OVER l AS left_n,
        max(high) OVER r AS right_high, min(low) OVER r AS right_low,
        count(*) OVER r AS right_n,
        lead(open_time, coalesce(structure_params_error(swing_bars, 1), swing_bars))
            OVER (PARTITION BY segment ORDER BY seg_row) AS confirmed_at
    FROM structure_candles(tf, t_from, t_to, max_quiet_minutes)
    WINDOW l AS (PARTITION BY segment ORDER BY seg_row
                 ROWS BETWEEN swing_bars PRECEDING AND 1 PRECEDING),
           r AS (PARTITION BY segment ORDER BY seg_row
                 ROWS BETWEEN 1 FOLLOWING AND swing_bars FOLLOWING)
)
SELECT kind, price, "at", confirmed_at, segment, swing_row, confirmed_row
FROM (
    SELECT 'high' AS kind, high AS price, open_time AS "at", confirmed_at, segment,
           seg_row AS swing_row, seg_row + swing_bars AS confirmed_row, 0 AS side
    FROM c
    WHERE left_n = swing_bars AND right_n = swing_bars
      AND high > left_high AND high >= right_high
    UNION ALL
    SELECT 'low', low, open_time, confirmed_at, segment, seg_row, seg_row + swing_bars, 1
    FROM c
    WHERE left_n = swing_bars AND right_n = swing_bars
      AND low < left_low AND low <= right_low
)
ORDER BY confirmed_at, side;

-- One row per break of structure, in time order: direction ('up' | 'down'), kind ('bos' |
-- 'choch'), level (the broken swing's price), swing_at, broken_at — plus segment,
-- swing_row, broken_row.
CREATE MACRO structure_breaks(tf, t_from := TIMESTAMP '1970-01-01',
                              t_to := TIMESTAMP '9999-01-01', swing_bars := 2,
                              max_quiet_minutes := 60) AS TABLE
WITH c AS MATERIALIZED (
    SELECT * FROM structure_candles(tf, t_from, t_to, max_quiet_minutes)
),
s AS MATERIALIZED (
    SELECT *,
        lead(confirmed_row) OVER (PARTITION BY segment, kind ORDER BY confirmed_row)
            AS next_confirmed_row
    FROM swings(tf, t_from, t_to, swing_bars, max_quiet_minutes)
),
hits AS (
    SELECT s.kind, s.price, s."at", s.segment, s.swing_row, min(c.seg_row) AS broken_row
    FROM s
    JOIN c ON c.segment = s.segment
          AND c.seg_row > s.confirmed_row
          AND c.seg_row <= coalesce(s.next_confirmed_row, 9223372036854775807)
          AND CASE s.kind WHEN 'high' THEN c.close > s.price ELSE c.close < s.price END
    GROUP BY ALL
),
dirs AS (
    SELECT CASE kind WHEN 'high' THEN 'up' ELSE 'down' END AS direction, price AS level,
           "at" AS swing_at, segment, swing_row, broken_row
    FROM hits
)
SELECT d.direction,
       CASE WHEN lag(d.direction) OVER (PARTITION BY d.segment ORDER BY d.broken_row)
                 <> d.direction THEN 'choch' ELSE 'bos' END AS kind,
       d.level, d.swing_at, c.open_time AS broken_at, d.segment, d.swing_row, d.broken_row
FROM dirs d
JOIN c ON c.segment = d.segment AND c.seg_row = d.broken_row
ORDER BY broken_at;

-- One row per order block, in creation order: direction ('bullish' | 'bearish'), price_low,
-- price_high (the block candle's range), candle_at (block candle), bos_at (the breaking
-- candle), bos_level (the broken swing's price), status ('fresh' | 'mitigated' | 'broken'),
-- mitigations (BIGINT visits), first_mitigated_at, broken_at (TIMESTAMP, NULL if not yet).
CREATE MACRO order_blocks(tf, t_from := TIMESTAMP '1970-01-01',
                          t_to := TIMESTAMP '9999-01-01', swing_bars := 2, ob_lookback := 20,
                          max_quiet_minutes := 60) AS TABLE
WITH c AS MATERIALIZED (
    SELECT * FROM structure_candles(tf, t_from, t_to, max_quiet_minutes)
),
b AS MATERIALIZED (
    SELECT *,
        broken_row - least(broken_row - swing_row,
                           coalesce(structure_params_error(swing_bars, ob_lookback),
                                    ob_lookback)) + 1 AS window_row
    FROM structure_breaks(tf, t_from, t_to, swing_bars, max_quiet_minutes)
),
extreme AS (
    -- the leg start: the latest row holding the window's lowest low (highest high)
    SELECT b.segment, b.broken_row,
           arg_max(c.seg_row, struct_pack(
               x := CASE b.direction WHEN 'up' THEN -c.low ELSE c.high END,
               r := c.seg_row)) AS start_row
    FROM b
    JOIN c ON c.segment = b.segment AND c.seg_row BETWEEN b.window_row AND b.broken_row
    GROUP BY ALL
),
block AS (
    SELECT b.*, max(c.seg_row) AS block_row
    FROM b
    JOIN extreme e ON e.segment = b.segment AND e.broken_row = b.broken_row
    JOIN c ON c.segment = b.segment AND c.seg_row BETWEEN b.window_row AND e.start_row
          AND CASE b.direction WHEN 'up' THEN c.close < c.open ELSE c.close > c.open END
    GROUP BY ALL
),
blocks AS (
    SELECT CASE k.direction WHEN 'up' THEN 'bullish' ELSE 'bearish' END AS direction,
           c.low AS price_low, c.high AS price_high, c.open_time AS candle_at,
           k.broken_at AS bos_at, k.level AS bos_level, k.segment, k.broken_row
    FROM block k
    JOIN c ON c.segment = k.segment AND c.seg_row = k.block_row
),
visits AS (
    -- the rows after the block's break: reached, and broken (a reached row closing beyond)
    SELECT k.segment, k.broken_row, c.seg_row, c.open_time,
           CASE k.direction WHEN 'bullish' THEN c.low <= k.price_high
                            ELSE c.high >= k.price_low END AS reached,
           CASE k.direction WHEN 'bullish' THEN c.close < k.price_low
                            ELSE c.close > k.price_high END AS breaks
    FROM blocks k
    JOIN c ON c.segment = k.segment AND c.seg_row > k.broken_row
),
ends AS (
    SELECT segment, broken_row, min(seg_row) AS end_row, arg_min(open_time, seg_row) AS end_at
    FROM visits
    WHERE reached AND breaks
    GROUP BY ALL
),
runs AS (
    SELECT v.segment, v.broken_row,
           count(*) FILTER (WHERE v.reached AND NOT coalesce(v.prev_reached, false))
               AS mitigations,
           min(v.open_time) FILTER (WHERE v.reached) AS first_mitigated_at
    FROM (SELECT *, lag(reached) OVER (PARTITION BY segment, broken_row ORDER BY seg_row)
                        AS prev_reached
          FROM visits) v
    LEFT JOIN ends e ON e.segment = v.segment AND e.broken_row = v.broken_row
    WHERE v.seg_row < coalesce(e.end_row, 9223372036854775807)
    GROUP BY ALL
)
SELECT k.direction, k.price_low, k.price_high, k.candle_at, k.bos_at, k.bos_level,
       CASE WHEN e.end_row IS NOT NULL THEN 'broken'
            WHEN coalesce(r.mitigations, 0) > 0 THEN 'mitigated'
            ELSE 'fresh' END                         AS status,
       coalesce(r.mitigations, 0)                    AS mitigations,
       r.first_mitigated_at,
       e.end_at                                      AS broken_at
FROM blocks k
LEFT JOIN ends e ON e.segment = k.segment AND e.broken_row = k.broken_row
LEFT JOIN runs r ON r.segment = k.segment AND r.broken_row = k.broken_row
ORDER BY k.bos_at;
