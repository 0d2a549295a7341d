"""Operator controls: ``tapeflow positions``, ``close``, ``pause``, ``resume`` and
``risk reset``.

Each command goes to the running ``tapeflow run`` of the store root through its control
endpoint (``{root}/.tapeflow/control.json``, token-protected, loopback); when no process
runs it acts on the stored state instead: the execution engines are started on the stored
books for the one action (paper: the paper account in the state store, offline market
rules; live: the exchange, keys from the environment) and stopped again. Either way the
same :class:`~tapeflow.execution.controls.OperatorControls` does the work, and the output
says which path was taken and what was done.

Exit codes: 0 done (or nothing to do), 2 refused (unknown symbol, bad configuration,
wrong token, exchange unreachable).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tapeflow.cli.errors import USAGE_ERROR, fail, message
from tapeflow.cli.options import ConfigRootOption, load_app_config
from tapeflow.cli.output import CsvOption, OutputFormat, emit, output_format
from tapeflow.config.loader import DEFAULT_CONFIG

if TYPE_CHECKING:
    from tapeflow.config import AppConfig
    from tapeflow.execution.controls import OperatorControls

ConfigOpt = Annotated[Path, typer.Option("--config", help="Configuration file.")]
RootOpt = ConfigRootOption
ApiOpt = Annotated[
    str | None,
    typer.Option("--api-url", help="No process running, live mode: the exchange's API base."),
]


def _config(config: Path, root: Path | None) -> AppConfig:
    """The configuration with ``--root`` / ``$TAPEFLOW_ROOT`` applied (invalid: exit 2)."""
    return load_app_config(config, root)


async def _on_stored_state(
    cfg: AppConfig, api_url: str | None, action: Callable[[OperatorControls], Awaitable[Any]]
) -> Any:
    """Start the engines on the stored books, run ``action``, stop them."""
    from tapeflow.app.run import open_exchange
    from tapeflow.execution.controls import OperatorControls
    from tapeflow.execution.engine import ExecutionEngine
    from tapeflow.state.opening import open_store

    state = await asyncio.to_thread(open_store, cfg.state, cfg.store.root)
    engines: list[ExecutionEngine] = []
    try:
        for exchange_name, market in sorted({(s.exchange, s.market) for s in cfg.enabled_symbols}):
            settings = cfg.execution.model_copy(
                update={"exchange": exchange_name, "market": market}
            )
            exchange = await open_exchange(settings, state, offline=True, api_url=api_url)
            engine = ExecutionEngine(settings, exchange, state)
            engines.append(engine)
            await engine.start()
        controls = OperatorControls(engines, [s.key for s in cfg.enabled_symbols])
        return await action(controls)
    finally:
        for engine in engines:
            await engine.stop()
        await asyncio.to_thread(state.close)


def _act(
    config: Path,
    root: Path | None,
    api_url: str | None,
    *,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    stored: Callable[[OperatorControls], Awaitable[Any]],
) -> tuple[str, Any]:
    """``(where, answer)``: through the running process's endpoint, else on the stored
    state. Exits 2 with the reason when refused."""
    from tapeflow.app.control import ControlClient, ControlRefused, find_control
    from tapeflow.execution.controls import UnknownSymbol
    from tapeflow.execution.errors import ExecutionError

    cfg = _config(config, root)
    info = find_control(cfg.store.root)
    try:
        if info is not None:
            answer = ControlClient(info).request(method, path, body)
            return f"running process {info.pid}", answer
        return "stored state (no running process)", asyncio.run(
            _on_stored_state(cfg, api_url, stored)
        )
    except (ControlRefused, UnknownSymbol, ExecutionError, OSError) as exc:
        raise fail(message(exc), USAGE_ERROR) from None


def _print_result(where: str, result: Any) -> None:
    data = result if isinstance(result, dict) else result.to_dict()
    typer.echo(f"[{where}] {'changed' if data['changed'] else 'no change'}")
    for line in data["messages"]:
        typer.echo(f"  {line}")


def positions_command(
    config: ConfigOpt = DEFAULT_CONFIG,
    root: RootOpt = None,
    api_url: ApiOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON, one object per position.")] = (
        False
    ),
    as_csv: CsvOption = False,
) -> None:
    """Active positions: entry, size, stop, trailing level, target, mark and unrealised
    P&L (quote currency, fees not included). The table shows the essentials (fits 80
    columns); --json / --csv every field."""
    fmt = output_format(as_json, as_csv)

    async def stored(c: OperatorControls) -> Any:
        return {"positions": c.positions()}

    where, answer = _act(config, root, api_url, method="GET", path="/positions", body=None,
                         stored=stored)  # fmt: skip
    rows = answer["positions"]
    if fmt is OutputFormat.json:
        typer.echo(json.dumps({"source": where, "positions": rows}, indent=2))
        return
    cols = ("symbol", "direction", "status", "quantity", "entry_price", "stop_price",
            "trailing_stop", "target_price", "mark", "unrealized_pnl", "position_id")  # fmt: skip
    if fmt is OutputFormat.csv:
        emit("positions", cols, ([r[c] for c in cols] for r in rows), fmt)
        return
    shown = ("symbol", "direction", "quantity", "entry_price", "trailing_stop", "mark",
             "unrealized_pnl", "position_id")  # fmt: skip
    heads = ("symbol", "dir", "qty", "entry", "stop", "mark", "P&L", "id")
    emit(
        f"positions — {where}",
        heads,
        ([r[c] if r[c] is not None else "—" for c in shown] for r in rows),
        right=heads[2:-1],
        no_wrap=("symbol",),
    )


def close_command(
    symbol: Annotated[str | None, typer.Argument(help="BTCUSDT or exchange/market/SYMBOL.")] = (
        None
    ),
    close_all: Annotated[bool, typer.Option("--all", help="Close every position.")] = False,
    config: ConfigOpt = DEFAULT_CONFIG,
    root: RootOpt = None,
    api_url: ApiOpt = None,
) -> None:
    """Close a symbol's open positions (or every position with --all) with market exits.
    A position already closing keeps its exit: nothing is sent twice."""
    if (symbol is None) == (not close_all):
        typer.echo("error: name a SYMBOL or pass --all (not both)", err=True)
        raise typer.Exit(2)

    async def stored(c: OperatorControls) -> Any:
        return await c.close(symbol)

    where, answer = _act(config, root, api_url, method="POST", path="/close",
                         body={"symbol": symbol}, stored=stored)  # fmt: skip
    _print_result(where, answer)


def _pause(symbol: str, paused: bool, config: Path, root: Path | None, api_url: str | None):
    async def stored(c: OperatorControls) -> Any:
        return c.pause(symbol, paused)

    path = "/pause" if paused else "/resume"
    where, answer = _act(config, root, api_url, method="POST", path=path,
                         body={"symbol": symbol}, stored=stored)  # fmt: skip
    _print_result(where, answer)


def pause_command(
    symbol: Annotated[str, typer.Argument(help="BTCUSDT or exchange/market/SYMBOL.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    root: RootOpt = None,
    api_url: ApiOpt = None,
) -> None:
    """No new entries for SYMBOL until resumed (open positions keep their stops and
    exits); persisted across restarts."""
    _pause(symbol, True, config, root, api_url)


def resume_command(
    symbol: Annotated[str, typer.Argument(help="BTCUSDT or exchange/market/SYMBOL.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    root: RootOpt = None,
    api_url: ApiOpt = None,
) -> None:
    """Allow new entries for SYMBOL again."""
    _pause(symbol, False, config, root, api_url)


def risk_reset_command(
    config: ConfigOpt = DEFAULT_CONFIG,
    root: RootOpt = None,
    api_url: ApiOpt = None,
) -> None:
    """Reset a tripped portfolio circuit breaker: new entries allowed again, the day's
    drawdown re-based at the current equity."""

    async def stored(c: OperatorControls) -> Any:
        return await c.risk_reset()

    where, answer = _act(config, root, api_url, method="POST", path="/risk/reset", body=None,
                         stored=stored)  # fmt: skip
    _print_result(where, answer)


def register(app: typer.Typer) -> None:
    """Add ``positions``, ``close``, ``pause``, ``resume`` and ``risk reset``."""
    app.command("positions")(positions_command)
    app.command("close")(close_command)
    app.command("pause")(pause_command)
    app.command("resume")(resume_command)
    risk = typer.Typer(help="Portfolio risk controls.", no_args_is_help=True)
    risk.command("reset")(risk_reset_command)
    app.add_typer(risk, name="risk")
