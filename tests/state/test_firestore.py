"""Firestore store specifics on the real emulator: the stored document layout, root
isolation, configuration errors; and the emulator helper's failure message."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import firebase_admin
import pytest
from firebase_admin import firestore
from google.auth.credentials import AnonymousCredentials

from tapeflow.config.state import StateSettings
from tapeflow.model.records import Order, Position
from tapeflow.state.firestore import FirestoreStore, StateConfigError
from tapeflow.state.opening import open_store
from tests.support import firestore_emulator as emu_mod
from tests.support.firestore_emulator import EmulatorUnavailableError, FirestoreEmulator

T0 = datetime(2024, 3, 1, 12, 0, 0, 654321, tzinfo=UTC)


@pytest.fixture
def raw_client(firestore_env: FirestoreEmulator):
    app = firebase_admin.initialize_app(
        AnonymousCredentials(), options={"projectId": firestore_env.project_id}, name="raw-test"
    )
    yield firestore.client(app)
    firebase_admin.delete_app(app)


def test_documents_are_laid_out_as_documented(firestore_env, raw_client) -> None:
    with FirestoreStore(root="tapeflow/live", project_id=firestore_env.project_id) as store:
        store.put_position(
            Position(
                position_id="pos-1",
                symbol="binance/usdm/BTCUSDT",
                direction="short",
                status="open",
                quantity=Decimal("0.0150"),
                entry_price=Decimal("64123.40"),
                opened_at=T0,
            )
        )
        store.create_order(
            Order(
                client_order_id="tf-abc-entry",
                symbol="binance/usdm/BTCUSDT",
                position_id="pos-1",
                side="sell",
                quantity=Decimal("0.0150"),
                created_at=T0,
            )
        )
        store.put_state("risk", {"equity": Decimal("1000.10"), "since": T0, "n": 3})

    pos = raw_client.document("tapeflow/live/positions/pos-1").get().to_dict()
    assert pos["quantity"] == "0.0150" and pos["entry_price"] == "64123.40"
    assert pos["fees"] == "0" and pos["realized_pnl"] is None
    assert pos["opened_at"] == T0 and isinstance(pos["opened_at"], datetime)  # a timestamp
    assert pos["status"] == "open" and pos["revision"] == 0
    assert set(pos) == set(Position.model_fields)

    order = raw_client.document("tapeflow/live/orders/tf-abc-entry").get().to_dict()
    assert order["quantity"] == "0.0150" and order["created_at"] == T0
    assert set(order) == set(Order.model_fields)

    state = raw_client.document("tapeflow/live/engine_state/risk").get().to_dict()
    assert state["value"] == {"equity": {"$decimal": "1000.10"}, "since": T0, "n": 3}
    assert isinstance(state["updated_at"], datetime)


def test_roots_are_isolated(firestore_env) -> None:
    paper = FirestoreStore(root="tapeflow/paper", project_id=firestore_env.project_id)
    live = FirestoreStore(root="tapeflow/live", project_id=firestore_env.project_id)
    try:
        paper.put_position(Position(position_id="p1", symbol="s", direction="long"))
        assert live.get_position("p1") is None
        assert live.list_positions() == []
        assert [p.position_id for p in paper.list_positions()] == ["p1"]
    finally:
        paper.close()
        live.close()


def test_open_store_builds_the_configured_backend(firestore_env, tmp_path: Path) -> None:
    fs = open_store(StateSettings(backend="firestore", root="tapeflow/t1"))
    emb = open_store(StateSettings(path=tmp_path / "s.sqlite3"))
    try:
        assert isinstance(fs, FirestoreStore) and fs.project_id == "demo-tapeflow"
        assert fs.root == "tapeflow/t1"
        assert (tmp_path / "s.sqlite3").is_file()
    finally:
        fs.close()
        emb.close()


@pytest.mark.parametrize("root", ["tapeflow", "a/b/c", "tapeflow//paper", "a/b/c/"])
def test_bad_root_is_a_config_error(root: str, firestore_env) -> None:
    with pytest.raises(StateConfigError, match="state.root"):
        FirestoreStore(root=root)


def test_missing_credentials_is_a_clear_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(StateConfigError, match="GOOGLE_APPLICATION_CREDENTIALS") as info:
        FirestoreStore(root="tapeflow/live", project_id="my-project")
    assert "missing.json" in str(info.value)
    assert not [a for a in firebase_admin._apps if a.startswith("tapeflow-state-")]


def test_emulator_helper_fails_with_install_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_JAR", "/nonexistent/emulator.jar")
    monkeypatch.setattr(emu_mod, "DEBIAN_JAR", Path("/nonexistent/debian.jar"))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EmulatorUnavailableError) as info:
        emu_mod.find_jar()
    text = str(info.value)
    assert "/nonexistent/emulator.jar" in text
    assert "apt-get install google-cloud-cli-firestore-emulator openjdk-17-jre-headless" in text
    monkeypatch.setenv("JAVA", "/nonexistent/java")
    with pytest.raises(EmulatorUnavailableError, match="java not found"):
        emu_mod.find_java()


def test_emulator_reset_empties_the_database(firestore_env, raw_client) -> None:
    raw_client.document("a/b").set({"x": 1})
    firestore_env.reset()
    assert not raw_client.document("a/b").get().exists
