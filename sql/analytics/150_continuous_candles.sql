-- tapeflow analytics: the continuous closed candle series and Wilder's ATR, as the detectors
-- of 151 (FVGs) and 152 (supply/demand zones) read them.
--
-- Continuous series (the rule of tapeflow.analytics.segments): between two consecutive
-- traded candles A and B of tf the series BREAKS (B starts a new segment, nothing is filled
-- between them) when more than max_empty = max_quiet_minutes // tf consecutive intervals
-- without trades lie between them, or when trade ids are missing between them
-- (ids_missing_between of 001). Otherwise every interval between them is a filled candle:
-- open = high = low = close = A.close, volume and trades 0.
-- Only closed candles: the series ends with the interval before the one holding the last
-- tick (tape_end()). A detector runs per segment and never across a break.
--
-- ATR(n), Wilder (1978): TR = max(high - low, |high - prev close|, |low - prev close|) from
-- the segment's second candle on; ATR at the segment's row n (0-based) is the mean of the
-- first n TRs, then ATR = ATR_prev + (TR - ATR_prev) / n; NULL before row n. Prices are cast
-- to DOUBLE (correctly rounded) for this arithmetic, as tapeflow.analytics.indicators does.
-- The recursion is folded over the last 64 n rows (list_reduce over a window): rows further
-- back weigh (1 - 1/n)^(64 n) < e^-64 < 1e-27, far below a DOUBLE's precision, so the value
-- is Wilder's to the last bits while each row costs O(n), not O(rows).

