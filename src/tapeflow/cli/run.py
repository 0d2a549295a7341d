"""``tapeflow run``: the main job."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tapeflow.cli.console import console as make_console
from tapeflow.config import ConfigError, load_config
from tapeflow.config.loader import DEFAULT_CONFIG
from tapeflow.sources import ImportOptions, SourceError
from tapeflow.store.owner import StoreBusyError


def _speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise typer.BadParameter("a number (e.g. 60 = one hour per minute) or 'max'") from None
    if speed <= 0:
        raise typer.BadParameter("must be > 0")
    return speed


def register(app: typer.Typer) -> None:
    """Add ``run`` to the command line."""

    @app.command()
    def run(
        config: Annotated[Path, typer.Option(help="Configuration file.")] = DEFAULT_CONFIG,
        replay: Annotated[
            list[Path] | None,
            typer.Option(
                help="Replay recorded trades (files or folders, any format `import` reads) "
                "instead of live feeds. Repeat for several.",
            ),
        ] = None,
        speed: Annotated[
            str, typer.Option(help="Replay speed: exchange seconds per second, or 'max'.")
        ] = "max",
        exchange: Annotated[
            str | None, typer.Option(help="Replay: exchange for files that do not say it.")
        ] = None,
        market: Annotated[
            str | None, typer.Option(help="Replay: market for files that do not say it.")
        ] = None,
        root: Annotated[
            Path | None, typer.Option(help="Store root (overrides the config's store.root).")
        ] = None,
        api_url: Annotated[
            str | None,
            typer.Option(
                "--api-url",
                help="Live mode: send the exchange's API calls to this scheme+host instead "
                "(a testnet or a local test server).",
            ),
        ] = None,
        flatten_on_exit: Annotated[
            bool,
            typer.Option(
                "--flatten-on-exit",
                help="At shutdown cancel every open order and close every position "
                "(5 s per attempt, 3 attempts; execution.flatten).",
            ),
        ] = False,
    ) -> None:
        """Live ingest and trading in one process (paper by default).

        Order: configuration -> reconciliation with the exchange -> feeds (or --replay) ->
        candles -> strategy -> execution chain -> trailing stops -> state -> notifications.
        Prints a status line every few seconds; SIGINT/SIGTERM shut down gracefully.
        Notebooks query the data meanwhile through `tapeflow.open(root)`; `tapeflow
        positions`, `close`, `pause`, `resume` and `risk reset` act on it through its
        control endpoint.
        """
        from tapeflow.app.logs import configure_logging
        from tapeflow.app.run import ReconciliationIncomplete, run_app

        console = make_console()
        try:
            cfg = load_config(config)
        except ConfigError as exc:
            console.print(f"[red]configuration error[/red] in {config}:\n{exc}")
            raise typer.Exit(2) from None
        if root is not None:
            cfg = cfg.model_copy(update={"store": cfg.store.model_copy(update={"root": root})})
        configure_logging(cfg.app.log_format, cfg.app.log_level)
        from tapeflow.ingest.writer import tune_gil_switch_interval

        tune_gil_switch_interval()  # the event loop and the store threads share one GIL
        replay_speed = _speed(speed)
        opts = ImportOptions(exchange=exchange, market=market)

        async def main():
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            return await run_app(
                cfg,
                replay_paths=replay or None,
                speed=replay_speed,
                replay_options=opts,
                stop=stop,
                status=lambda line: console.print(f"[dim]status[/dim] {line}"),
                ready=lambda: console.print("ready", highlight=False),
                api_url=api_url,
                reconciled=lambda text: console.print(escape(text), highlight=False, end=""),
                flatten_on_exit=flatten_on_exit,
            )

        try:
            summary = asyncio.run(main())
        except SourceError as exc:
            console.print(f"[red]replay error:[/red] {exc}")
            raise typer.Exit(2) from None
        except ReconciliationIncomplete as exc:  # nothing traded; the report says why
            console.print(f"[red]not trading:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from None
        except StoreBusyError as exc:
            make_console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}")
            raise typer.Exit(1) from None
        print_summary(console, cfg.store.root, summary)


def print_summary(console: Console, root: Path, summary) -> None:
    """The end-of-run report: ticks per symbol, candles, gaps, strategy levels, orders,
    positions, equity, and per bus subscriber the events handled, failed, timed out,
    dropped and slow."""
    from tapeflow.store import TickStore

    table = Table(title=f"store {root}")
    for col in ("symbol", "ticks stored", "replayed", "candles 1m", "gaps", "quarantined"):
        table.add_column(col, justify="left" if col == "symbol" else "right")
    replayed = summary.replay.per_symbol if summary.replay else {}
    with TickStore(root) as store:
        for key in store.symbols():
            s = store.summary(key)
            with store.connection(key) as con:
                # the candle definition of sql/analytics/101 (kline trades only), not a second copy
                candles = con.execute("SELECT count(*) FROM candles_1m_ticks").fetchall()[0][0]
            table.add_row(
                str(key),
                f"{s['rows']:,}",
                f"{replayed.get(key, 0):,}",
                f"{candles:,}",
                str(s["gaps"]),
                str(s["quarantined"]),
            )
    console.print(table)
    st = Table(title="strategy (evaluations per level reached)")
    for col in ("symbol", "evaluations", "signals", "levels reached"):
        st.add_column(col)
    for sym, s in summary.strategy.items():
        reached = ", ".join(f"{k}: {v}" for k, v in sorted(s.get("reached", {}).items()))
        st.add_row(sym, str(s.get("evaluations", 0)), str(s.get("signals", 0)), reached)
    console.print(st)
    ex = Table(title="execution (paper)")
    for col in ("venue", "positions", "equity", "risk", "details"):
        ex.add_column(col)
    for venue, v in summary.venues.items():
        rest = {k: val for k, val in v.items() if k not in ("positions", "equity", "risk_level")}
        ex.add_row(
            venue,
            str(v.get("positions", 0)),
            f"{v.get('equity')}",
            str(v.get("risk_level", "")),
            str(rest),
        )
    console.print(ex)
    if summary.bus:
        bt = Table(title=f"event bus ({summary.bus['published']:,} events published)")
        for col in ("subscriber", "handled", "failed", "timed out", "dropped", "slow"):
            bt.add_column(col, justify="left" if col == "subscriber" else "right")
        for name, s in summary.bus["subscribers"].items():
            bt.add_row(
                escape(name),
                *(f"{s[k]:,}" for k in ("handled", "failed", "timed_out", "dropped", "slow")),
            )
        console.print(bt)
    for line in summary.flatten:
        console.print(escape(line), highlight=False)
    console.print(
        f"candle closes announced: {summary.candles_closed:,}; "
        f"ticks through the pipeline: {summary.ticks_published:,}; "
        f"{summary.seconds:.1f}s"
    )
