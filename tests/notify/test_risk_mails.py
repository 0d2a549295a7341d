"""The risk layer's events as mail: the real engine on the paper exchange and real trades
publishes them on the bus, the notifier sends them through the real sendgrid client to the
local SendGrid server; a failing ``tapeflow run`` mails its SystemError."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from tapeflow.app.run import run_app
from tapeflow.config import parse_config
from tapeflow.notify import subscribe
from tapeflow.state.embedded import EmbeddedStore
from tests.execution.engine_support import make_rig
from tests.execution.test_portfolio_risk import health_settings, scenario
from tests.servers.sendgrid import MailServer


def subjects(server: MailServer) -> list[str]:
    return [r.json["subject"] for r in server.requests]


async def test_health_events_of_a_real_run_are_mailed_and_coalesced(
    tmp_path: Path, make_notifier, mail_server: MailServer
) -> None:
    store = EmbeddedStore(tmp_path / "state.db")
    notifier = make_notifier(coalesce_window_s=3600)
    rig = await make_rig(store, health_settings())
    subscribe(rig.bus, notifier)
    await rig.bus.stop()  # restart the bus so the new subscriptions get their workers
    await rig.bus.start()
    await scenario(rig)
    await rig.bus.stop()
    assert notifier.flush()
    got = subjects(mail_server)
    # the first of each kind goes out at once; the second entry stop (after a recovery)
    # is held as a repeat until the window closes (here: the flush); the two tightened
    # stops are one held mail saying 2
    stops = [s for s in got if "New entries stopped" in s]
    assert stops == [
        "[P2] paper: New entries stopped: portfolio health score 64.26 < 70",
        "[P2] paper: New entries stopped: portfolio health score 51.11 < 70",
    ]
    assert got.index(stops[1]) > got.index(stops[0]) + 5
    assert "[P2] paper: Portfolio health 49.26: stops tightened to 0.3%; new entries refused" in got
    assert any(
        s.startswith("[P3] paper: Stop tightened binance/usdm/") and "(2 times" in s for s in got
    )
    assert (
        "[P1] paper: Portfolio health 29.64: closing the 2 worst positions; stops tightened to "
        "0.3%; new entries refused" in got
    )
    forced = [s for s in got if s.startswith("[P2] paper: Force exit binance/usdm/")]
    assert len(forced) == 2 and all("(health): portfolio health 29.64 < 30" in s for s in forced)
    tighten = next(r for r in mail_server.requests if "Stop tightened" in r.json["subject"])
    body = tighten.json["content"][0]["value"]
    assert "2 notifications like this" in body and "trailing distance  0.3%" in body
    store.close()


def test_tapeflow_run_dying_of_an_exception_mails_a_system_error(
    tmp_path: Path, make_settings, mail_server: MailServer, monkeypatch
) -> None:
    """Live, with the exchange unreachable: reconciliation cannot compare anything and
    ``tapeflow run`` dies of ``ReconciliationIncomplete``; the mail says so."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{s.getsockname()[1]}"
    keys = {"BINANCE_API_KEY": "test-key-0123456789", "BINANCE_API_SECRET": "test-secret-abc"}
    for k, v in keys.items():
        monkeypatch.setenv(k, v)
    config = parse_config(
        {
            "store": {"root": str(tmp_path / "data")},
            "state": {"backend": "embedded", "path": str(tmp_path / "state.sqlite3")},
            "execution": {
                "mode": "live",
                "retry": {"attempts": 1},
                "request_timeout_ms": 1000,
            },
            "notify": make_settings().model_dump(mode="json", exclude={"api_key"}),
            "symbols": [{"symbol": "BTCUSDT", "market": "usdm"}],
        },
        env=keys,
    )
    with pytest.raises(Exception) as caught:
        asyncio.run(run_app(config, api_url=closed_url))
    assert type(caught.value).__name__ == "ReconciliationIncomplete"
    [req] = [r for r in mail_server.requests if "SYSTEM ERROR" in r.json["subject"]]
    assert req.json["subject"].startswith(
        "[P1] paper: SYSTEM ERROR in tapeflow run: ReconciliationIncomplete: reconciliation "
        "with binance/usdm is incomplete"
    )
    body = req.json["content"][0]["value"]
    assert "where    tapeflow run" in body and str(caught.value).strip() in body
    assert keys["BINANCE_API_SECRET"] not in body
