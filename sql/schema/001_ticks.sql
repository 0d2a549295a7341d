-- tapeflow per-symbol schema, migration 1: trade ticks and their bookkeeping.
-- One DuckDB file per symbol: data/{exchange}/{market}/{symbol}/trading.duckdb.
-- All times are UTC (TIMESTAMP without zone, microsecond precision).
-- Files under sql/schema/ hold tables only and are applied to each file once, in order;
-- views and macros are in sql/analytics/ (defined once per process, see tapeflow.store.catalog).

-- Identity of this file and the id space of its trade ids. Exactly one row.
--   id_space = 'trade'     : raw exchange trade ids (Binance @trade `t`), contiguous per symbol
--   id_space = 'agg_trade' : aggregate trade ids (Binance @aggTrade `a`), contiguous per symbol;
--                            first_trade_id/last_trade_id hold the raw ids each one aggregates
CREATE TABLE symbol_meta (
    exchange    VARCHAR NOT NULL,
    market      VARCHAR NOT NULL,
    symbol      VARCHAR NOT NULL,
    id_space    VARCHAR CHECK (id_space IN ('trade', 'agg_trade')),
    tick_size   DECIMAL(18, 8),          -- exchange price increment, when known
    created_at  TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

-- Time & sales. One row per exchange trade id; idempotency and conflicts are enforced by the
-- store's append path (tapeflow.store.append), which keeps ids unique.
CREATE TABLE ticks (
    trade_id        BIGINT NOT NULL,         -- exchange trade id (see symbol_meta.id_space)
    ts              TIMESTAMP NOT NULL,      -- exchange trade time, UTC, µs precision
    price           DECIMAL(18, 8) NOT NULL, -- quote currency per unit of base
    quantity        DECIMAL(28, 8) NOT NULL, -- base quantity (contracts for COIN-M)
    side            VARCHAR NOT NULL CHECK (side IN ('buy', 'sell')),  -- aggressor (taker) side
    trade_type      VARCHAR,                 -- Binance USD-M `X`: MARKET/INSURANCE_FUND/ADL/NA; NULL if not given
    first_trade_id  BIGINT,                  -- agg_trade id space: first raw trade id
    last_trade_id   BIGINT,                  -- agg_trade id space: last raw trade id
    local_ts        TIMESTAMP                -- when the recorder received it (UTC), if known
);

-- A trade id that arrived again with different content. The stored tick is kept; the
-- incoming version is recorded here and never enters `ticks`.
CREATE TABLE tick_conflicts (
    trade_id     BIGINT NOT NULL,
    stored       VARCHAR NOT NULL,   -- JSON of the stored tick
    incoming     VARCHAR NOT NULL,   -- JSON of the rejected tick
    source       VARCHAR,            -- file path or feed name it came from
    detected_at  TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

-- Malformed input, kept verbatim with the reason it was refused.
CREATE TABLE quarantine (
    raw          VARCHAR,            -- the original record (line, JSON or row as JSON)
    reason       VARCHAR NOT NULL,
    source       VARCHAR,
    received_at  TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

-- Gap ledger: missing trade-id ranges seen by ingest or import, and what became of them.
CREATE TABLE gap_ledger (
    first_missing_id  BIGINT NOT NULL,
    last_missing_id   BIGINT NOT NULL,
    status            VARCHAR NOT NULL CHECK (status IN ('detected', 'filled', 'unfillable')),
    reason            VARCHAR,           -- how it was found, or why it cannot be filled
    detected_at       TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    resolved_at       TIMESTAMP
);

-- Files and feeds that wrote here, for `tapeflow info` and audit.
CREATE TABLE import_log (
    source       VARCHAR NOT NULL,
    received     BIGINT NOT NULL,
    inserted     BIGINT NOT NULL,
    duplicates   BIGINT NOT NULL,
    conflicts    BIGINT NOT NULL,
    quarantined  BIGINT NOT NULL,
    imported_at  TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);
