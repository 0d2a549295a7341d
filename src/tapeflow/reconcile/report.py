"""The reconciliation report: every discrepancy with its before and after, as plain text
(the e-mail body and the CLI's ``--plain`` output), as a rich table, as the
:class:`~tapeflow.bus.ReconciliationCompleted` event and as the ``reconciliation``
engine-state document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from tapeflow.model.events import ReconciliationCompleted
from tapeflow.model.records import Order, Position

DiscrepancyKind = Literal[
    "position_rebuilt",
    "order_settled",
    "order_missing_on_exchange",
    "unknown_order",
    "stale_order",
    "position_missing_on_exchange",
    "position_missing_locally",
    "quantity_mismatch",
    "direction_mismatch",
    "stop_missing",
    "stop_orphaned",
]

NONE = "—"


def amount(value: Decimal | None) -> str:
    """An exact decimal in plain notation (never an exponent), ``—`` for None."""
    return NONE if value is None else f"{value:f}"


def describe_position(pos: Position | None) -> str:
    """``open long 0.010 @ 61234.5 [pid]`` (``—`` for None)."""
    if pos is None:
        return NONE
    at = f" @ {amount(pos.entry_price)}" if pos.entry_price is not None else ""
    text = f"{pos.status} {pos.direction} {amount(pos.quantity)}{at} [{pos.position_id}]"
    if pos.status == "closed" and pos.close_reason:
        text += f" ({pos.close_reason})"
    return text


def describe_order(order: Order | None) -> str:
    """``sent buy 0.010 market, filled 0 [entry of pid]`` (``—`` for None)."""
    if order is None:
        return NONE
    text = (
        f"{order.status} {order.side} {amount(order.quantity)} {order.order_type}, "
        f"filled {amount(order.filled)}"
    )
    if order.average_price is not None:
        text += f" @ {amount(order.average_price)}"
    owner = f"{order.purpose} of {order.position_id}" if order.position_id else order.purpose
    text += f" [{owner}]"
    if order.status == "rejected" and order.error:
        text += f" ({order.error})"
    return text


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One difference found, and what was (or, in a dry run, would be) done about it.

    Attributes:
        kind: what differed (see ``docs/state.md``, "Reconciliation").
        subject: the symbol, spot asset slot or client order id concerned.
        before: the local record(s) before.
        exchange: what the exchange says.
        action: what reconciliation did.
        after: the local record(s) after.
    """

    kind: DiscrepancyKind
    subject: str
    before: str
    exchange: str
    action: str
    after: str

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form (engine state)."""
        return {
            "kind": self.kind,
            "subject": self.subject,
            "before": self.before,
            "exchange": self.exchange,
            "action": self.action,
            "after": self.after,
        }


@dataclass(frozen=True, slots=True)
class Checked:
    """What was compared: local positions of the venue (active), the exchange's positions
    or spot holdings, local orders looked up, the exchange's open orders."""

    local_positions: int = 0
    exchange_holdings: int = 0
    orders_looked_up: int = 0
    exchange_open_orders: int = 0


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    """The outcome of one reconciliation run.

    Attributes:
        venue: the exchange adapter's name (``binance/usdm``).
        started_at, finished_at: UTC.
        dry_run: True if nothing was changed (``after`` then says what would be).
        unknown_orders: the policy in force (``adopt`` or ``cancel``).
        checked: counts of what was compared.
        discrepancies: every difference found, in the order handled.
        errors: what could not be checked or resolved (e.g. an order lookup that failed);
            the books may still differ from the exchange where these apply.
    """

    venue: str
    started_at: datetime
    finished_at: datetime
    dry_run: bool
    unknown_orders: str
    checked: Checked
    discrepancies: tuple[Discrepancy, ...]
    errors: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Everything was checked and resolved (no errors)."""
        return not self.errors

    @property
    def consistent(self) -> bool:
        """The books matched the exchange: complete and no discrepancy."""
        return self.complete and not self.discrepancies

    def headline(self) -> str:
        """One line: venue and outcome."""
        n = len(self.discrepancies)
        if self.consistent:
            outcome = "consistent, no discrepancies"
        elif self.dry_run:
            outcome = f"{n} discrepancies found (dry run: nothing changed)"
        else:
            outcome = f"{n} discrepancies resolved"
        if self.errors:
            outcome += f"; INCOMPLETE: {len(self.errors)} unresolved"
        return f"Reconciliation {self.venue}: {outcome}"

    def _facts(self) -> list[str]:
        c = self.checked
        took = (self.finished_at - self.started_at).total_seconds()
        return [
            f"started {self.started_at.isoformat(timespec='seconds')} "
            f"({took:.2f} s); unknown orders: {self.unknown_orders}",
            f"checked: local positions {c.local_positions}, exchange holdings "
            f"{c.exchange_holdings}, orders looked up {c.orders_looked_up}, open orders on "
            f"the exchange {c.exchange_open_orders}",
        ]

    def text(self) -> str:
        """The report as plain text (the e-mail body)."""
        lines = [self.headline(), *self._facts()]
        for i, d in enumerate(self.discrepancies, 1):
            lines += [
                "",
                f"{i}. {d.kind}  {d.subject}",
                f"   before    {d.before}",
                f"   exchange  {d.exchange}",
                f"   action    {d.action}",
                f"   after     {d.after}",
            ]
        if self.errors:
            lines += ["", "unresolved:"] + [f"  - {e}" for e in self.errors]
        return "\n".join(lines) + "\n"

    def rich(self) -> Any:
        """A rich renderable (headline, facts, one table row per discrepancy)."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        style = "green" if self.consistent else ("red" if self.errors else "yellow")
        parts: list[Any] = [Text(self.headline(), style=f"bold {style}")]
        parts += [Text(line, style="dim") for line in self._facts()]
        if self.discrepancies:
            table = Table(show_lines=True)
            for col in ("#", "kind", "subject", "before", "exchange", "action", "after"):
                table.add_column(col, overflow="fold")
            for i, d in enumerate(self.discrepancies, 1):  # Text: "[pid]" is not markup
                cells = (str(i), d.kind, d.subject, d.before, d.exchange, d.action, d.after)
                table.add_row(*(Text(c) for c in cells))
            parts.append(table)
        parts += [Text(f"unresolved: {e}", style="red") for e in self.errors]
        return Group(*parts)

    def event(self) -> ReconciliationCompleted:
        """The bus event; ``discrepancies`` counts unresolved items too (each is a
        difference that may remain)."""
        return ReconciliationCompleted(
            report=self.text(),
            discrepancies=len(self.discrepancies) + len(self.errors),
            at=self.finished_at,
        )

    def to_state(self) -> dict[str, Any]:
        """The ``reconciliation`` engine-state document (the last run)."""
        return {
            "venue": self.venue,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "dry_run": self.dry_run,
            "unknown_orders": self.unknown_orders,
            "consistent": self.consistent,
            "discrepancies": [d.to_dict() for d in self.discrepancies],
            "errors": list(self.errors),
        }
