"""Gap bookkeeping in a symbol's store: which ids of a range are missing, and the ledger rows
left open (``detected``) by an earlier run. Blocking DuckDB calls: run them in a thread."""

from __future__ import annotations

from tapeflow.model.symbols import SymbolKey
from tapeflow.store import TickStore, UnknownSymbolError

# Missing ids of [lo, hi]: the stored ids inside the range, bracketed by lo-1 and hi+1, and
# every step larger than one between neighbours.
_MISSING_SQL = """
WITH present AS (
    SELECT trade_id FROM ticks WHERE trade_id BETWEEN $lo AND $hi
    UNION ALL SELECT $lo - 1
    UNION ALL SELECT $hi + 1
)
SELECT trade_id + 1 AS first_missing, next_id - 1 AS last_missing
FROM (SELECT trade_id, lead(trade_id) OVER (ORDER BY trade_id) AS next_id FROM present)
WHERE next_id > trade_id + 1
ORDER BY 1
"""


def missing_ranges(store: TickStore, key: SymbolKey, lo: int, hi: int) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` ranges of ids in ``lo..hi`` that ``key`` has not stored,
    ascending. Empty if ``lo > hi``; the whole range if the symbol has no file yet."""
    if lo > hi:
        return []
    try:
        with store.connection(key) as con:
            rows = con.execute(_MISSING_SQL, {"lo": lo, "hi": hi}).fetchall()
    except UnknownSymbolError:
        return [(lo, hi)]
    return [(int(a), int(b)) for a, b in rows]


def open_gaps(store: TickStore, key: SymbolKey) -> list[tuple[int, int, str | None]]:
    """Ledger rows of ``key`` still ``detected`` (not repaired by an earlier run):
    ``(first_missing_id, last_missing_id, reason)``."""
    if not key.path(store.root).exists():
        return []
    with store.connection(key) as con:
        return [
            (int(a), int(b), r)
            for a, b, r in con.execute(
                "SELECT first_missing_id, last_missing_id, reason FROM gap_ledger "
                "WHERE status = 'detected' ORDER BY 1"
            ).fetchall()
        ]
