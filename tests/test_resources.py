"""tapeflow.resources in a checkout (the editable install of `uv sync`): the top-level sql/
and configs/markets/ themselves are read, so an edit there needs no rebuild. The installed
wheel's copies are checked by tests/packaging/test_wheel.py."""

from pathlib import Path

import pytest
import yaml

from tapeflow.resources import SQL_KINDS, market_snapshot, sql_files, sql_folder
from tapeflow.store.catalog import load_definitions
from tapeflow.store.migrations import load_migrations
from tests.support.paths import REPO_ROOT


@pytest.mark.parametrize("kind", SQL_KINDS)
def test_a_checkout_reads_the_top_level_sql_folder(kind: str) -> None:
    assert sql_folder(kind) == REPO_ROOT / "sql" / kind
    on_disk = sorted((REPO_ROOT / "sql" / kind).glob("*.sql"))
    assert list(sql_files(sql_folder(kind))) == on_disk
    assert len(on_disk) >= 1


def test_migrations_and_analytics_are_the_numbered_files_of_the_checkout() -> None:
    schema = sorted(p.name for p in (REPO_ROOT / "sql" / "schema").glob("*.sql"))
    analytics = sorted(p.name for p in (REPO_ROOT / "sql" / "analytics").glob("*.sql"))
    assert [f"{m.version:03d}_{m.name}.sql" for m in load_migrations()] == schema
    assert [f"{d.version:03d}_{d.name}.sql" for d in load_definitions()] == analytics
    first = load_definitions()[0]
    path = REPO_ROOT / "sql" / "analytics" / f"{first.version:03d}_{first.name}.sql"
    assert first.sql == path.read_text(encoding="utf-8")


def test_sql_files_picks_up_every_sql_file_by_name_and_nothing_else(tmp_path: Path) -> None:
    for name in ("310_zones.sql", "300_fvgs.sql", "notes.md", "300_fvgs.sql.orig"):
        (tmp_path / name).write_text("SELECT 1;")
    (tmp_path / "999_folder.sql").mkdir()
    assert [f.name for f in sql_files(tmp_path)] == ["300_fvgs.sql", "310_zones.sql"]


def test_a_checkout_reads_the_top_level_market_snapshot() -> None:
    snapshot = market_snapshot("binance")
    assert snapshot == REPO_ROOT / "configs" / "markets" / "binance.yaml"
    rules = yaml.safe_load(snapshot.read_text())
    assert rules["usdm"]["BTCUSDT"]["base"] == "BTC"
    assert rules["spot"]["XRPETH"]["quote"] == "ETH"


def test_an_unknown_venue_names_the_snapshots_there_are() -> None:
    with pytest.raises(FileNotFoundError, match=r"venue 'kraken'.*there are: binance"):
        market_snapshot("kraken")


@pytest.mark.parametrize("venue", ["../binance", "Binance", "", "binance.yaml"])
def test_a_venue_name_is_never_a_path(venue: str) -> None:
    with pytest.raises(ValueError, match="lower-case name"):
        market_snapshot(venue)


def test_an_unknown_sql_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="schema, analytics"):
        sql_folder("views")  # type: ignore[arg-type]
