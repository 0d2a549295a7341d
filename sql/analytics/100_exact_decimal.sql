-- tapeflow analytics: exact decimal division.
-- DuckDB divides DECIMALs in DOUBLE. Ratios that are prices or quantities (VWAP, average
-- trade size) are instead computed here with HUGEINT integer arithmetic, so they are exact
-- to the last digit: the quotient rounded half up to 8 decimals.
-- Pass column references (not nested expressions) as arguments: a macro argument is
-- substituted wherever it is used, and big substituted expressions are slow to plan.

-- x as an integer count of 1e-8 units (HUGEINT). Exact for x with at most 8 decimals and
-- |x| < 1e30.
CREATE MACRO units8(x) AS
    CAST(trunc(CAST(x AS DECIMAL(38, 8))) AS HUGEINT) * CAST(100000000 AS HUGEINT)
    + CAST((CAST(x AS DECIMAL(38, 8)) - trunc(CAST(x AS DECIMAL(38, 8)))) * 100000000 AS HUGEINT);

-- x as an integer count of 1e-16 units (HUGEINT). Exact for x with at most 16 decimals and
-- |x| < 1e22 (e.g. a quote volume, sum(price * quantity), which has 16 decimals).
CREATE MACRO units16(x) AS
    CAST(trunc(CAST(x AS DECIMAL(38, 16))) AS HUGEINT) * CAST(10000000000000000 AS HUGEINT)
    + CAST((CAST(x AS DECIMAL(38, 16)) - trunc(CAST(x AS DECIMAL(38, 16))))
           * 10000000000000000 AS HUGEINT);

-- num_units / den_units as DECIMAL(38, 8), for num_units >= 0 and den_units > 0, where the
-- caller scales the two integers so that their quotient is the result in 1e-8 units, e.g.
--   vwap            = ratio8(units16(quote_volume), units8(volume))
--   mean trade size = ratio8(units8(volume), trades)
-- Rounded half up; NULL when den_units is 0 or NULL.
CREATE MACRO ratio8(num_units, den_units) AS
    CAST(CAST(CASE WHEN den_units > 0
                   THEN (2 * num_units + den_units) // (2 * den_units) END AS DECIMAL(38, 0))
         * 0.00000001 AS DECIMAL(38, 8));
