"""The notifier end to end: the real sendgrid client against a local HTTP server that
records the v3 requests and answers as scripted."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from decimal import Decimal

import pytest

from tapeflow.bus import EventBus
from tapeflow.config.notify import NotifySettings
from tapeflow.model.events import ConnectionLost, OrderFailed, OrderFilled
from tapeflow.notify import Notifier, subscribe
from tapeflow.notify.coalesce import Digest
from tapeflow.notify.messages import compose, render
from tests.notify.conftest import API_KEY
from tests.notify.events import AT, BTC, EXPECTED, all_events
from tests.servers.sendgrid import MailServer, Reply
from tests.support.firestore_emulator import free_port

TO = [{"email": "ops@tapeflow.dev"}, {"email": "oncall@tapeflow.dev"}]


def lost_burst(n: int) -> list[ConnectionLost]:
    reasons = ["ping timeout", "connection reset by peer"]
    return [
        ConnectionLost(
            feed="binance/usdm", reason=reasons[i % 3 == 0], at=AT + timedelta(seconds=i)
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_event_is_one_v3_mail_send_request(
    kind: str, make_notifier, mail_server: MailServer
) -> None:
    notifier = make_notifier()
    event = all_events()[kind]
    assert notifier.notify(event) is True
    assert notifier.flush()

    [req] = mail_server.requests
    assert (req.method, req.path) == ("POST", "/v3/mail/send")
    assert req.headers["Authorization"] == f"Bearer {API_KEY}"
    assert req.headers["Content-Type"] == "application/json"
    priority, title = EXPECTED[kind]
    subject = f"[{priority.name}] paper: {title}"
    body = req.json
    assert sorted(body.pop("categories")) == sorted(["tapeflow", kind])
    assert body == {
        "from": {"email": "engine@tapeflow.dev", "name": "tapeflow paper"},
        "subject": subject,
        "personalizations": [{"to": TO}],
        "content": [{"type": "text/plain", "value": render(event).body}],
    }
    assert notifier.snapshot() == {
        "received": 1,
        "filtered": 0,
        "dropped": 0,
        "coalesced": 0,
        "sent": 1,
        "failed": 0,
        "retries": 0,
    }


def test_position_closed_mail_carries_the_pnl(make_notifier, mail_server: MailServer) -> None:
    notifier = make_notifier()
    notifier.notify(all_events()["position_closed"])
    notifier.flush()
    value = mail_server.requests[0].json["content"][0]["value"]
    assert "P&L                      +5.6505 (quote, fees included)" in value
    assert "reason                   trailing stop" in value


def test_a_burst_of_50_connection_losses_is_one_mail_saying_50(
    make_notifier, mail_server: MailServer
) -> None:
    notifier = make_notifier()
    assert all(notifier.notify(e) for e in lost_burst(50))
    assert notifier.flush()
    [req] = mail_server.requests
    body = req.json
    assert body["subject"] == "[P2] paper: Connection lost binance/usdm (50 times in 49s)"
    text = body["content"][0]["value"]
    assert text.startswith(
        "50 notifications like this between 2024-03-01 12:00:05 UTC and 2024-03-01 12:00:54 UTC:"
    )
    assert "  33 x ping timeout\n  17 x connection reset by peer" in text
    stats = notifier.snapshot()
    assert (stats["received"], stats["coalesced"], stats["sent"]) == (50, 49, 1)


def test_windows_close_by_themselves(make_notifier, mail_server: MailServer) -> None:
    notifier = make_notifier(coalesce_window_s=0.3)
    for e in lost_burst(10):
        notifier.notify(e)
    assert mail_server.wait_for(1)  # sent when the window closed, no flush
    for e in lost_burst(4):
        notifier.notify(e)
    assert mail_server.wait_for(2)
    notifier.flush()
    subjects = [r.json["subject"] for r in mail_server.requests]
    assert subjects == [
        "[P2] paper: Connection lost binance/usdm (10 times in 9s)",
        "[P2] paper: Connection lost binance/usdm (4 times in 3s)",
    ]


def test_immediate_kinds_go_out_without_waiting_for_the_window(
    make_notifier, mail_server: MailServer
) -> None:
    notifier = make_notifier(coalesce_window_s=3600)
    notifier.notify(all_events()["circuit_breaker"])
    assert mail_server.wait_for(1)  # a P1 breaker mail does not wait an hour
    assert mail_server.requests[0].json["subject"].startswith("[P1] paper: CIRCUIT BREAKER")


def test_transient_failures_are_retried_then_sent(
    make_notifier, mail_server: MailServer, caplog: pytest.LogCaptureFixture
) -> None:
    mail_server.script(
        Reply(500, '{"errors":[{"message":"internal"}]}'),
        Reply(503),
        Reply(429, '{"errors":[{"message":"too many requests"}]}'),
    )
    notifier = make_notifier()
    with caplog.at_level(logging.WARNING, logger="tapeflow.notify"):
        notifier.notify(all_events()["order_failed"])
        assert notifier.flush()
    assert len(mail_server.requests) == 4
    assert len({r.raw for r in mail_server.requests}) == 1  # the same mail each time
    stats = notifier.snapshot()
    assert (stats["sent"], stats["failed"], stats["retries"]) == (1, 0, 3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert "HTTP 500 Internal Server Error" in warnings[0] and "(attempt 1/5)" in warnings[0]
    assert "HTTP 429" in warnings[2] and "too many requests" in warnings[2]


def test_a_rejected_mail_is_not_retried_and_is_logged(
    make_notifier, mail_server: MailServer, caplog: pytest.LogCaptureFixture
) -> None:
    mail_server.script(Reply(400, '{"errors":[{"message":"Does not contain a valid address."}]}'))
    notifier = make_notifier()
    with caplog.at_level(logging.ERROR, logger="tapeflow.notify"):
        notifier.notify(all_events()["signal"])
        assert notifier.flush()
    assert len(mail_server.requests) == 1
    assert notifier.snapshot()["failed"] == 1
    [error] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "gave up on mail '[P3] paper: Signal LONG" in error
    assert "HTTP 400 Bad Request" in error and "Does not contain a valid address." in error


def test_server_down_is_logged_and_never_raised(
    make_notifier, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = make_notifier(host=f"http://127.0.0.1:{free_port()}", max_attempts=3)
    with caplog.at_level(logging.WARNING, logger="tapeflow.notify"):
        assert notifier.notify(all_events()["circuit_breaker"]) is True
        assert notifier.flush()
    stats = notifier.snapshot()
    assert (stats["sent"], stats["failed"], stats["retries"]) == (0, 1, 2)
    messages = [r.getMessage() for r in caplog.records]
    assert any("Connection refused" in m and "gave up" in m for m in messages)


async def test_trading_never_waits_on_a_stuck_mail_server(
    make_notifier, mail_server: MailServer
) -> None:
    """The mail server hangs on the first request; meanwhile every trading event is
    handled and the bus reports nothing dropped, failed or timed out for anyone."""
    mail_server.script(Reply(hang_s=60))
    notifier = make_notifier(coalesce_window_s=0.05, http_timeout_s=120, max_attempts=1)
    bus = EventBus(handler_timeout_s=5)
    fills: list[OrderFilled] = []
    all_fills = asyncio.Event()

    def trade_handler(event: OrderFilled) -> None:
        fills.append(event)
        if len(fills) == 200:
            all_fills.set()

    trading = bus.subscribe(OrderFilled, trade_handler, name="trading")
    mail_subs = subscribe(bus, notifier)
    await bus.start()
    await bus.publish(all_events()["circuit_breaker"])
    assert await asyncio.to_thread(mail_server.wait_for, 1)  # the mail is now stuck
    for i in range(200):
        await bus.publish(
            OrderFilled(
                key=BTC,
                client_order_id=f"o{i}",
                side="buy",
                filled=Decimal("0.001"),
                average_price=Decimal("64000"),
            )
        )
        await bus.publish(ConnectionLost(feed="binance/usdm", reason="flap", at=AT))
    await asyncio.wait_for(all_fills.wait(), 30)
    await bus.stop()

    assert len(fills) == 200
    assert notifier.snapshot()["sent"] == 0 and notifier.snapshot()["failed"] == 0  # in flight
    assert len(mail_server.requests) == 1
    assert trading.handled == 200 and trading.dropped == 0
    for sub in mail_subs:
        assert (sub.failed, sub.timed_out) == (0, 0)
    lost_sub = next(s for s in mail_subs if s.name == "notify:ConnectionLost")
    assert lost_sub.handled == 200

    mail_server.release()  # the server recovers: the stuck mail and the held burst go out
    assert await asyncio.to_thread(notifier.flush)
    subjects = [r.json["subject"] for r in mail_server.requests]
    assert subjects[0].startswith("[P1] paper: CIRCUIT BREAKER")
    assert any(
        s.startswith("[P2] paper: Connection lost binance/usdm (200 times") for s in subjects
    )
    assert notifier.snapshot()["sent"] == len(subjects)


def test_held_mail_is_sent_on_stop(make_settings, mail_server: MailServer) -> None:
    notifier = Notifier(make_settings(coalesce_window_s=3600))
    notifier.start()
    notifier.notify(all_events()["connection_lost"])
    notifier.stop()
    assert [r.json["subject"] for r in mail_server.requests] == [
        "[P2] paper: Connection lost binance/usdm"
    ]
    assert notifier.notify(all_events()["connection_lost"]) is False  # stopped: dropped
    assert notifier.snapshot()["dropped"] == 1
    assert notifier.flush() is False  # not running


def test_full_queue_drops_and_counts(make_settings, mail_server: MailServer) -> None:
    notifier = Notifier(make_settings(queue_size=5))
    accepted = [notifier.notify(e) for e in lost_burst(12)]
    assert accepted == [True] * 5 + [False] * 7
    notifier.start()
    notifier.flush()
    notifier.stop()
    assert notifier.snapshot()["dropped"] == 7
    assert "(5 times in 4s)" in mail_server.requests[0].json["subject"]


def test_min_priority_filters_and_disabled_sends_nothing(
    make_notifier, make_settings, mail_server: MailServer
) -> None:
    urgent_only = make_notifier(min_priority="P1")
    events = all_events()
    assert urgent_only.notify(events["signal"]) is False
    assert urgent_only.notify(events["connection_lost"]) is False
    assert urgent_only.notify(events["order_failed"]) is True
    urgent_only.flush()
    assert urgent_only.snapshot()["filtered"] == 2
    assert [r.json["subject"][:4] for r in mail_server.requests] == ["[P1]"]

    off = Notifier(NotifySettings())
    off.start()
    assert off.notify(events["circuit_breaker"]) is False
    assert off.flush() is False
    assert len(mail_server.requests) == 1


def test_compose_prefix_is_optional() -> None:
    n = render(OrderFailed(key=BTC, client_order_id="c1", reason="x", at=AT))
    assert compose(Digest.single(n))[0] == "[P1] Order failed binance/usdm/BTCUSDT: x"
