-- tapeflow analytics: the candle cache — tables the hot path reads, maintained from the
-- definition in 101 by tapeflow.analytics.candles.refresh_candles().
--
-- Invariant (kept by refresh_candles in one transaction): for each timeframe tf,
--   candles_<tf> holds exactly the rows of the definition with open_time < watermark(tf),
--   and watermark(tf) = floor_tf(tape_end()) at the last refresh.
-- Every cached row is therefore closed (a tick at or after its close_time exists) and final,
-- as long as no tick arrives later with an older ts (a gap backfill): refresh_candles detects
-- that (ticks_before no longer matches) and rebuilds.
-- 1m rows are computed from ticks; 5m..4h rows are rolled up from cached 1m rows (sum, min,
-- max, open of the lowest first_trade_id, close of the highest last_trade_id), which equals
-- the definition exactly.
--
-- Readers never see a stale answer: the *_fresh macros return cached rows below the
-- watermark UNION ALL the definition from the watermark on. A reader passes the state it
-- read (candle_state()); cached rows are cut at the watermark it passes, so a refresh running
-- in between cannot make rows appear twice.

CREATE TABLE candles_1m (
    open_time          TIMESTAMP NOT NULL,   -- UTC, bucket start
    close_time         TIMESTAMP NOT NULL,   -- UTC, exclusive bucket end
    open               DECIMAL(18, 8) NOT NULL,
    high               DECIMAL(18, 8) NOT NULL,
    low                DECIMAL(18, 8) NOT NULL,
    close              DECIMAL(18, 8) NOT NULL,
    volume             DECIMAL(38, 8) NOT NULL,   -- base
    quote_volume       DECIMAL(38, 16) NOT NULL,  -- sum(price * quantity), exact
    trades             BIGINT NOT NULL,
    buy_volume         DECIMAL(38, 8) NOT NULL,   -- taker (aggressor) buys
    buy_quote_volume   DECIMAL(38, 16) NOT NULL,
    sell_volume        DECIMAL(38, 8) NOT NULL,   -- taker sells
    sell_quote_volume  DECIMAL(38, 16) NOT NULL,
    buy_trades         BIGINT NOT NULL,
    sell_trades        BIGINT NOT NULL,
    vwap               DECIMAL(18, 8) NOT NULL,   -- quote_volume / volume, rounded half up
    first_trade_id     BIGINT NOT NULL,
    last_trade_id      BIGINT NOT NULL,
    closed             BOOLEAN NOT NULL
);
CREATE TABLE candles_5m AS SELECT * FROM candles_1m WITH NO DATA;
CREATE TABLE candles_15m AS SELECT * FROM candles_1m WITH NO DATA;
CREATE TABLE candles_1h AS SELECT * FROM candles_1m WITH NO DATA;
CREATE TABLE candles_4h AS SELECT * FROM candles_1m WITH NO DATA;

-- One row per timeframe. open_time: the watermark (NULL = nothing cached yet);
-- ticks_before: count of ticks with ts < watermark when it was set (late-tick detection).
CREATE TABLE candle_watermarks (
    timeframe     VARCHAR NOT NULL,
    open_time     TIMESTAMP,
    ticks_before  BIGINT,
    refreshed_at  TIMESTAMP
);
INSERT INTO candle_watermarks (timeframe) VALUES ('1m'), ('5m'), ('15m'), ('1h'), ('4h');
