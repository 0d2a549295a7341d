"""Embedded (SQLite) store specifics: survives a killed writer, readers work beside a
writer, and the schema guard."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from tapeflow.model.records import Position
from tapeflow.state.embedded import SCHEMA_VERSION, EmbeddedStore
from tests.support.paths import REPO_ROOT

WRITER = textwrap.dedent(
    """
    import sys
    from decimal import Decimal
    from tapeflow.state.embedded import EmbeddedStore
    from tapeflow.model.records import Position

    store = EmbeddedStore(sys.argv[1])
    i = 0
    while True:
        pid = f"p{i:06d}"
        store.create_position(Position(position_id=pid, symbol="binance/usdm/BTCUSDT",
                                       direction="long"))
        store.transition(pid, "open", quantity=Decimal("0.001") * (i + 1),
                         entry_price=Decimal("64000.5"))
        store.transition(pid, "closing", exit_client_order_id=f"{pid}-exit")
        store.transition(pid, "closed", exit_price=Decimal("64100.5"),
                         realized_pnl=Decimal("0.1") * (i + 1))
        print(pid, flush=True)
        i += 1
    """
)

EXPECTED_REVISION = {"pending": 0, "open": 1, "closing": 2, "closed": 3}


def test_a_killed_writer_leaves_only_whole_transactions(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")},
    )
    try:
        reported = [proc.stdout.readline().strip() for _ in range(40)]
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-loop: no close, no checkpoint
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert reported[-1] == "p000039"

    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = EmbeddedStore(db)
    try:
        positions = store.list_positions()
        by_id = {p.position_id: p for p in positions}
        for pid in reported:  # every transaction reported committed is there, whole
            p = by_id[pid]
            n = int(pid[1:]) + 1
            assert p.status == "closed" and p.revision == 3
            assert p.quantity == Decimal("0.001") * n
            assert p.realized_pnl == Decimal("0.1") * n
            assert p.exit_client_order_id == f"{pid}-exit"
        for p in positions:  # the one in flight at the kill is at a whole step
            assert p.revision == EXPECTED_REVISION[p.status]
            assert (p.exit_price is not None) == (p.status == "closed")
        assert len(positions) - len(reported) <= 1
    finally:
        store.close()


def test_readers_see_committed_state_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    store = EmbeddedStore(db)
    store.put_position(Position(position_id="p1", symbol="s", direction="long"))
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE positions SET quantity = '5' WHERE position_id = 'p1'")
        reader = EmbeddedStore(db)  # another process would open the same way
        assert reader.get_position("p1").quantity == Decimal(0)
        reader.close()
        other.execute("COMMIT")
        assert store.get_position("p1").quantity == Decimal(5)
    finally:
        other.close()
        store.close()


def test_a_writer_waits_for_the_lock_then_fails_clearly(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    EmbeddedStore(db).close()
    other = sqlite3.connect(db, isolation_level=None)
    store = EmbeddedStore(db, busy_timeout_s=0.2)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            store.put_position(Position(position_id="p1", symbol="s", direction="long"))
        other.execute("ROLLBACK")
        store.put_position(Position(position_id="p1", symbol="s", direction="long"))
        assert store.get_position("p1") is not None
    finally:
        other.close()
        store.close()


def test_schema_guard(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as con:
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer than this"):
        EmbeddedStore(newer)

    drifted = tmp_path / "drifted.sqlite3"
    EmbeddedStore(drifted).close()
    with sqlite3.connect(drifted) as con:
        con.execute("ALTER TABLE orders DROP COLUMN error")
    with pytest.raises(RuntimeError, match="table orders .* migration is missing"):
        EmbeddedStore(drifted)


def test_version_1_file_gains_the_target_column(tmp_path: Path) -> None:
    """A file written by schema version 1 (no ``positions.target_price``) is migrated on
    the first read-write open; its positions read back unchanged, without a target."""
    db = tmp_path / "v1.sqlite3"
    store = EmbeddedStore(db)
    store.put_position(
        Position(position_id="p1", symbol="s", direction="long", stop_price=Decimal("59880"))
    )
    store.close()
    with sqlite3.connect(db) as con:  # make it exactly what version 1 wrote
        con.execute("ALTER TABLE positions DROP COLUMN target_price")
        con.execute("PRAGMA user_version = 1")
    store = EmbeddedStore(db)
    try:
        old = store.get_position("p1")
        assert old.stop_price == Decimal("59880") and old.target_price is None
        store.put_position(old.model_copy(update={"target_price": Decimal("60180.0")}))
        assert store.get_position("p1").target_price == Decimal("60180.0")
    finally:
        store.close()
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2


def test_file_is_wal_and_strict(tmp_path: Path) -> None:
    db = tmp_path / "deep" / "dir" / "state.sqlite3"
    EmbeddedStore(db).close()
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with pytest.raises(sqlite3.IntegrityError):
            con.execute(
                "INSERT INTO positions (position_id, symbol, direction, status, quantity, fees,"
                " created_at, updated_at, revision) VALUES ('x','s','long','open','1','0',"
                "'t','t','not-an-int')"
            )
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            con.execute(
                "INSERT INTO positions (position_id, symbol, direction, status, quantity, fees,"
                " created_at, updated_at, revision) VALUES ('x','s','long','opened','1','0',"
                "'t','t',0)"
            )
