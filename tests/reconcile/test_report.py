"""The report: its exact text, the rich table, the stored document and the e-mail the
notifier sends for :class:`ReconciliationCompleted` (real sendgrid client, local v3
server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from rich.console import Console

from tapeflow.bus import EventBus
from tapeflow.config.notify import NotifySettings
from tapeflow.model.events import ReconciliationCompleted
from tapeflow.model.orders import OrderRequest
from tapeflow.model.symbols import SymbolKey
from tapeflow.notify import Notifier, subscribe
from tapeflow.notify.messages import render
from tapeflow.reconcile.reconciler import STATE_NAME, reconcile
from tests.reconcile.records import T0, entry_order, position
from tests.servers.sendgrid import MailServer

BTC = SymbolKey("binance", "usdm", "BTCUSDT")
ETH = SymbolKey("binance", "usdm", "ETHUSDT")
API_KEY = "SG.reconcileTestKey_0123456789.aBcDeFgHiJkLmNoPqRsTuVwXyZ-_xyz"

EXPECTED = """\
Reconciliation binance/usdm: 3 discrepancies resolved
started 2024-08-09T00:05:00+00:00 (0.00 s); unknown orders: adopt
checked: local positions 1, exchange holdings 1, orders looked up 1, open orders on the exchange 1

1. order_settled  tf-b2b2b2b2-en
   before    sent sell 0.500 market, filled 0 [entry of b2b2b2b2]; position pending short 0.500 [b2b2b2b2]
   exchange  no such order
   action    recorded the exchange's answer; its position followed
   after     rejected sell 0.500 market, filled 0 [entry of b2b2b2b2] (never reached the exchange); position closed short 0.500 [b2b2b2b2] (entry rejected: never reached the exchange)

2. unknown_order  manual-limit-1
   before    —
   exchange  open buy 0.005 limit, filled 0
   action    adopted: recorded as the exchange has it, left working (purpose 'other')
   after     open buy 0.005 limit, filled 0 [other]

3. quantity_mismatch  binance/usdm/BTCUSDT
   before    open long 0.015 @ 61000.0 [a1a1a1a1]
   exchange  long 0.01 @ 61800.30
   action    adopted the exchange's quantity and entry price
   after     open long 0.010 @ 61800.30 [a1a1a1a1]
"""  # noqa: E501


async def three_discrepancies(store, usdm) -> None:
    """Exchange: long 0.010 BTC and a resting buy nobody recorded. Books: long 0.015 BTC,
    and an ETH entry recorded 'sent' that never reached the exchange."""
    await usdm.place_order(OrderRequest(BTC, "manual-btc-1", "buy", "market", Decimal("0.010")))
    await usdm.place_order(
        OrderRequest(
            BTC, "manual-limit-1", "buy", "limit", Decimal("0.005"), price=Decimal("50000.0")
        )
    )
    store.put_position(position("a1a1a1a1", str(BTC), quantity="0.015", entry="61000.0"))
    store.put_position(
        position("b2b2b2b2", str(ETH), "short", "0.500", status="pending", entry=None)
    )
    store.put_order(entry_order("b2b2b2b2", str(ETH), "sell", "0.500"))


async def test_report_text_is_exact_and_stored(store, usdm):
    await three_discrepancies(store, usdm)
    report = await reconcile(store, usdm, clock=lambda: T0)

    assert report.text() == EXPECTED
    doc = store.get_state(STATE_NAME)
    assert doc["venue"] == "binance/usdm" and doc["consistent"] is False
    assert doc["finished_at"] == T0 and doc["dry_run"] is False
    assert [d["kind"] for d in doc["discrepancies"]] == [
        "order_settled",
        "unknown_order",
        "quantity_mismatch",
    ]
    assert doc["discrepancies"][2]["after"] == "open long 0.010 @ 61800.30 [a1a1a1a1]"


async def test_rich_table_keeps_ids_in_brackets(store, usdm):
    await three_discrepancies(store, usdm)
    report = await reconcile(store, usdm, clock=lambda: T0)
    console = Console(record=True, width=400)
    console.print(report.rich())
    out = console.export_text()
    assert "open long 0.010 @ 61800.30 [a1a1a1a1]" in out  # not eaten as markup
    assert out.splitlines()[0] == "Reconciliation binance/usdm: 3 discrepancies resolved"


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture
def notifier(mail_server: MailServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Notifier]:
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    settings = NotifySettings(
        enabled=True,
        from_address="engine@tapeflow.dev",
        to_addresses=("ops@tapeflow.dev",),
        host=mail_server.host,
        subject_prefix="paper",
        retry_initial_s=0.01,
        retry_max_s=0.05,
    )
    n = Notifier(settings)
    n.start()
    yield n
    n.stop(timeout_s=10)


async def test_report_is_published_and_emailed(store, usdm, notifier, mail_server: MailServer):
    bus = EventBus()
    subscribe(bus, notifier)
    seen: list[ReconciliationCompleted] = []
    bus.subscribe(ReconciliationCompleted, seen.append, name="test")
    await bus.start()
    await three_discrepancies(store, usdm)
    report = await reconcile(store, usdm, clock=lambda: T0, bus=bus)
    later = T0 + timedelta(minutes=1)  # each run is its own mail (coalesce key: its time)
    clean = await reconcile(store, usdm, clock=lambda: later, bus=bus)  # now consistent
    await bus.stop()
    assert notifier.flush()

    assert [(e.discrepancies, e.report) for e in seen] == [
        (3, report.text()),
        (0, clean.text()),
    ]
    first, second = (r.json for r in mail_server.requests)
    assert first["subject"] == "[P2] paper: Reconciliation: 3 discrepancies resolved"
    body = first["content"][0]["value"]
    assert body == render(report.event()).body
    assert body.startswith(EXPECTED)  # the whole report, then the time
    assert second["subject"] == "[P3] paper: Reconciliation: no discrepancies"
    assert second["content"][0]["value"].startswith(
        "Reconciliation binance/usdm: consistent, no discrepancies\n"
    )
    assert all(API_KEY not in r.raw.decode() for r in mail_server.requests)