-- Closed continuous candles of tf with open_time in [t_from, t_to); columns open_time,
-- close_time (TIMESTAMP, UTC), open, high, low, close (DECIMAL(18, 8), quote units), volume
-- (DECIMAL, base units; 0 when filled), trades (BIGINT; 0 when filled), segment (BIGINT, 0
-- for the first row, +1 after each break).
-- Reads the traded candles from (max_empty + 1) intervals before t_from (a quiet start is
-- filled from the last close before it when that lies inside the segment) to the first
-- traded candle after the range (a quiet end is filled when the segment goes on).
CREATE MACRO candles_continuous(tf, t_from, t_to, max_quiet_minutes) AS TABLE
WITH p AS (
    SELECT w, max_empty, first_us,
           epoch_us(ceil_us(least(t_to, floor_us(tape_end(), w)), w)) - w AS last_us,
           epoch_us(floor_us(tape_end(), w))                            AS end_us
    FROM (SELECT timeframe_us(tf) AS w,
                 CAST(max_quiet_minutes AS BIGINT) * 60000000 // timeframe_us(tf) AS max_empty,
                 epoch_us(ceil_us(t_from, timeframe_us(tf))) AS first_us)
),
traded AS (
    SELECT epoch_us(c.open_time) AS t_us, c.open, c.high, c.low, c.close, c.volume, c.trades,
           c.first_trade_id, c.last_trade_id
    FROM candles(tf,
                 make_timestamp(greatest((SELECT first_us - (max_empty + 1) * w FROM p), 0)),
                 make_timestamp((SELECT last_us + (max_empty + 2) * w FROM p))) c
),
-- the traded candles up to the range's end, then the next traded one, or else the interval
-- holding the last tick (the tape ends there; no trade ids to check)
rows_ AS (
    SELECT * FROM traded WHERE t_us <= (SELECT last_us FROM p)
    UNION ALL
    SELECT * FROM (
        SELECT * FROM traded WHERE t_us > (SELECT last_us FROM p)
        UNION ALL
        SELECT end_us, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM p
        ORDER BY t_us, open IS NULL LIMIT 1)
),
flagged AS (
    SELECT * EXCLUDE (prev_us, prev_last_id),
        CASE WHEN (t_us - prev_us) // (SELECT w FROM p) - 1 > (SELECT max_empty FROM p)
             THEN true
             WHEN first_trade_id > prev_last_id + 1
             THEN ids_missing_between(prev_last_id, first_trade_id) > 0
             ELSE false END AS brk
    FROM (SELECT *, lag(t_us) OVER o AS prev_us, lag(last_trade_id) OVER o AS prev_last_id
          FROM rows_ WINDOW o AS (ORDER BY t_us))
),
runs AS (
    SELECT *,
        sum(CASE WHEN brk THEN 1 ELSE 0 END) OVER o AS seg_raw,
        CASE WHEN lead(t_us) OVER o IS NOT NULL AND NOT lead(brk) OVER o
             THEN lead(t_us) OVER o - (SELECT w FROM p) ELSE t_us END AS run_end_us
    FROM flagged
    WINDOW o AS (ORDER BY t_us ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
grid AS (
    SELECT r.*, unnest(range(r.t_us, r.run_end_us + (SELECT w FROM p), (SELECT w FROM p))) AS at_us
    FROM runs r
    WHERE r.open IS NOT NULL
)
SELECT
    make_timestamp(at_us)                                         AS open_time,
    make_timestamp(at_us + (SELECT w FROM p))                     AS close_time,
    CASE WHEN at_us = t_us THEN open ELSE close END               AS open,
    CASE WHEN at_us = t_us THEN high ELSE close END               AS high,
    CASE WHEN at_us = t_us THEN low ELSE close END                AS low,
    close,
    CASE WHEN at_us = t_us THEN volume ELSE 0 END                 AS volume,
    CAST(CASE WHEN at_us = t_us THEN trades ELSE 0 END AS BIGINT)  AS trades,
    seg_raw - min(seg_raw) OVER ()                                AS segment
FROM grid
WHERE at_us >= (SELECT first_us FROM p) AND at_us <= (SELECT last_us FROM p)
ORDER BY open_time;

-- candles_continuous plus, per row: seg_row (BIGINT, 0-based index in its segment), tr and
-- atr (DOUBLE, quote units; ATR(atr_period), Wilder, NULL before seg_row = atr_period).
CREATE MACRO candles_atr(tf, t_from, t_to, max_quiet_minutes, atr_period) AS TABLE
WITH c AS (
    SELECT *,
        row_number() OVER s - 1 AS seg_row,
        CASE WHEN row_number() OVER s > 1 THEN
            greatest(CAST(high AS DOUBLE) - CAST(low AS DOUBLE),
                     abs(CAST(high AS DOUBLE) - CAST(lag(close) OVER s AS DOUBLE)),
                     abs(CAST(low AS DOUBLE) - CAST(lag(close) OVER s AS DOUBLE))) END AS tr
    FROM candles_continuous(tf, t_from, t_to, max_quiet_minutes)
    WHERE CASE WHEN atr_period IS NULL OR atr_period < 1
               THEN error('candles_atr: atr_period must be >= 1') ELSE true END
    WINDOW s AS (PARTITION BY segment ORDER BY open_time)
),
w AS (
    SELECT *,
        max(CASE WHEN seg_row = atr_period THEN seed END) OVER (PARTITION BY segment) AS seed_atr
    FROM (SELECT *,
              avg(tr) OVER (PARTITION BY segment ORDER BY open_time
                            ROWS BETWEEN greatest(atr_period - 1, 0) PRECEDING AND CURRENT ROW) AS seed,
              list(tr) OVER (PARTITION BY segment ORDER BY open_time
                             ROWS BETWEEN greatest(64 * atr_period, 0) PRECEDING AND CURRENT ROW) AS trs
          FROM c)
)
SELECT * EXCLUDE (seed, seed_atr, trs),
    CASE WHEN seg_row < atr_period THEN NULL
         WHEN seg_row - 64 * atr_period <= atr_period
         THEN list_reduce(list_slice(trs, len(trs) - (seg_row - atr_period) + 1, len(trs)),
                          lambda acc, x: acc + (x - acc) * (CAST(1 AS DOUBLE) / atr_period), seed_atr)
         ELSE list_reduce(list_slice(trs, 2, len(trs)),
                          lambda acc, x: acc + (x - acc) * (CAST(1 AS DOUBLE) / atr_period), trs[1]) END AS atr
FROM w
ORDER BY open_time;
