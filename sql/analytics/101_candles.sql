-- tapeflow analytics: candles (OHLCV bars) from ticks — THE definition.
--
-- Everything else about candles (the cache tables of 102, rollups, continuous series, order
-- flow) is derived from the macros here; the cache tables are only a cache of them.
--
-- Which trades count: Binance builds klines from trades with X = MARKET only. Ticks with
-- trade_type NULL (markets that give no type, e.g. spot) or 'MARKET' count; INSURANCE_FUND,
-- ADL and NA trades stay stored in `ticks` but are left out of every bar and flow figure.
--
-- Buckets: epoch-aligned, half-open [open_time, close_time) in UTC, width from
-- timeframe_us(); e.g. 4h bars open at 00:00, 04:00, ... UTC like Binance. close_time is the
-- EXCLUSIVE end (Binance's kline "close time" is close_time - 1 ms).
--
-- Open and close are the prices of the lowest and highest trade_id in the bucket (not the
-- earliest/latest ts: several trades share a millisecond). All sums are exact DECIMALs:
-- volume = sum(quantity), quote_volume = sum(price * quantity) with all 16 decimals.
--
-- closed: the bar is final, proven by the tape: some tick (of any trade type) exists at or
-- after its close_time, i.e. close_time <= tape_end(). The last bar is therefore open
-- ("forming") until a later trade arrives; a live engine that wants wall-clock closure
-- decides that itself.
--
-- Macros whose names end in _at take the tape state (last_ts = tape_end(), and cache
-- watermarks, see 102) as parameters: callers that pass constants get static ts filters, so
-- DuckDB prunes ticks row groups by their zonemaps (a scalar subquery in a bound is only a
-- dynamic filter, applied or not depending on the plan). The plain-named macros and views
-- read the state themselves (convenient for ad-hoc SQL; same results).

-- Ticks that count in bars and flow.
CREATE VIEW kline_ticks AS
SELECT * FROM ticks WHERE trade_type IS NULL OR trade_type = 'MARKET';

-- Width of a timeframe in microseconds (BIGINT); NULL for an unknown name.
-- '1d' is the UTC session, used by profiles and CVD anchoring.
CREATE MACRO timeframe_us(tf) AS
    CASE tf WHEN '1m' THEN CAST(60000000 AS BIGINT)
            WHEN '5m' THEN CAST(300000000 AS BIGINT)
            WHEN '15m' THEN CAST(900000000 AS BIGINT)
            WHEN '1h' THEN CAST(3600000000 AS BIGINT)
            WHEN '4h' THEN CAST(14400000000 AS BIGINT)
            WHEN '1d' THEN CAST(86400000000 AS BIGINT) END;

-- A timestamp (>= 1970) rounded down / up to a multiple of w µs since the Unix epoch.
CREATE MACRO floor_us(t, w) AS make_timestamp((epoch_us(t) // w) * w);
CREATE MACRO ceil_us(t, w) AS make_timestamp(((epoch_us(t) + w - 1) // w) * w);

-- Bars of width_us µs starting at origin_us (µs since the epoch) over the ticks with
-- ts in [ts_from, ts_to), one row per bucket that has at least one counted trade.
-- Shared by candles (origin 0) and the trailing flow window (one bucket ending at `end`).
-- Reads only the row groups whose ts zonemap overlaps [ts_from, ts_to).
CREATE MACRO tick_bars(origin_us, width_us, ts_from, ts_to) AS TABLE
SELECT
    make_timestamp(origin_us + bucket * width_us)       AS open_time,
    make_timestamp(origin_us + (bucket + 1) * width_us) AS close_time,
    open, high, low, close,
    volume,
    quote_volume,
    trades,
    buy_volume,
    buy_quote_volume,
    volume - buy_volume                                 AS sell_volume,
    quote_volume - buy_quote_volume                     AS sell_quote_volume,
    buy_trades,
    trades - buy_trades                                 AS sell_trades,
    CAST(ratio8(quote_units, volume_units) AS DECIMAL(18, 8)) AS vwap,
    first_trade_id,
    last_trade_id
FROM (
    SELECT *, units16(quote_volume) AS quote_units, units8(volume) AS volume_units
    FROM (
        SELECT
            (epoch_us(ts) - origin_us) // width_us                      AS bucket,
            arg_min(price, trade_id)                                    AS open,
            max(price)                                                  AS high,
            min(price)                                                  AS low,
            arg_max(price, trade_id)                                    AS close,
            sum(quantity)                                               AS volume,
            sum(price * quantity)                                       AS quote_volume,
            count(*)                                                    AS trades,
            coalesce(sum(quantity) FILTER (WHERE side = 'buy'), 0)      AS buy_volume,
            coalesce(sum(price * quantity) FILTER (WHERE side = 'buy'), 0) AS buy_quote_volume,
            count(*) FILTER (WHERE side = 'buy')                        AS buy_trades,
            min(trade_id)                                               AS first_trade_id,
            max(trade_id)                                               AS last_trade_id
        FROM kline_ticks
        WHERE ts >= ts_from AND ts < ts_to
        GROUP BY bucket
    )
);

-- The time of the last tick of any type (NULL without ticks).
CREATE MACRO tape_end() AS (SELECT max(ts) FROM ticks);

-- Sparse candles of timeframe tf whose open_time lies in [t_from, t_to), straight from the
-- ticks, with the `closed` flag given the tape's last tick time last_ts.
-- Call with the symbol's database as the default (USE).
CREATE MACRO candles_from_ticks(tf, t_from, t_to, last_ts) AS TABLE
SELECT b.*, b.close_time <= last_ts AS closed
FROM tick_bars(0, timeframe_us(tf),
               ceil_us(t_from, timeframe_us(tf)), ceil_us(t_to, timeframe_us(tf))) b;

-- The definition over the whole tape, one view per timeframe (sparse).
CREATE VIEW candles_1m_ticks AS
SELECT * FROM candles_from_ticks('1m', TIMESTAMP '1970-01-01', TIMESTAMP '9999-01-01',
                                   tape_end());
CREATE VIEW candles_5m_ticks AS
SELECT * FROM candles_from_ticks('5m', TIMESTAMP '1970-01-01', TIMESTAMP '9999-01-01',
                                   tape_end());
CREATE VIEW candles_15m_ticks AS
SELECT * FROM candles_from_ticks('15m', TIMESTAMP '1970-01-01', TIMESTAMP '9999-01-01',
                                   tape_end());
CREATE VIEW candles_1h_ticks AS
SELECT * FROM candles_from_ticks('1h', TIMESTAMP '1970-01-01', TIMESTAMP '9999-01-01',
                                   tape_end());
CREATE VIEW candles_4h_ticks AS
SELECT * FROM candles_from_ticks('4h', TIMESTAMP '1970-01-01', TIMESTAMP '9999-01-01',
                                   tape_end());
