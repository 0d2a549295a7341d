-- The price increment the stored prices imply, for symbols whose exchange tick size is not
-- recorded (symbol_meta.tick_size NULL): 10^-d, where d is the largest number of decimals
-- (trailing zeros dropped) among the prices of the last n ticks. E.g. BTCUSDT USD-M prices
-- 61800.3, 61800.4 give 0.1; spot 61800.01 gives 0.01. It always divides every price seen;
-- an exchange tick that is not a power of ten (0.5, 0.25) shows as a finer power of ten.
-- NULL without ticks. Used by tapeflow.strategy for the market-profile bucket.
CREATE MACRO inferred_price_step(n) AS (
    SELECT CAST(power(10, -max(length(rtrim(split_part(CAST(price AS VARCHAR), '.', 2), '0'))))
                AS DECIMAL(18, 8))
    FROM (SELECT price FROM ticks ORDER BY trade_id DESC LIMIT n)
);
