"""Hostile queries: what a careless or malicious notebook might send as "read-only" SQL.

Each is run through every path a user's query takes (``Analytics.sql``, ``tapeflow sql``,
the live query endpoint) and through the sandbox alone (without the friendly parser check),
and must fail and change nothing. ``{root}`` is the store root, ``{other}`` the database
file of another symbol. docs/security.md lists the same table with the error each gets.
"""

HOSTILE_QUERIES: tuple[str, ...] = (
    # data-modifying CTEs and EXPLAIN ANALYZE of writes
    "WITH d AS (DELETE FROM ticks RETURNING *) SELECT count(*) FROM d",
    "WITH u AS (UPDATE ticks SET price = 1 RETURNING trade_id) SELECT count(*) FROM u",
    "WITH i AS (INSERT INTO ticks SELECT * FROM ticks LIMIT 1 RETURNING trade_id) "
    "SELECT count(*) FROM i",
    "WITH d AS (DELETE FROM symbol_meta RETURNING *) SELECT * FROM d",
    "EXPLAIN ANALYZE DELETE FROM ticks",
    "EXPLAIN ANALYZE UPDATE ticks SET price = 1",
    # plain writes and DDL
    "DELETE FROM ticks",
    "UPDATE ticks SET price = 1",
    "INSERT INTO ticks SELECT * FROM ticks",
    "TRUNCATE ticks",
    "DROP TABLE ticks",
    "CREATE TABLE evil AS SELECT 1 AS x",
    "ALTER TABLE ticks ADD COLUMN evil INTEGER",
    "CREATE OR REPLACE MACRO memory.main.candles_1m_ticks() AS TABLE SELECT 1 AS x",
    # writing files
    "COPY (SELECT 'overwritten' AS x) TO '{other}' (FORMAT csv)",
    "EXPLAIN ANALYZE COPY (SELECT 'overwritten' AS x) TO '{other}' (FORMAT csv)",
    "COPY ticks TO '{root}/ticks.csv'",
    "EXPORT DATABASE '{root}/export'",
    # attaching, extensions, settings, checkpoints
    "ATTACH '{other}' AS other",
    "ATTACH '{root}/new.duckdb' AS fresh",
    "DETACH memory",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET threads = 64",
    "RESET lock_configuration",
    "PRAGMA memory_limit = '64GB'",
    "CHECKPOINT",
    "FORCE CHECKPOINT",
    "VACUUM",
    # reading files outside the store
    "SELECT * FROM read_csv('/etc/passwd', sep = ':')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_blob('{other}')",
    "SELECT * FROM read_parquet('{root}/*.parquet')",
    "SELECT * FROM read_json('{root}/.tapeflow/endpoint.json')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM glob('{root}/**')",
    "EXPLAIN ANALYZE SELECT * FROM read_csv('/etc/passwd')",
    # several statements
    "SELECT 1; SELECT 2",
    "SELECT count(*) FROM ticks; DELETE FROM ticks",
)


#: Statements the sandbox itself runs as no-ops (a checkpoint or vacuum of a read-only
#: attachment, detaching its own in-memory catalog); every public path refuses them first.
SANDBOX_NO_OPS = frozenset({"CHECKPOINT", "FORCE CHECKPOINT", "VACUUM", "DETACH memory"})


def hostile(root, other) -> list[str]:
    """The queries with ``{root}`` and ``{other}`` filled in."""
    return [q.replace("{root}", str(root)).replace("{other}", str(other)) for q in HOSTILE_QUERIES]
