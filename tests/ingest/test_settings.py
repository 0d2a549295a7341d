"""Ingest settings: defaults, validation messages naming the key, secrets from the env."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tapeflow.config.ingest import FeedSpec
from tapeflow.ingest import IngestConfigError, IngestSettings, load_ingest_config
from tapeflow.model.symbols import SymbolKey
from tests.support.paths import REPO_ROOT


def test_defaults_follow_the_issue():
    s = IngestSettings()
    assert (s.batch_size, s.flush_interval_s) == (100, 1.0)
    assert s.rest_api_key_env == "BINANCE_API_KEY"
    assert s.rest_rate_limit is True


def test_shipped_config_loads():
    cfg = load_ingest_config(REPO_ROOT / "configs" / "ingest.yaml")
    keys = [k for f in cfg.feeds for k in f.symbol_keys()]
    assert SymbolKey("binance", "usdm", "BTCUSDT") in keys
    assert SymbolKey("binance", "spot", "ETHUSDT") in keys
    assert cfg.store.root == Path("data")


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "ingest.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "feeds: [{market: futures, symbols: [BTCUSDT]}]",
            "feeds[0].market: Input should be 'spot' or 'usdm'",
        ),
        ("feeds: [{market: spot, symbols: [btcusdt]}]", "feeds[0]: invalid symbol 'btcusdt'"),
        (
            "feeds: [{market: spot, symbols: [BTCUSDT, BTCUSDT]}]",
            "feeds[0].symbols: symbols listed more than once: BTCUSDT",
        ),
        (
            "feeds: [{market: spot, symbols: [BTCUSDT]}]\ningest: {batch_size: 0}",
            "ingest.batch_size: Input should be greater than or equal to 1",
        ),
        (
            "feeds: [{market: spot, symbols: [BTCUSDT]}]\ningest: {batchsize: 10}",
            "ingest.batchsize: Extra inputs are not permitted",
        ),
        (
            "feeds: [{market: spot, symbols: [BTCUSDT]}]\ningest: {ws_url: 'http://x'}",
            "ingest.ws_url: must start with ws:// or wss://",
        ),
        (
            "feeds:\n  - {market: spot, symbols: [BTCUSDT]}\n"
            "  - {market: spot, symbols: [BTCUSDT]}",
            "binance/spot/BTCUSDT is configured in more than one feed",
        ),
        ("feeds: []", "feeds: Tuple should have at least 1 item"),
        ("- just a list", "expected a mapping"),
        ("feeds: [", "not valid YAML"),
    ],
)
def test_bad_files_name_the_key_and_the_rule(tmp_path, text, expected):
    with pytest.raises(IngestConfigError) as exc:
        load_ingest_config(_write(tmp_path, text))
    assert expected in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(IngestConfigError, match="cannot read"):
        load_ingest_config(tmp_path / "nope.yaml")


def test_api_key_comes_from_the_environment_only(monkeypatch):
    s = IngestSettings(rest_api_key_env="TAPEFLOW_TEST_KEY_X")
    monkeypatch.delenv("TAPEFLOW_TEST_KEY_X", raising=False)
    assert s.api_key() is None
    monkeypatch.setenv("TAPEFLOW_TEST_KEY_X", "abc123")
    key = s.api_key()
    assert key is not None and key.get_secret_value() == "abc123"
    assert "abc123" not in repr(key) and "abc123" not in repr(s)
    with pytest.raises(ValidationError):
        IngestSettings(api_key="abc")  # no field for secrets


def test_feed_spec_is_frozen_and_names_itself():
    f = FeedSpec(market="usdm", symbols=("BTCUSDT",))
    assert f.name == "binance/usdm"
    with pytest.raises(ValidationError):
        f.market = "spot"
