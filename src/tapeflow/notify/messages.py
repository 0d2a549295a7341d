"""What each bus event says in an e-mail: priority, subject, body, and how it coalesces.

:func:`render` turns an event into a :class:`Notification`; :func:`compose` turns a
coalesced :class:`~tapeflow.notify.coalesce.Digest` into the final subject and plain-text
body. Priorities (in the subject as ``[P1]`` ...):

* **P1** act now: circuit breaker tripped, all trading stopped, order failed, the process
  died of an exception (system error), portfolio health so low that positions are closed.
* **P2** look soon: connection lost, reconciliation that found discrepancies, new entries
  stopped, portfolio health degraded (stops tightened), a position force-exited by a risk
  rule.
* **P3** information: signal, position opened, position closed (with P&L), clean
  reconciliation, a trailing stop tightened by the risk layer.

Coalescing (see :mod:`tapeflow.notify.coalesce`): notifications with the same
``coalesce_key`` within the window merge. ``hold=True`` kinds (connection lost, order
failed, stop tightened — a health check tightens every stop at once) are bursty: the first
is held for the window and one mail reports the count; the others go out at once and any
repeats within the window follow in one summary mail.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tapeflow.model.events import (
    CircuitBreakerTripped,
    ConnectionLost,
    Event,
    ForceExitRequired,
    OrderFailed,
    PortfolioHealthDegraded,
    PositionClosed,
    PositionOpened,
    ReconciliationCompleted,
    SignalGenerated,
    StopAllTrading,
    StopNewEntries,
    SystemErrorEvent,
    TightenStop,
)
from tapeflow.model.notifications import Notification, Priority
from tapeflow.notify.coalesce import Digest


def _num(value: Decimal | None) -> str:
    """An exact amount in plain notation (``"64123.40"``, never ``"6.4E+4"``)."""
    return "-" if value is None else format(value, "f")


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _lines(pairs: list[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in pairs if v is not None)


@functools.singledispatch
def render(event: Event) -> Notification | None:
    """The notification for ``event``, or None for event types that send no mail."""
    return None


@render.register
def _(event: SignalGenerated) -> Notification:
    s = event.signal
    key, direction = s.key, s.direction.upper()
    entry, stop = s.entry_price, s.stop_loss
    signal_id, candle_time = s.signal_id, s.candle_time
    body = _lines(
        [
            ("symbol", key),
            ("direction", direction),
            ("entry", _num(entry)),
            ("stop", _num(stop)),
            ("target", _num(s.target)),
            ("probability", s.probability),
            ("confluence", s.confluence),
            ("zone strength", s.zone_strength),
            ("entry score", s.entry_score),
            ("strategy", s.strategy),
            ("candle", _time(candle_time) if candle_time else None),
            ("signal id", signal_id),
            ("at", _time(event.at)),
        ]
    )
    return Notification(
        priority=Priority.P3,
        kind="signal",
        title=f"Signal {direction} {key} @ {_num(entry)} (stop {_num(stop)})",
        body=body,
        coalesce_key=f"signal:{signal_id}",
        detail=f"{direction} {key} @ {_num(entry)}",
        at=event.at,
    )


@render.register
def _(event: PositionOpened) -> Notification:
    direction = event.direction.upper()
    body = _lines(
        [
            ("symbol", event.key),
            ("direction", direction),
            ("quantity", _num(event.quantity)),
            ("entry", _num(event.entry_price)),
            ("stop", _num(event.stop_price)),
            ("notional", _num(event.quantity * event.entry_price)),
            ("position id", event.position_id),
            ("at", _time(event.at)),
        ]
    )
    return Notification(
        priority=Priority.P3,
        kind="position_opened",
        title=f"Position opened {direction} {_num(event.quantity)} {event.key} "
        f"@ {_num(event.entry_price)}",
        body=body,
        coalesce_key=f"position_opened:{event.position_id}",
        detail=f"{direction} {_num(event.quantity)} @ {_num(event.entry_price)}",
        at=event.at,
    )


@render.register
def _(event: PositionClosed) -> Notification:
    direction = event.direction.upper()
    notional = event.quantity * event.entry_price
    pnl_pct = (event.pnl / notional * 100).quantize(Decimal("0.01")) if notional else None
    body = _lines(
        [
            ("symbol", event.key),
            ("direction", direction),
            ("quantity", _num(event.quantity)),
            ("entry", _num(event.entry_price)),
            ("exit", _num(event.exit_price)),
            ("P&L", f"{event.pnl:+f} (quote, fees included)"),
            ("P&L % of entry notional", f"{pnl_pct:+f}%" if pnl_pct is not None else None),
            ("reason", event.reason),
            ("position id", event.position_id),
            ("at", _time(event.at)),
        ]
    )
    return Notification(
        priority=Priority.P3,
        kind="position_closed",
        title=f"Position closed {direction} {event.key} P&L {event.pnl:+f} ({event.reason})",
        body=body,
        coalesce_key=f"position_closed:{event.position_id}",
        detail=f"P&L {event.pnl:+f} ({event.reason})",
        at=event.at,
    )


@render.register
def _(event: OrderFailed) -> Notification:
    body = _lines(
        [
            ("symbol", event.key),
            ("client order id", event.client_order_id),
            ("reason", event.reason),
            ("at", _time(event.at)),
        ]
    )
    return Notification(
        priority=Priority.P1,
        kind="order_failed",
        title=f"Order failed {event.key}: {event.reason}",
        body=body,
        coalesce_key=f"order_failed:{event.key}:{event.reason}",
        detail=f"{event.client_order_id}",
        hold=True,
        at=event.at,
    )


@render.register
def _(event: CircuitBreakerTripped) -> Notification:
    body = _lines(
        [
            ("scope", event.scope),
            ("reason", event.reason),
            ("at", _time(event.at)),
            ("effect", "new entries are blocked until the breaker is reset"),
            (
                "reset",
                "portfolio: `tapeflow risk reset` (a running process or the stored state), "
                "or wait for the next UTC day; exchange: it half-opens by itself after its "
                "cooldown",
            ),
        ]
    )
    return Notification(
        priority=Priority.P1,
        kind="circuit_breaker",
        title=f"CIRCUIT BREAKER {event.scope}: {event.reason}",
        body=body,
        coalesce_key=f"circuit_breaker:{event.scope}:{event.reason}",
        detail=event.reason,
        at=event.at,
    )


@render.register
def _(event: ConnectionLost) -> Notification:
    body = _lines(
        [("feed", event.feed), ("reason", event.reason or "(none given)"), ("at", _time(event.at))]
    )
    return Notification(
        priority=Priority.P2,
        kind="connection_lost",
        title=f"Connection lost {event.feed}",
        body=body,
        coalesce_key=f"connection_lost:{event.feed}",
        detail=event.reason or "(no reason given)",
        hold=True,
        at=event.at,
    )


@render.register
def _(event: ReconciliationCompleted) -> Notification:
    clean = event.discrepancies == 0
    title = (
        "Reconciliation: no discrepancies"
        if clean
        else f"Reconciliation: {event.discrepancies} discrepancies resolved"
    )
    return Notification(
        priority=Priority.P3 if clean else Priority.P2,
        kind="reconciliation",
        title=title,
        body=f"{event.report.rstrip()}\n\nat  {_time(event.at)}",
        coalesce_key=f"reconciliation:{event.at.isoformat()}",
        detail=title,
        at=event.at,
    )


@render.register
def _(event: StopAllTrading) -> Notification:
    body = _lines(
        [
            ("scope", event.scope),
            ("reason", event.reason),
            ("effect", "every position is being closed; no new entries until the next UTC day"),
            ("at", _time(event.at)),
        ]
    )
    return Notification(
        priority=Priority.P1,
        kind="stop_all_trading",
        title=f"STOP ALL TRADING ({event.scope}): {event.reason}",
        body=body,
        coalesce_key=f"stop_all_trading:{event.scope}:{event.reason}",
        detail=event.reason,
        at=event.at,
    )


@render.register
def _(event: PortfolioHealthDegraded) -> Notification:
    closing = event.band == "CLOSE_WORST"
    body = _lines(
        [
            ("health score", f"{event.score:.2f} / 100"),
            ("band", event.band),
            ("action", event.action),
            ("open positions", event.positions),
            ("unrealised P&L", f"{event.unrealized_pnl:+f} (quote)"),
            ("daily drawdown", f"{event.daily_drawdown_pct:.3f}%"),
            ("open loss", f"{event.open_loss_pct:.3f}% of equity"),
            ("losing share", f"{event.losing_share * 100:.0f}% of open positions"),
            ("at", _time(event.at)),
        ]
    )
    return Notification(
        priority=Priority.P1 if closing else Priority.P2,
        kind="portfolio_health",
        title=f"Portfolio health {event.score:.2f}: {event.action}",
        body=body,
        coalesce_key=f"portfolio_health:{event.band}",
        detail=f"score {event.score:.2f}",
        at=event.at,
    )


@render.register
def _(event: StopNewEntries) -> Notification:
    score = f"{event.score:.2f}" if event.score is not None else None
    body = _lines(
        [
            ("reason", event.reason),
            ("health score", score),
            ("effect", "new entries are refused until the portfolio recovers"),
            ("at", _time(event.at)),
        ]
    )
    return Notification(
        priority=Priority.P2,
        kind="stop_new_entries",
        title=f"New entries stopped: portfolio health {event.reason}",
        body=body,
        coalesce_key="stop_new_entries",
        detail=event.reason,
        at=event.at,
    )


@render.register
def _(event: TightenStop) -> Notification:
    body = _lines(
        [
            ("symbol", event.key),
            ("position id", event.position_id),
            ("trailing distance", f"{_num(event.distance_pct)}%"),
            ("stop", _num(event.stop_price)),
            ("reason", event.reason),
            ("at", _time(event.at)),
        ]
    )
    return Notification(
        priority=Priority.P3,
        kind="tighten_stop",
        title=f"Stop tightened {event.key} to {_num(event.distance_pct)}% "
        f"(stop {_num(event.stop_price)})",
        body=body,
        coalesce_key="tighten_stop",
        detail=f"{event.key} {event.position_id} stop {_num(event.stop_price)}",
        hold=True,
        at=event.at,
    )


@render.register
def _(event: ForceExitRequired) -> Notification:
    body = _lines(
        [
            ("symbol", event.key),
            ("position id", event.position_id),
            ("rule", event.rule),
            ("reason", event.reason),
            ("exit order", event.client_order_id or "(none sent)"),
            ("at", _time(event.at)),
        ]
    )
    return Notification(
        priority=Priority.P2,
        kind="force_exit",
        title=f"Force exit {event.key} ({event.rule}): {event.reason}",
        body=body,
        coalesce_key=f"force_exit:{event.position_id}",
        detail=f"{event.key} {event.rule}",
        at=event.at,
    )


@render.register
def _(event: SystemErrorEvent) -> Notification:
    first = event.message.strip().splitlines()[0] if event.message.strip() else ""
    body = _lines(
        [
            ("where", event.where),
            ("error", event.error_type),
            ("message", event.message.strip() or "(none)"),
            ("effect", "the process stopped; restart it (reconciliation runs at start)"),
            ("at", _time(event.at)),
        ]
    )
    return Notification(
        priority=Priority.P1,
        kind="system_error",
        title=f"SYSTEM ERROR in {event.where}: {event.error_type}: {first[:160]}",
        body=body,
        coalesce_key=f"system_error:{event.where}:{event.error_type}",
        detail=first[:160],
        at=event.at,
    )


#: Event types that produce mail (what :func:`tapeflow.notify.wiring.subscribe` wires).
NOTIFIED_EVENTS: tuple[type[Event], ...] = (
    SignalGenerated,
    PositionOpened,
    PositionClosed,
    OrderFailed,
    CircuitBreakerTripped,
    ConnectionLost,
    ReconciliationCompleted,
    StopAllTrading,
    PortfolioHealthDegraded,
    StopNewEntries,
    TightenStop,
    ForceExitRequired,
    SystemErrorEvent,
)

_MAX_DETAILS = 20


def compose(digest: Digest, *, prefix: str = "") -> tuple[str, str]:
    """Subject and plain-text body of one mail for ``digest``.

    A single notification is sent as is; a group of ``n`` says ``n`` in the subject and
    lists how often each distinct detail occurred (at most 20 lines), then the most recent
    notification's body.
    """
    n = digest.notification
    tag = f"[{n.priority.name}]"
    head = f"{tag} {prefix}: " if prefix else f"{tag} "
    if digest.count == 1:
        return head + n.title, n.body
    span = (digest.last_at - digest.first_at).total_seconds()
    subject = f"{head}{n.title} ({digest.count} times in {span:.0f}s)"
    details = digest.details.most_common()
    lines = [f"  {count} x {detail}" for detail, count in details[:_MAX_DETAILS]]
    if len(details) > _MAX_DETAILS:
        rest = sum(c for _, c in details[_MAX_DETAILS:])
        lines.append(f"  ... and {rest} more in {len(details) - _MAX_DETAILS} other kinds")
    what = "repeats of" if digest.follow_up else "notifications like"
    body = (
        f"{digest.count} {what} this between {_time(digest.first_at)} and "
        f"{_time(digest.last_at)}:\n" + "\n".join(lines) + "\n\nMost recent:\n" + digest.last.body
    )
    return subject, body
