"""``tapeflow reconcile``: compare the position store with the exchange and resolve every
discrepancy (the startup reconciliation, run alone).

Exit codes (for scripts that gate trading on it):

* ``0`` — consistent: the books matched the exchange, nothing was changed;
* ``1`` — discrepancies were found and resolved (with ``--dry-run``: found, nothing
  changed); the books now match the exchange;
* ``2`` — incomplete or not run: the configuration is invalid, credentials are missing,
  the exchange could not be reached, or an order could not be looked up. Do not trade.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from tapeflow.cli.console import console
from tapeflow.cli.errors import fail
from tapeflow.cli.options import ConfigRootOption, load_app_config
from tapeflow.model.errors import TapeflowError

if TYPE_CHECKING:
    from tapeflow.config import AppConfig
    from tapeflow.model.symbols import SymbolKey
    from tapeflow.reconcile.report import ReconciliationReport

#: Exit codes (see the module docstring).
CONSISTENT, RESOLVED, INCOMPLETE = 0, 1, 2


class StateUnavailable(TapeflowError):
    """The configured position store cannot be opened."""


class UnknownOrders(StrEnum):
    """What to do with an open order the store does not know."""

    adopt = "adopt"
    cancel = "cancel"


def exit_code(report: ReconciliationReport) -> int:
    """``0`` consistent, ``1`` discrepancies resolved (or found, dry run), ``2`` incomplete."""
    if not report.complete:
        return INCOMPLETE
    return CONSISTENT if report.consistent else RESOLVED


def _trailing_for(config: AppConfig):
    def trailing(key: SymbolKey) -> Decimal:
        try:
            return config.symbol(key).risk.trailing_pct
        except KeyError:
            return config.execution.risk_for(key).trailing_pct

    return trailing


async def _run(
    config: AppConfig,
    *,
    dry_run: bool,
    unknown_orders: Literal["adopt", "cancel"],
    api_url: str | None,
    notify: bool,
) -> ReconciliationReport:
    from tapeflow.app.markets import open_exchange
    from tapeflow.bus import EventBus
    from tapeflow.execution.paper import PaperExchange
    from tapeflow.notify import Notifier, subscribe
    from tapeflow.reconcile.reconciler import ReconcilePolicy, reconcile
    from tapeflow.state.opening import open_store

    ex = config.execution
    try:
        store = await asyncio.to_thread(open_store, config.state, config.store.root)
    except RuntimeError as exc:  # StateConfigError, schema mismatch
        raise StateUnavailable(f"state store ({config.state.backend}): {exc}") from None
    notifier = bus = None
    try:
        # paper offline: the shipped market rules (configs/markets/), as `tapeflow run` does
        exchange = await open_exchange(ex, store, api_url=api_url)
        if notify and not dry_run and config.notify.enabled:
            notifier = Notifier(config.notify)
            notifier.start()
            bus = EventBus()
            subscribe(bus, notifier)
            await bus.start()
        try:
            return await reconcile(
                store,
                exchange,
                policy=ReconcilePolicy(unknown_orders=unknown_orders),
                dry_run=dry_run,
                symbols=[
                    s.key
                    for s in config.enabled_symbols
                    if (s.key.exchange, s.key.market) == (ex.exchange, ex.market)
                ],
                trailing_for=_trailing_for(config),
                bus=bus,
                resting_stops=ex.resting_stops,
            )
        finally:
            # the paper exchange's close() writes its account: not in a dry run
            if not (dry_run and isinstance(exchange, PaperExchange)):
                await exchange.close()
    finally:
        if bus is not None:
            await bus.stop()
        if notifier is not None:
            await asyncio.to_thread(notifier.stop)
        await asyncio.to_thread(store.close)


def reconcile_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report only; change nothing anywhere.")
    ] = False,
    config: Annotated[
        Path, typer.Option("--config", help="Configuration (state, execution, notify).")
    ] = Path("configs/paper.yaml"),
    root: ConfigRootOption = None,
    unknown_orders: Annotated[
        UnknownOrders,
        typer.Option(
            "--unknown-orders",
            help="Open orders the store does not know: adopt them, or cancel them.",
        ),
    ] = UnknownOrders.adopt,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            help="Send the exchange's API calls to this scheme+host instead "
            "(a testnet or a local test server).",
        ),
    ] = None,
    plain: Annotated[bool, typer.Option("--plain", help="Plain text, no table.")] = False,
    notify: Annotated[
        bool,
        typer.Option(
            "--notify/--no-notify",
            help="E-mail the report when notify.enabled (never for a dry run).",
        ),
    ] = True,
) -> None:
    """Compare the position store with the exchange (futures: positions; spot: balances;
    both: open orders) and resolve each discrepancy; print (and e-mail) the report.
    Paper mode without network uses the shipped market rules (configs/markets/), as run does.
    Exit 0 consistent, 1 discrepancies resolved (dry run: found), 2 incomplete."""
    import logging

    from tapeflow.execution.errors import ExecutionError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cfg = load_app_config(config, root)  # invalid: exit 2 (INCOMPLETE)
    try:
        report = asyncio.run(
            _run(
                cfg,
                dry_run=dry_run,
                unknown_orders="cancel" if unknown_orders is UnknownOrders.cancel else "adopt",
                api_url=api_url,
                notify=notify,
            )
        )
    except (ExecutionError, StateUnavailable) as exc:  # credentials, markets, store: no trace
        raise fail(str(exc), INCOMPLETE) from None
    if plain:
        typer.echo(report.text(), nl=False)
    else:
        console().print(report.rich())
    raise typer.Exit(exit_code(report))


def register(app: typer.Typer) -> None:
    """Add ``reconcile`` to the ``tapeflow`` command line."""
    app.command("reconcile")(reconcile_command)
