-- tapeflow analytics: order flow per candle and over a trailing window of ticks.
--
-- Terms (taker = aggressor side, as stored in ticks.side; only trades counted by 101):
--   delta          = buy_volume - sell_volume (base units), exact DECIMAL
--   cvd            = cumulative delta over the candles from the anchor on:
--                      'none' : from the first candle of the requested range
--                      'day'  : restarts at each UTC day (00:00 UTC session)
--                      'ts'   : from the first candle with open_time >= anchor_ts; candles
--                               before the anchor have cvd NULL
--   imbalance      = buy_volume / sell_volume as DOUBLE (a ratio, not money):
--                      +inf when sell_volume = 0 < buy_volume, 0 when buy_volume = 0 <
--                      sell_volume, NULL when both are 0. +inf compares greater than every
--                      threshold and NULL compares as unknown, so `imbalance > k` is safe.
--   delta_ratio    = (buy - sell) / (buy + sell) as DOUBLE in [-1, 1]; NULL without volume
--   avg_buy_size   = buy_volume / buy_trades, DECIMAL(38, 8) rounded half up;
--   avg_sell_size    NULL without trades of that side.

CREATE MACRO flow_imbalance(buy, sell) AS
    CASE WHEN sell > 0 THEN CAST(buy AS DOUBLE) / CAST(sell AS DOUBLE)
         WHEN buy > 0 THEN CAST('inf' AS DOUBLE)
         ELSE NULL END;

CREATE MACRO flow_delta_ratio(buy, sell) AS
    CASE WHEN buy + sell > 0
         THEN CAST(buy - sell AS DOUBLE) / CAST(buy + sell AS DOUBLE) END;

-- Order flow per (sparse) candle of tf with open_time in [t_from, t_to); header for terms.
-- anchor_kind: 'none' | 'day' | 'ts' (then anchor_ts is the anchor time, else ignored).
-- State parameters as for candles_fresh_at (102).
CREATE MACRO order_flow_at(tf, t_from, t_to, anchor_kind, anchor_ts,
                           last_ts, wm_1m, wm_tf) AS TABLE
WITH base AS (
    SELECT *,
        buy_volume - sell_volume AS delta,
        CASE anchor_kind
            WHEN 'day' THEN floor_us(open_time, timeframe_us('1d'))
            WHEN 'ts' THEN CASE WHEN open_time >= anchor_ts THEN anchor_ts END
            ELSE TIMESTAMP '1970-01-01' END AS anchor_group
    FROM candles_fresh_at(tf,
                          CASE anchor_kind
                              WHEN 'day' THEN floor_us(t_from, timeframe_us('1d'))
                              WHEN 'ts' THEN least(t_from, anchor_ts)
                              ELSE t_from END,
                          t_to, last_ts, wm_1m, wm_tf)
)
SELECT
    open_time,
    close_time,
    closed,
    trades,
    buy_trades,
    sell_trades,
    volume,
    buy_volume,
    sell_volume,
    delta,
    CASE WHEN anchor_group IS NOT NULL THEN
        sum(delta) OVER (PARTITION BY anchor_group ORDER BY open_time
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) END AS cvd,
    flow_imbalance(buy_volume, sell_volume)                               AS imbalance,
    flow_delta_ratio(buy_volume, sell_volume)                             AS delta_ratio,
    ratio8(buy_units, buy_trades)                                         AS avg_buy_size,
    ratio8(sell_units, sell_trades)                                       AS avg_sell_size
FROM (SELECT *, units8(buy_volume) AS buy_units, units8(sell_volume) AS sell_units FROM base)
QUALIFY open_time >= t_from;

-- The same reading the current state itself (for ad-hoc SQL).
CREATE MACRO order_flow(tf, t_from, t_to, anchor_kind, anchor_ts) AS TABLE
SELECT * FROM order_flow_at(tf, t_from, t_to, anchor_kind, anchor_ts,
                            tape_end(), candle_watermark('1m'), candle_watermark(tf));

-- Order flow of the counted trades with ts in [t_end - window_us µs, t_end): one row, also
-- when the window holds no trade (counts 0, prices NULL).
-- Cost: reads only the ticks row groups whose ts zonemap overlaps the window, i.e.
-- O(trades in the window + one row group) with ticks appended in time order.
CREATE MACRO flow_window(t_end, window_us) AS TABLE
SELECT
    make_timestamp(epoch_us(t_end) - window_us)              AS window_start,
    CAST(t_end AS TIMESTAMP)                                 AS window_end,
    coalesce(b.trades, 0)                                    AS trades,
    coalesce(b.buy_trades, 0)                                AS buy_trades,
    coalesce(b.sell_trades, 0)                               AS sell_trades,
    coalesce(b.volume, 0)                                    AS volume,
    coalesce(b.quote_volume, 0)                              AS quote_volume,
    coalesce(b.buy_volume, 0)                                AS buy_volume,
    coalesce(b.sell_volume, 0)                               AS sell_volume,
    coalesce(b.buy_volume - b.sell_volume, 0)                AS delta,
    flow_imbalance(b.buy_volume, b.sell_volume)              AS imbalance,
    flow_delta_ratio(b.buy_volume, b.sell_volume)            AS delta_ratio,
    ratio8(units8(b.buy_volume), b.buy_trades)               AS avg_buy_size,
    ratio8(units8(b.sell_volume), b.sell_trades)             AS avg_sell_size,
    b.vwap,
    b.open,
    b.high,
    b.low,
    b.close,
    b.first_trade_id,
    b.last_trade_id
FROM (SELECT 1 AS one) w
LEFT JOIN tick_bars(epoch_us(t_end) - window_us, window_us,
                    make_timestamp(epoch_us(t_end) - window_us), t_end) b ON true;
