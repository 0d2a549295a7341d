-- tapeflow per-symbol schema: the volume-at-price cache of the market profile, maintained by
-- tapeflow.analytics.candles.refresh_candles under the candle watermarks (read by the macros of
-- sql/analytics/120_market_profile.sql).

CREATE TABLE price_volume_1m (
    open_time   TIMESTAMP NOT NULL,        -- the minute (UTC)
    price       DECIMAL(18, 8) NOT NULL,
    volume      DECIMAL(38, 8) NOT NULL,   -- base
    buy_volume  DECIMAL(38, 8) NOT NULL,   -- taker buys
    trades      BIGINT NOT NULL
);
CREATE TABLE price_volume_1h AS SELECT * FROM price_volume_1m WITH NO DATA;  -- per hour
