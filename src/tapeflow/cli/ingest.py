"""``tapeflow ingest --config FILE``: run live ingest alone.

Prints a one-line status every ``ingest.status_interval_s`` seconds (ticks/s, queue depth,
per-symbol lag, gaps). SIGINT/SIGTERM stop it cleanly: feeds stop, every batch is flushed,
running repairs finish (or stay in the gap ledger for the next start), the store is closed.
A second signal abandons the clean stop. Like ``tapeflow run`` it owns the store root while
it runs (a second ingest or run on the root is refused) and serves the read-only query
endpoint, so the reading commands and notebooks read the files meanwhile. Exit codes: 0
clean stop, 1 ingest failed or the root is held by another process, 2 bad configuration.

Also runnable as ``python -m tapeflow.cli.ingest --config FILE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from tapeflow.bus import EventBus
from tapeflow.cli.errors import USAGE_ERROR, fail
from tapeflow.cli.options import ConfigRootOption
from tapeflow.config.ingest import IngestConfigError, IngestFileConfig
from tapeflow.ingest import IngestService, load_ingest_config
from tapeflow.ingest.writer import tune_gil_switch_interval
from tapeflow.store import TickStore
from tapeflow.store.owner import StoreBusyError, claim_root

log = logging.getLogger("tapeflow.ingest")


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` command to ``app``."""
    app.command("ingest")(ingest)


def ingest(
    config: Annotated[
        Path,
        typer.Option("--config", "-c", help="YAML file with feeds:, ingest: and store: sections."),
    ],
    log_level: Annotated[
        str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")
    ] = "INFO",
    uvloop: Annotated[
        bool, typer.Option("--uvloop/--no-uvloop", help="Use uvloop if installed.")
    ] = True,
    root: ConfigRootOption = None,
) -> None:
    """Ingest live trades into the tick store, repairing gaps over REST."""
    try:
        cfg = load_ingest_config(config)
    except IngestConfigError as exc:
        raise fail(str(exc), USAGE_ERROR) from None
    if root is not None:
        cfg = cfg.model_copy(update={"store": cfg.store.model_copy(update={"root": root})})
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    loop_factory = None
    if uvloop:
        with contextlib.suppress(ImportError):
            import uvloop as _uvloop

            loop_factory = _uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        code = runner.run(run_ingest(cfg, Console(highlight=False, soft_wrap=True)))
    raise typer.Exit(code)


async def run_ingest(cfg: IngestFileConfig, console: Console) -> int:
    """Run ingest for ``cfg`` until SIGINT/SIGTERM; returns the process exit code."""
    stop = asyncio.Event()
    main = asyncio.current_task()
    assert main is not None  # called inside asyncio.run
    loop = asyncio.get_running_loop()

    def on_signal(signame: str) -> None:
        if stop.is_set():
            log.warning("second %s: abandoning the clean stop", signame)
            main.cancel()
            return
        log.info("%s: stopping (flushing batches)", signame)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)
    from tapeflow.analytics.endpoint import QueryEndpoint  # Arrow Flight: import on use

    tune_gil_switch_interval()  # store threads get the GIL back sooner from the busy loop
    try:  # one owner per store root, as `tapeflow run`
        owner = claim_root(cfg.store.root, command="ingest")
    except StoreBusyError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        return 1
    store = TickStore(
        cfg.store.root, pool_limit=cfg.store.pool_limit, memory_limit=cfg.store.memory_limit
    )
    endpoint = QueryEndpoint(store).start()  # the reading commands and notebooks use it
    bus = EventBus()
    await bus.start()
    symbols = ", ".join(str(k) for f in cfg.feeds for k in f.symbol_keys())
    console.print(f"ingest: {symbols} -> {cfg.store.root}")
    service = IngestService(cfg.feeds, cfg.ingest, store, bus, status=console.print)
    try:
        await service.run(stop)
    except Exception as exc:
        log.error("ingest failed: %s", exc)
        return 1
    finally:
        await bus.stop()
        endpoint.stop()
        store.close()
        owner.release()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


def _standalone() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    app.command()(ingest)
    return app


if __name__ == "__main__":
    _standalone()()
