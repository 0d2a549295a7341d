"""Pure logic: what each event says, and how bursts coalesce (with a fake clock)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tapeflow.model.events import ConnectionLost, ConnectionRestored, TradeTickReceived
from tapeflow.model.notifications import Priority
from tapeflow.notify.coalesce import Coalescer, Digest
from tapeflow.notify.messages import NOTIFIED_EVENTS, compose, render
from tests.notify.events import AT, BTC, EXPECTED, SIGNAL, all_events


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_notified_event_renders_its_priority_and_title(kind: str) -> None:
    n = render(all_events()[kind])
    assert (n.kind, n.priority, n.title) == (kind, *EXPECTED[kind])
    assert n.at == AT
    assert compose(Digest.single(n), prefix="live") == (
        f"[{n.priority.name}] live: {n.title}",
        n.body,
    )


def test_bodies_carry_the_exact_figures() -> None:
    ev = all_events()
    signal = render(ev["signal"]).body
    assert "entry          64123.40" in signal and "stop           63500.00" in signal
    assert "target         65500" in signal and "probability    high" in signal
    assert f"signal id      {SIGNAL.signal_id}" in signal
    assert "candle         2024-03-01 12:00:00 UTC" in signal
    closed = render(ev["position_closed"]).body
    assert "P&L                      +5.6505 (quote, fees included)" in closed
    # 5.6505 / (0.015 * 64123.40) = 0.587...% of the entry notional
    assert "P&L % of entry notional  +0.59%" in closed
    assert "exit                     64500.10" in closed
    opened = render(ev["position_opened"]).body
    assert "notional     961.85100" in opened  # 0.015 * 64123.40, exact
    assert render(ev["reconciliation"]).body.startswith("positions: 1 closed locally")


def test_clean_reconciliation_is_information_only() -> None:
    from tapeflow.model.events import ReconciliationCompleted

    n = render(ReconciliationCompleted(report="all consistent", discrepancies=0, at=AT))
    assert (n.priority, n.title) == (Priority.P3, "Reconciliation: no discrepancies")


def test_other_events_send_nothing() -> None:
    assert render(ConnectionRestored(feed="binance/usdm")) is None
    assert render(TradeTickReceived(tick=None)) is None  # type: ignore[arg-type]
    assert set(NOTIFIED_EVENTS) == {type(e) for e in all_events().values()}


def test_negative_pnl_is_signed() -> None:
    from tapeflow.model.events import PositionClosed

    n = render(
        PositionClosed(
            key=BTC,
            position_id="p",
            direction="short",
            quantity=Decimal("2"),
            entry_price=Decimal("100"),
            exit_price=Decimal("101.5"),
            pnl=Decimal("-3.0400"),
            reason="stop",
        )
    )
    assert n.title.endswith("P&L -3.0400 (stop)")
    assert "P&L % of entry notional  -1.52%" in n.body


# -- coalescing ----------------------------------------------------------------------------


def lost(i: int, reason: str = "ping timeout", feed: str = "binance/usdm"):
    return render(ConnectionLost(feed=feed, reason=reason, at=AT + timedelta(seconds=i)))


def test_a_held_burst_becomes_one_digest_with_the_count() -> None:
    c = Coalescer(window_s=30)
    out = []
    for i in range(50):
        out += c.offer(lost(i, "ping timeout" if i % 5 else "reset by peer"), now=100 + i * 0.1)
    assert out == []  # held
    assert c.next_due() == 130
    assert c.due(129.9) == []
    [digest] = c.due(130)
    assert digest.count == 50 and c.merged == 49
    assert digest.details == {"ping timeout": 40, "reset by peer": 10}
    assert (digest.first_at, digest.last_at) == (AT, AT + timedelta(seconds=49))
    subject, body = compose(digest, prefix="paper")
    assert subject == "[P2] paper: Connection lost binance/usdm (50 times in 49s)"
    assert body.startswith("50 notifications like this between 2024-03-01 12:00:05 UTC")
    assert "  40 x ping timeout\n  10 x reset by peer" in body
    assert len(c) == 0 and c.next_due() is None


def test_a_single_held_notification_is_sent_plain_after_the_window() -> None:
    c = Coalescer(window_s=30)
    assert c.offer(lost(0), now=0) == []
    [digest] = c.due(30)
    assert digest.count == 1
    assert compose(digest)[0] == "[P2] Connection lost binance/usdm"


def test_immediate_kinds_lead_and_repeats_follow_up_once() -> None:
    c = Coalescer(window_s=10)
    breaker = render(all_events()["circuit_breaker"])
    [first] = c.offer(breaker, now=0)
    assert first.count == 1 and not first.follow_up
    assert c.offer(breaker, now=1) == [] and c.offer(breaker, now=2) == []
    [follow] = c.due(10)
    assert follow.count == 2 and follow.follow_up
    assert compose(follow)[1].startswith("2 repeats of this")
    # alone in its window: no follow-up at all
    assert len(c.offer(breaker, now=20)) == 1
    assert c.due(30) == []


def test_keys_do_not_mix_and_windows_restart() -> None:
    c = Coalescer(window_s=10)
    c.offer(lost(0, feed="binance/usdm"), now=0)
    c.offer(lost(1, feed="binance/spot"), now=5)
    assert [d.notification.title for d in c.due(10)] == ["Connection lost binance/usdm"]
    c.offer(lost(2, feed="binance/usdm"), now=11)  # a new window for the same key
    assert c.next_due() == 15
    assert sorted(d.notification.title for d in c.drain()) == [
        "Connection lost binance/spot",
        "Connection lost binance/usdm",
    ]


def test_digest_lists_at_most_twenty_details() -> None:
    c = Coalescer(window_s=10)
    for i in range(30):
        c.offer(lost(i, reason=f"reason {i:02d}"), now=0)
    [digest] = c.drain()
    body = compose(digest)[1]
    assert body.count(" x reason ") == 20
    assert "... and 10 more in 10 other kinds" in body


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="> 0"):
        Coalescer(0)
