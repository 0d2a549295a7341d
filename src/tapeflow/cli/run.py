"""``tapeflow run``: the main job."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from tapeflow.cli.console import console as make_console
from tapeflow.cli.errors import USAGE_ERROR, cli_errors, fail
from tapeflow.cli.options import ConfigRootOption, existing_paths, load_app_config
from tapeflow.cli.output import emit, plain_number
from tapeflow.config.loader import DEFAULT_CONFIG
from tapeflow.sources import ImportOptions


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
        root: ConfigRootOption = None,
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
        control endpoint. Replay files that do not say their exchange or market need
        --exchange / --market; every replay path is checked before anything starts (exit 2).
        """
        from tapeflow.app.logs import configure_logging
        from tapeflow.app.run import ReconciliationIncomplete, run_app

        console = make_console()
        existing_paths(replay)
        replay_speed = _speed(speed)
        cfg = load_app_config(config, root)
        configure_logging(cfg.app.log_format, cfg.app.log_level)
        from tapeflow.ingest.writer import tune_gil_switch_interval

        tune_gil_switch_interval()  # the event loop and the store threads share one GIL
        with cli_errors():
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
                status=lambda line: console.print(f"[dim]status[/dim] {escape(line)}"),
                ready=lambda: console.print("ready", highlight=False),
                api_url=api_url,
                reconciled=lambda text: console.print(escape(text), highlight=False, end=""),
                flatten_on_exit=flatten_on_exit,
            )

        with cli_errors():
            try:
                summary = asyncio.run(main())
            except ReconciliationIncomplete as exc:  # nothing traded; as reconcile: exit 2
                raise fail(f"not trading: {exc}", USAGE_ERROR) from None
        print_summary(console, cfg.store.root, summary, mode=cfg.execution.mode)


def print_summary(console: Console, root: Path, summary, *, mode: str) -> None:
    """The end-of-run report: ticks per symbol, candles, gaps, strategy levels, orders,
    positions, equity (headed by the execution ``mode``, ``paper`` or ``live``), and per
    bus subscriber the events handled, failed, timed out, dropped and slow (tables that fit
    80 columns, :func:`tapeflow.cli.output.emit`)."""
    from tapeflow.store import TickStore

    replayed = summary.replay.per_symbol if summary.replay else {}
    rows = []
    with TickStore(root) as store:
        for key in store.symbols():
            s = store.summary(key)
            with store.connection(key) as con:
                # the candle definition of sql/analytics/101 (kline trades only), not a second copy
                candles = con.execute("SELECT count(*) FROM candles_1m_ticks").fetchall()[0][0]
            rows.append(
                (
                    str(key),
                    f"{s['rows']:,}",
                    f"{replayed.get(key, 0):,}",
                    f"{candles:,}",
                    f"{s['gaps']:,}",
                    f"{s['quarantined']:,}",
                )
            )
    counts = ("ticks", "replayed", "candles 1m", "gaps", "quar.")
    emit(f"store {root}", ("symbol", *counts), rows, right=counts, no_wrap=("symbol", *counts))
    emit(
        "strategy (evaluations per level reached)",
        ("symbol", "evaluations", "signals", "levels reached"),
        (
            (
                sym,
                f"{s.get('evaluations', 0):,}",
                f"{s.get('signals', 0):,}",
                ", ".join(f"{k}: {v}" for k, v in sorted(s.get("reached", {}).items())),
            )
            for sym, s in summary.strategy.items()
        ),
        right=("evaluations", "signals"),
        no_wrap=("symbol",),
    )
    emit(
        f"execution ({mode})",
        ("venue", "positions", "equity", "risk", "details"),
        (
            (
                venue,
                str(v.get("positions", 0)),
                "" if v.get("equity") is None else plain_number(v["equity"]),
                str(v.get("risk_level", "")),
                _venue_details(v),
            )
            for venue, v in summary.venues.items()
        ),
        right=("positions", "equity"),
        no_wrap=("venue",),
    )
    if summary.bus:
        names = ("handled", "failed", "timed out", "dropped", "slow")
        emit(
            f"event bus ({summary.bus['published']:,} events published)",
            ("subscriber", *names),
            (
                (
                    name,
                    *(f"{s[k]:,}" for k in ("handled", "failed", "timed_out", "dropped", "slow")),
                )
                for name, s in summary.bus["subscribers"].items()
            ),
            right=names,
            no_wrap=names,
        )
    for line in summary.flatten:
        console.print(escape(line), highlight=False)
    console.print(
        f"candle closes announced: {summary.candles_closed:,}; "
        f"ticks through the pipeline: {summary.ticks_published:,}; "
        f"{summary.seconds:.1f}s"
    )


def _venue_details(status: dict[str, Any]) -> str:
    """The engine status counters beside positions, equity and risk, as ``name value`` pairs
    (``stops 2, trades today 1, health 84.5, refusals risk: 3``); empty and false ones left out."""
    parts = []
    for key, value in status.items():
        empty = value is None or value is False or value in ({}, "")
        if empty or key in ("positions", "equity", "risk_level"):
            continue
        name = key.replace("_", " ")
        if value is True:
            parts.append(name)
        elif isinstance(value, dict):
            parts.extend(f"{name} {k}: {x}" for k, x in value.items())
        else:
            parts.append(f"{name} {value}")
    return ", ".join(parts)
