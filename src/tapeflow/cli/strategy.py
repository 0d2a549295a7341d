"""``tapeflow explain``: why a symbol was (or was not) traded — its decision log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tapeflow.strategy.levels import LEVELS

_MARK = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]·[/]"}
_HEADER = {
    "regime": "regime",
    "zone": "zone",
    "cascade": "cascade",
    "bounce": "bounce",
    "confluence": "confl.",
}


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


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
    root: Annotated[
        Path | None,
        typer.Option("--root", help="Tick store root (default: the config's store.root)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Configuration whose store.root to use."),
    ] = None,
    strategy: Annotated[
        str | None, typer.Option("--strategy", help="Only this strategy name.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the records as JSON lines instead.")
    ] = False,
) -> None:
    """Print the last evaluations of SYMBOL's strategy: the level each stopped at, pass/fail
    per level with the numbers that decided it, and any signal."""
    from rich.console import Console
    from rich.table import Table

    from tapeflow.analytics.api import open as open_analytics
    from tapeflow.analytics.errors import AmbiguousSymbolError, SymbolNotFoundError
    from tapeflow.config import ConfigError, load_config
    from tapeflow.config.loader import DEFAULT_CONFIG
    from tapeflow.store.owner import StoreBusyError

    if root is None:
        path = config or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
        try:
            root = load_config(path).store.root if path else Path("data")
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    where = "WHERE strategy = ? " if strategy else ""
    params: list[Any] = [strategy] if strategy else []
    try:
        with open_analytics(root) as analytics:
            key = analytics.resolve(symbol)
            frame = analytics.sql(
                key,
                "SELECT candle_time, timeframe, strategy, level_reached, direction, "
                "regime_pass, zone_pass, cascade_pass, bounce_pass, confluence_pass, reason, "
                f"levels, signal, signal_id FROM decisions {where}"
                "ORDER BY candle_time DESC LIMIT ?",
                [*params, last],
            )
    except (
        FileNotFoundError,
        SymbolNotFoundError,
        AmbiguousSymbolError,
        ValueError,
        StoreBusyError,
    ) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    rows = frame.rows(named=True)
    if as_json:
        for r in rows:
            r["levels"] = json.loads(r["levels"])
            r["signal"] = json.loads(r["signal"]) if r["signal"] else None
            typer.echo(json.dumps(r, default=str))
        return
    console = Console()
    if not rows:
        console.print(f"no decisions recorded for {key}")
        return
    table = Table(title=f"{key} — last {len(rows)} evaluations (newest first)")
    table.add_column("candle (UTC)", no_wrap=True)
    table.add_column("reached")
    table.add_column("dir")
    for level in LEVELS:
        table.add_column(_HEADER[level], justify="center")
    table.add_column("why")
    table.add_column("numbers")
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
            f"[{style}]{reached}[/]" if style else reached,
            r["direction"] or "",
            *(_MARK[r[f"{level}_pass"]] for level in LEVELS),
            r["reason"],
            detail,
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``explain`` to the ``tapeflow`` command line."""
    app.command("explain")(explain)
