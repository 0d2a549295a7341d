"""``tapeflow explain``: why a symbol was (or was not) traded — its decision log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from tapeflow.cli.console import console as make_console
from tapeflow.cli.errors import cli_errors
from tapeflow.cli.options import ConfigRootOption, default_root, existing_root
from tapeflow.cli.output import (
    CsvOption,
    JsonOption,
    OutputFormat,
    cell,
    emit,
    json_value,
    output_format,
    plain_number,
)
from tapeflow.strategy.levels import LEVELS

_MARK = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]·[/]"}


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return plain_number(float(f"{value:.4g}"))
    return cell(value)


def headline(levels: dict[str, Any], level: str) -> str:
    """The few numbers that decided ``level`` (for the table's detail column)."""
    m = (levels.get(level) or {}).get("metrics") or {}
    if level == "regime":
        return (
            f"adx {_num(m.get('adx'))} atr% {_num(m.get('atr_pct'))} "
            f"hurst {_num(m.get('hurst'))} mr {_num(m.get('mean_reversion'))}"
        )
    if level == "zone":
        z = m.get("zone") or {}
        if z:
            return f"{z.get('kind')} [{z.get('low')}, {z.get('high')}] stop {m.get('stop')}"
        return f"close {m.get('close')} tol {_num(m.get('tolerance'))} POC {m.get('poc')}"
    if level == "cascade":
        return f"imb {_num(m.get('fast'))} / {_num(m.get('middle'))} / {_num(m.get('longest'))}"
    if level == "bounce":
        return f"strength {_num(m.get('strength'))} spike {_num(m.get('volume_spike'))}"
    if level == "confluence":
        return f"score {_num(m.get('score'))} ({m.get('probability')})"
    return ""


def explain(
    symbol: Annotated[
        str, typer.Argument(help="BTCUSDT, or exchange/market/SYMBOL when ambiguous.")
    ],
    last: Annotated[int, typer.Option("--last", min=1, help="Evaluations to show.")] = 20,
    root: ConfigRootOption = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Configuration whose store.root to use."),
    ] = None,
    strategy: Annotated[
        str | None, typer.Option("--strategy", help="Only this strategy name.")
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Print the last evaluations of SYMBOL's strategy: the level each stopped at, pass/fail
    per level (1-5: regime, zone, cascade, bounce, confluence) with the numbers that
    decided it, and any signal (fits 80 columns). --json: every record with
    its levels and signal as objects; --csv: the flat columns (levels as JSON text)."""
    from rich.table import Table

    from tapeflow.analytics.api import open as open_analytics

    fmt = output_format(as_json, as_csv)
    root = existing_root(default_root(config, root))
    where = "WHERE strategy = ? " if strategy else ""
    params: list[Any] = [strategy] if strategy else []
    with cli_errors(), open_analytics(root) as analytics:
        key = analytics.resolve(symbol)
        frame = analytics.sql(
            key,
            "SELECT candle_time, timeframe, strategy, level_reached, direction, "
            "regime_pass, zone_pass, cascade_pass, bounce_pass, confluence_pass, reason, "
            f"levels, signal, signal_id FROM decisions {where}"
            "ORDER BY candle_time DESC LIMIT ?",
            [*params, last],
        )
    rows = frame.rows(named=True)
    if fmt is OutputFormat.csv:
        emit("decisions", frame.columns, frame.rows(), fmt)
        return
    if fmt is OutputFormat.json:
        for r in rows:
            r["levels"] = json.loads(r["levels"])
            r["signal"] = json.loads(r["signal"]) if r["signal"] else None
            typer.echo(json.dumps(json_value(r)))
        return
    console = make_console()
    if not rows:
        console.print(f"no decisions recorded for {key}")
        return
    table = Table(
        title=escape(f"{key} — last {len(rows)} evaluations (newest first)"),
        box=None,
        pad_edge=False,
        header_style="bold underline",
    )
    table.add_column("candle (UTC)", no_wrap=True)
    table.add_column("reached", no_wrap=True)
    table.add_column("dir", no_wrap=True)
    table.add_column(" ".join(str(n) for n in range(1, len(LEVELS) + 1)), no_wrap=True)
    table.add_column("why, and the numbers that decided it", overflow="fold")
    for r in rows:
        levels = json.loads(r["levels"])
        reached = r["level_reached"]
        style = "bold green" if reached == "signal" else ""
        detail = headline(levels, reached if reached != "signal" else "confluence")
        if r["signal"]:
            sig = json.loads(r["signal"])
            detail += (
                f" | {sig['direction']} @ {sig['entry_price']} stop {sig['stop_loss']}"
                f" id {r['signal_id']}"
            )
        table.add_row(
            r["candle_time"].strftime("%Y-%m-%d %H:%M"),
            f"[{style}]{escape(reached)}[/]" if style else escape(reached),
            escape(r["direction"] or ""),
            " ".join(_MARK[r[f"{level}_pass"]] for level in LEVELS),
            f"{escape(r['reason'] or '')}\n[dim]{escape(detail)}[/]",
        )
    console.print(table)
    console.print(
        "[dim]"
        + " ".join(f"{n} {level}" for n, level in enumerate(LEVELS, 1))
        + ": ✓ pass ✗ reject · not reached[/]"
    )


def register(app: typer.Typer) -> None:
    """Add ``explain`` to the ``tapeflow`` command line."""
    app.command("explain")(explain)
