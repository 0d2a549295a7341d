"""``tapeflow reconcile``: dry run, run, exit codes, the unknown-orders option, paper mode,
e-mail, and errors — in process, against the local Binance server on its own thread (the
crash tests run it as a separate process)."""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tapeflow.reconcile.reconciler import STATE_NAME
from tapeflow.state.embedded import EmbeddedStore
from tests.reconcile.cli_main import app
from tests.reconcile.records import position
from tests.servers.binance_trading import ServerOrder

BTC = "binance/usdm/BTCUSDT"
SG_KEY = "SG.cliReconcileKey_0123456789.aBcDeFgHiJkLmNoPqRsTuVwXyZ-_xyz"


def write_config(tmp_path: Path, *, mode: str = "live", notify: dict | None = None) -> Path:
    state = tmp_path / "state.sqlite3"
    text = (
        f"execution:\n  mode: {mode}\n  exchange: binance\n  market: usdm\n"
        "  retry: {attempts: 2, initial_wait_s: 0.01, max_wait_s: 0.02}\n"
        "  request_timeout_ms: 2000\n"
        f"state:\n  backend: embedded\n  path: {state}\n"
        f"notify: {json.dumps(notify or {'enabled': False})}\n"
        "symbols:\n  - {exchange: binance, market: usdm, symbol: BTCUSDT}\n"
    )
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, ["reconcile", *args])


@pytest.fixture
def keys(threaded_venue, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", threaded_venue.state.api_key)
    monkeypatch.setenv("BINANCE_API_SECRET", threaded_venue.state.secret)


def local(tmp_path: Path, *positions) -> None:
    with EmbeddedStore(tmp_path / "state.sqlite3") as store:
        for p in positions:
            store.put_position(p)


def stored(tmp_path: Path):
    with EmbeddedStore(tmp_path / "state.sqlite3") as store:
        return store.list_positions(), store.list_orders(), store.get_state(STATE_NAME)


def test_dry_run_then_run_then_consistent(tmp_path, threaded_venue, keys):
    venue = threaded_venue
    venue.state.positions["BTCUSDT"] = (Decimal("0.010"), Decimal("61800.30"))
    local(tmp_path, position("a1a1a1a1", BTC, quantity="0.015", entry="61800.30"))
    config = str(write_config(tmp_path))
    before = stored(tmp_path)

    dry = invoke("--config", config, "--api-url", venue.url, "--dry-run", "--plain")
    assert dry.exit_code == 1, dry.output
    assert dry.stdout.startswith(
        "Reconciliation binance/usdm: 1 discrepancies found (dry run: nothing changed)\n"
    )
    assert "   after     open long 0.010 @ 61800.30 [a1a1a1a1]\n" in dry.stdout
    assert stored(tmp_path) == before
    assert venue.writes() == []

    run = invoke("--config", config, "--api-url", venue.url)  # rich table
    assert run.exit_code == 1, run.output
    assert "Reconciliation binance/usdm: 1 discrepancies resolved" in run.stdout
    assert "quantity_mismatch" in run.stdout and "[a1a1a1a1]" in run.stdout
    positions, _, doc = stored(tmp_path)
    assert positions[0].quantity == Decimal("0.010") and doc["discrepancies"][0]["kind"] == (
        "quantity_mismatch"
    )

    again = invoke("--config", config, "--api-url", venue.url, "--plain")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("Reconciliation binance/usdm: consistent, no discrepancies\n")
    assert venue.writes() == []  # three runs, not one order sent or cancelled


def _resting(venue, cid: str) -> ServerOrder:
    st = venue.state
    order = ServerOrder(
        market="usdm",
        symbol="BTCUSDT",
        order_id=st.next_id(),
        client_order_id=cid,
        side="BUY",
        type="LIMIT",
        quantity=Decimal("0.005"),
        price=Decimal("50000.0"),
        stop_price=Decimal(0),
        time_in_force="GTC",
        reduce_only=False,
        algo=False,
        time_ms=st.clock_ms(),
        update_ms=st.clock_ms(),
    )
    st.orders.append(order)
    return order


def test_unknown_orders_option_cancels(tmp_path, threaded_venue, keys):
    order = _resting(threaded_venue, "manual-limit-1")
    config = str(write_config(tmp_path))
    res = invoke(
        "--config", config, "--api-url", threaded_venue.url, "--unknown-orders", "cancel", "--plain"
    )
    assert res.exit_code == 1, res.output
    assert "unknown orders: cancel" in res.stdout
    assert "   action    cancelled on the exchange and recorded (purpose 'other')\n" in res.stdout
    assert order.status == "CANCELED"
    _, orders, _ = stored(tmp_path)
    assert [(o.client_order_id, o.status) for o in orders] == [("manual-limit-1", "canceled")]


def test_paper_mode_reconciles_against_the_paper_account(tmp_path, threaded_venue):
    """The default paper configuration: the paper exchange's account (kept in the same
    store) is the truth; only the public exchangeInfo call reaches the venue."""
    local(tmp_path, position("a1a1a1a1", BTC))
    res = invoke("--config", str(write_config(tmp_path, mode="paper")), "--api-url",
                 threaded_venue.url, "--plain")  # fmt: skip
    assert res.exit_code == 1, res.output
    assert "1. position_missing_on_exchange  binance/usdm/BTCUSDT\n" in res.stdout
    assert threaded_venue.state.requests == []  # nothing signed, nothing sent
    positions, _, _ = stored(tmp_path)
    assert positions[0].close_reason == "missing on exchange"


def test_report_is_emailed_but_not_for_a_dry_run(
    tmp_path, threaded_venue, keys, mail_server, monkeypatch
):
    monkeypatch.setenv("SENDGRID_API_KEY", SG_KEY)
    local(tmp_path, position("a1a1a1a1", BTC))
    notify = {
        "enabled": True,
        "from_address": "engine@tapeflow.dev",
        "to_addresses": ["ops@tapeflow.dev"],
        "host": mail_server.host,
        "subject_prefix": "live",
    }
    config = str(write_config(tmp_path, notify=notify))
    dry = invoke("--config", config, "--api-url", threaded_venue.url, "--dry-run", "--plain")
    assert dry.exit_code == 1 and mail_server.requests == []

    run = invoke("--config", config, "--api-url", threaded_venue.url, "--plain")
    assert run.exit_code == 1, run.output
    assert mail_server.wait_for(1)
    [mail] = mail_server.requests
    body = mail.json
    assert body["subject"] == "[P2] live: Reconciliation: 1 discrepancies resolved"
    assert body["content"][0]["value"].startswith(run.stdout)  # the printed report, mailed


def test_invalid_configuration_exits_2_naming_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("execution:\n  mode: backtest\n", encoding="utf-8")
    res = invoke("--config", str(path))
    assert res.exit_code == 2
    assert "execution.mode" in res.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_exchange_exits_2(tmp_path, monkeypatch):
    monkeypatch.setenv("BINANCE_API_KEY", "k" * 20)
    monkeypatch.setenv("BINANCE_API_SECRET", "s" * 20)
    local(tmp_path, position("a1a1a1a1", BTC))
    url = f"http://127.0.0.1:{_closed_port()}"
    res = invoke("--config", str(write_config(tmp_path)), "--api-url", url, "--plain")
    assert res.exit_code == 2, res.output
    assert "INCOMPLETE" in res.stdout and "markets could not be loaded" in res.stdout
    assert "s" * 20 not in res.output  # no secret in what is printed
    positions, _, _ = stored(tmp_path)
    assert positions[0].status == "open"  # nothing guessed
