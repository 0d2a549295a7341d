"""The analytics API says what each method returns, and returns it."""

from __future__ import annotations

import inspect
from pathlib import Path

import polars as pl

from tapeflow.analytics.api import Analytics
from tapeflow.analytics.api import open as open_analytics
from tapeflow.analytics.profile import MarketProfile, ProfileSummary
from tapeflow.sources import import_paths
from tapeflow.store import TickStore
from tests.support.paths import HFT_DIR, REPO_ROOT


def public_methods() -> list[str]:
    return [
        name
        for name, member in inspect.getmembers(Analytics, inspect.isfunction)
        if not name.startswith("_") and name not in ("close", "from_store")
    ]


def test_every_query_method_documents_what_it_returns() -> None:
    undocumented = [m for m in public_methods() if "Returns:" not in getattr(Analytics, m).__doc__]
    assert undocumented == []


def test_market_profile_returns_what_the_docs_say(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with TickStore(root) as store:
        import_paths(store, [HFT_DIR / "cm" / "btcusd_perp_20240808.gz"], progress=False)
    with open_analytics(root) as ta:
        profile = ta.market_profile("BTCUSD_PERP", "2024-08-08 23:55", "2024-08-09", bucket="1")
    assert isinstance(profile, MarketProfile)  # not a DataFrame: levels with a summary
    assert isinstance(profile.levels, pl.DataFrame) and profile.levels.height > 10
    assert isinstance(profile.summary, ProfileSummary)
    assert profile.summary.val <= profile.summary.poc <= profile.summary.vah
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    assert "`market_profile` returns a `MarketProfile`" in readme
