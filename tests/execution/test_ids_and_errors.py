"""Client order ids, secret scrubbing, the JSON state file and settings validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tapeflow.config.execution import ExecutionSettings, RiskSettings
from tapeflow.execution.client_ids import (
    BINANCE_CLIENT_ID,
    InvalidClientOrderIdError,
    client_order_id,
    decision_id,
    parse_client_order_id,
)
from tapeflow.execution.errors import exchange_error_code, scrub
from tapeflow.execution.statefile import JsonStateFile
from tapeflow.model.symbols import SymbolKey
from tests.execution.support import signal

BTC = SymbolKey("binance", "usdm", "BTCUSDT")


def test_client_order_ids_are_deterministic_and_binance_legal():
    a = signal(BTC, "long", "61800.3", "61500", minute=5)
    b = signal(BTC, "long", "61900", "61000", minute=5)  # same decision, other prices
    c = signal(BTC, "short", "61800.3", "62000", minute=5)
    assert a.signal_id == b.signal_id != c.signal_id
    cid = client_order_id(a.signal_id, "entry")
    assert cid == f"tf-{a.signal_id}-en" and len(cid) == 26
    assert client_order_id(a.signal_id, "exit", 12) == f"tf-{a.signal_id}-ex12"
    for purpose in ("entry", "exit", "stop", "other"):
        for attempt in (0, 1, 999):
            got = client_order_id(a.signal_id, purpose, attempt)
            assert BINANCE_CLIENT_ID.fullmatch(got) and len(got) <= 36
            assert parse_client_order_id(got) == (a.signal_id, purpose, attempt)
    assert parse_client_order_id("x-TKT5PX2Fabc") is None
    with pytest.raises(InvalidClientOrderIdError, match="hex"):
        client_order_id("NOT-HEX!", "entry")
    with pytest.raises(InvalidClientOrderIdError, match="purpose"):
        client_order_id(a.signal_id, "hedge")
    with pytest.raises(InvalidClientOrderIdError, match="attempt"):
        client_order_id(a.signal_id, "exit", 1000)


def test_imported_positions_get_stable_legal_exit_ids():
    """A position imported by reconciliation has no signal id; its exits still get a
    Binance-legal id, the same on every call (a restart resends the same id)."""
    pid = "rc-binance-usdm-BTCUSDT-20240809T000500000000Z"
    did = decision_id(pid)
    assert did == decision_id(pid) == "a346a175f5acf317a04b"  # sha256(pid)[:20]
    cid = client_order_id(did, "exit")
    assert BINANCE_CLIENT_ID.fullmatch(cid) and parse_client_order_id(cid) == (did, "exit", 0)
    assert decision_id("3f9ac1d2e4b5") == "3f9ac1d2e4b5"  # a signal id stays itself
    assert decision_id("rc-binance-usdm-ETHUSDT-20240809T000500000000Z") != did


def test_scrub_removes_signatures_keys_and_secrets():
    text = (
        "binance GET http://api/v3/account?timestamp=1&signature=9f86d081884c7d65 "
        "headers {'X-MBX-APIKEY': 'AbCdEfGh12345678'} secret=topsecret apiKey: \"zzzzzz\""
    )
    out = scrub(text, ["topsecret", None, "ab"])
    assert "9f86d081884c7d65" not in out and "signature=***" in out
    assert "AbCdEfGh12345678" not in out and "topsecret" not in out and "zzzzzz" not in out
    assert exchange_error_code('{"code":-2010,"msg":"x"}') == -2010
    assert exchange_error_code('{"code": "-1001"}') == -1001
    assert exchange_error_code("no code") is None


def test_json_state_file_is_atomic_and_durable(tmp_path):
    path = tmp_path / "s" / "state.json"
    f = JsonStateFile(path)
    f.put_state("a.b", {"x": "1.10", "n": [1, 2]})
    f.put_state("c", {"when": datetime(2024, 8, 8, tzinfo=UTC).isoformat()})
    assert JsonStateFile(path).get_state("a.b") == {"x": "1.10", "n": [1, 2]}
    assert json.loads(path.read_text())["c"]["when"] == "2024-08-08T00:00:00+00:00"
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temp files left
    got = f.get_state("a.b")
    got["x"] = "changed"
    assert f.get_state("a.b")["x"] == "1.10"  # reads are copies
    with pytest.raises(ValueError, match="invalid state name"):
        f.put_state("bad name!", {})
    with pytest.raises(TypeError):
        f.put_state("d", {"x": Decimal(1)})
    assert JsonStateFile(path).get_state("d") is None  # a failed write changes nothing
    path.write_text("[1]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        JsonStateFile(path)


def test_settings_resolve_per_symbol_risk_and_name_bad_keys():
    s = ExecutionSettings(symbol_risk={"binance/usdm/DOGEUSDT": RiskSettings(asset_class="meme")})
    assert s.risk_for(SymbolKey("binance", "usdm", "DOGEUSDT")).trailing_pct == Decimal("17.5")
    assert s.risk_for(BTC).trailing_pct == Decimal("0.5")
    with pytest.raises(ValueError, match="symbol_risk key 'kraken/spot/X': unknown exchange"):
        ExecutionSettings(symbol_risk={"kraken/spot/X": RiskSettings()})
    with pytest.raises(ValueError, match="leverage"):
        RiskSettings(leverage=Decimal(200))
    with pytest.raises(ValueError, match="extra"):
        RiskSettings(levrage=Decimal(2))
