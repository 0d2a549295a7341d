"""Store commands: ``import``, ``download binance``, ``info``, ``gaps``, ``sql``,
``migrate``.

Every command takes ``--root`` (the store root; default ``data``, or ``$TAPEFLOW_ROOT``).
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from tapeflow.cli.console import console
from tapeflow.sources import ImportSummary, SourceError, import_paths
from tapeflow.store import (
    IdSpaceMismatchError,
    InvalidSymbolError,
    SchemaError,
    SymbolKey,
    TickStore,
    UnknownSymbolError,
)
from tapeflow.store.migrations import applied_versions
from tapeflow.store.owner import StoreBusyError, root_owner

if TYPE_CHECKING:
    from tapeflow.analytics.api import Analytics


def _console(stderr: bool = False) -> Console:
    """See :func:`tapeflow.cli.console.console`."""
    return console(stderr)


RootOption = Annotated[
    Path,
    typer.Option(
        "--root",
        envvar="TAPEFLOW_ROOT",
        help="Store root folder: one DuckDB file per symbol under {root}/{exchange}/"
        "{market}/{SYMBOL}/.",
        show_default=True,
    ),
]


def _help(command) -> str:
    """A command's docstring with each paragraph on one line (the terminal rewraps it)."""
    paragraphs = inspect.cleandoc(command.__doc__ or "").split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def register(app: typer.Typer) -> None:
    """Add the store commands to the ``tapeflow`` app."""
    for name, command in (
        ("import", import_cmd),
        ("info", info_cmd),
        ("gaps", gaps_cmd),
        ("sql", sql_cmd),
        ("migrate", migrate_cmd),
    ):
        app.command(name, help=_help(command))(command)
    download = typer.Typer(
        help="Download exchange archives, verify them, then import them.", no_args_is_help=True
    )
    download.command("binance", help=_help(download_binance_cmd))(download_binance_cmd)
    app.add_typer(download, name="download")


def _fail(message: str, code: int = 2) -> typer.Exit:
    _console(stderr=True).print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _check_free(root: Path) -> None:
    """Refuse to open the files read-write while a ``tapeflow run`` owns the root."""
    owner = root_owner(root)
    if owner is not None:
        raise _fail(f"{owner.describe(root)}; stop it first", 1)


def import_cmd(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Trade files or folders (searched recursively).", show_default=False),
    ],
    exchange: Annotated[
        str | None, typer.Option(help="Exchange, for files that do not say (e.g. binance).")
    ] = None,
    market: Annotated[
        str | None,
        typer.Option(help="Market, for files that do not say (binance: spot, usdm, coinm)."),
    ] = None,
    symbol: Annotated[
        str | None, typer.Option(help="Native symbol, for files that do not say (BTCUSDT).")
    ] = None,
    id_space: Annotated[
        str | None,
        typer.Option(help="'trade' or 'agg_trade', for tables that cannot tell their ids."),
    ] = None,
    root: RootOption = Path("data"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Import historical trades into the store (idempotent: re-importing adds nothing).

    Formats are detected from content: Binance WebSocket captures (hftbacktest), Binance
    trades/aggTrades archives (.csv/.zip), Tardis.dev trades CSV, ccxt JSON trade lists,
    Parquet trade tables (nautilus, freqtrade, tick columns). What a file says about its
    exchange, market and symbol wins over the options; a file that says nothing needs them.
    Nothing is written if any file's format or symbol cannot be told.
    """
    _check_free(root)
    try:
        with TickStore(root) as store:
            summary = import_paths(
                store,
                paths,
                exchange=exchange,
                market=market,
                symbol=symbol,
                id_space=id_space,
                progress=not quiet,
            )
    except (SourceError, InvalidSymbolError, IdSpaceMismatchError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    print_summary(summary)


def print_summary(summary: ImportSummary) -> None:
    """Per-symbol counts of an import as a rich table."""
    table = Table(title="import")
    for col in (
        "symbol",
        "received",
        "inserted",
        "duplicates",
        "conflicts",
        "quarantined",
        "skipped msgs",
    ):
        table.add_column(col, justify="left" if col == "symbol" else "right", no_wrap=True)
    for key, c in sorted(summary.symbols.items()):
        table.add_row(
            str(key),
            *(
                f"{v:,}"
                for v in (
                    c.received,
                    c.inserted,
                    c.duplicates,
                    c.conflicts,
                    c.quarantined,
                    c.skipped,
                )
            ),
        )
    _console().print(table)
    for path, _ in summary.skipped_files:
        _console().print(f"[dim]skipped (not a trade file): {path}[/]")


def download_binance_cmd(
    market: Annotated[str, typer.Option(help="spot, usdm or coinm.", show_default=False)],
    symbol: Annotated[str, typer.Option(help="Native symbol, e.g. BTCUSDT.", show_default=False)],
    start: Annotated[
        dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="First day (UTC).", show_default=False)
    ],
    end: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last day (UTC), inclusive; default: start."),
    ] = None,
    agg: Annotated[bool, typer.Option("--agg", help="aggTrades instead of raw trades.")] = False,
    base_url: Annotated[
        str, typer.Option(help="Archive server (a mirror or a local test server).")
    ] = "https://data.binance.vision",
    root: RootOption = Path("data"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Download Binance daily trade archives, verify their sha256, then import them.

    Fetches {SYMBOL}-trades-{date}.zip (or aggTrades) and its .CHECKSUM from
    data.binance.vision into {root}/_downloads/, resuming interrupted downloads. An archive
    whose checksum does not match, or that is damaged, is reported and imports nothing; the
    command then exits with code 1.
    """
    from tapeflow.sources.download import download_and_import

    _check_free(root)
    try:
        with TickStore(root) as store:
            report = download_and_import(
                store,
                market=market,
                symbol=symbol.upper(),
                start=start.date(),
                end=(end or start).date(),
                agg=agg,
                base_url=base_url,
                progress=not quiet,
            )
    except (SourceError, InvalidSymbolError, IdSpaceMismatchError, ValueError) as exc:
        raise _fail(str(exc)) from None
    for path in report.files:
        _console().print(f"verified {path}")
    if report.summary:
        print_summary(report.summary)
    for name, why in report.failures:
        _console(stderr=True).print(f"[bold red]failed:[/] {name}: {why}")
    if report.failures:
        raise typer.Exit(1)


@contextmanager
def _open_reader(root: Path) -> Iterator[Analytics]:
    """The store for reading: the files themselves (read-only), or, while a ``tapeflow run``
    holds them, its query endpoint (:func:`tapeflow.open`) — the same queries either way."""
    from tapeflow.analytics.api import open as open_analytics

    if not root.is_dir():
        raise _fail(f"no store at {root} (set --root or TAPEFLOW_ROOT)")
    try:
        analytics = open_analytics(root)
    except StoreBusyError as exc:
        raise _fail(str(exc), 1) from None
    with analytics:
        yield analytics


def _resolve(keys: list[SymbolKey], root: Path, text: str) -> SymbolKey:
    """``binance/usdm/BTCUSDT``, or a bare ``BTCUSDT`` if only one market has it."""
    if "/" in text or ":" in text:
        try:
            key = SymbolKey.parse(text)
        except InvalidSymbolError as exc:
            raise _fail(str(exc)) from None
        if key not in keys:
            raise _fail(f"no data for {key} under {root}")
        return key
    matches = [k for k in keys if k.symbol == text.upper()]
    if len(matches) != 1:
        found = ", ".join(map(str, matches)) or "none"
        raise _fail(f"{text!r} matches {found}; name it as exchange/market/SYMBOL")
    return matches[0]


def _fmt_ts(value: dt.datetime | None) -> str:
    # UTC (the column title says so), whichever path the value came by
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds") if value else "-"


def info_cmd(root: RootOption = Path("data")) -> None:
    """Per symbol: rows, first/last trade time (UTC), id range, gaps, quarantine, conflicts,
    file size."""
    with _open_reader(root) as store:
        keys = store.symbols()
        if not keys:
            _console().print(f"no symbols under {root}")
            return
        table = Table(title=f"tapeflow store {root}")
        for col in (
            "symbol",
            "ids",
            "rows",
            "first (UTC)",
            "last (UTC)",
            "id range",
            "gaps",
            "missing ids",
            "quarantined",
            "conflicts",
            "size",
        ):
            table.add_column(
                col,
                justify="left" if col in ("symbol", "ids") else "right",
                no_wrap=col in ("symbol", "rows"),
            )
        for key in keys:
            try:
                s = store.summary(key)
            except (duckdb.Error, SchemaError, RuntimeError) as exc:
                raise _fail(f"{key}: {exc}") from None
            ids = f"{s['first_id']}–{s['last_id']}" if s["first_id"] is not None else "-"
            table.add_row(
                str(key),
                s["id_space"] or "-",
                f"{s['rows']:,}",
                _fmt_ts(s["first_ts"]),
                _fmt_ts(s["last_ts"]),
                ids,
                f"{s['gaps']:,}",
                f"{s['missing_ids']:,}",
                f"{s['quarantined']:,}",
                f"{s['conflicts']:,}",
                _size(key.path(root).stat().st_size),
            )
        _console().print(table)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def gaps_cmd(
    symbol: Annotated[
        str | None,
        typer.Argument(
            help="exchange/market/SYMBOL or a bare symbol; default: every symbol.",
            show_default=False,
        ),
    ] = None,
    root: RootOption = Path("data"),
) -> None:
    """Missing trade-id ranges (trade ids are contiguous, so each range is missing trades)."""
    with _open_reader(root) as store:
        keys = [_resolve(store.symbols(), root, symbol)] if symbol else store.symbols()
        table = Table(title="missing trade ids")
        for col in ("symbol", "first missing", "last missing", "count"):
            table.add_column(col, justify="left" if col == "symbol" else "right", no_wrap=True)
        total = 0
        for key in keys:
            try:
                gaps = store.missing_ids(key)
            except (duckdb.Error, SchemaError, RuntimeError) as exc:
                raise _fail(f"{key}: {exc}") from None
            for first, last in gaps:
                table.add_row(str(key), str(first), str(last), f"{last - first + 1:,}")
                total += 1
        if total:
            _console().print(table)
        _console().print(f"{total} gap(s) in {len(keys)} symbol(s)")


def sql_cmd(
    symbol: Annotated[
        str, typer.Argument(help="exchange/market/SYMBOL or a bare symbol.", show_default=False)
    ],
    query: Annotated[
        str,
        typer.Argument(help='A read query, e.g. "SELECT count(*) FROM ticks".', show_default=False),
    ],
    limit: Annotated[int, typer.Option(help="Rows to print at most.")] = 50,
    root: RootOption = Path("data"),
) -> None:
    """Run one read-only query on one symbol's database (tables: ticks, gaps, quarantine,
    tick_conflicts, import_log, ...; every view and macro of sql/analytics). One SELECT or
    EXPLAIN statement; it runs where writing is impossible (the file attached read-only, no
    file access, settings locked), through the query endpoint while `tapeflow run` holds
    the files."""
    from tapeflow.analytics.errors import ReadOnlyQueryError

    with _open_reader(root) as store:
        key = _resolve(store.symbols(), root, symbol)
        try:
            frame = store.sql(key, query)
        except ReadOnlyQueryError as exc:
            raise _fail(str(exc)) from None
        except (duckdb.Error, SchemaError, UnknownSymbolError, RuntimeError) as exc:
            raise _fail(str(exc)) from None
    table = Table(title=f"{key}")
    for name in frame.columns:
        table.add_column(name)
    for row in frame.head(limit).iter_rows():
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    _console().print(table)
    if frame.height > limit:
        _console().print(f"[dim](more rows; showing the first {limit}; use --limit)[/]")


def migrate_cmd(root: RootOption = Path("data")) -> None:
    """Bring every symbol file under the root to this tapeflow's schema.

    Applies the schema migrations a file lacks and drops the copies of the analytics views
    and macros that earlier tapeflow versions stored in each file (they now live in the
    process that opens the files). Opens the files read-write, so no
    `tapeflow run` may hold them. The reading commands (info, gaps, sql, tapeflow.open)
    refuse an outdated file and point here; import, download and run migrate on their own.
    """
    if not root.is_dir():
        raise _fail(f"no store at {root} (set --root or TAPEFLOW_ROOT)")
    _check_free(root)
    with TickStore(root) as store:
        keys = store.symbols()
        for key in keys:
            try:
                with store.connection(key) as con:
                    versions = sorted(applied_versions(con))
            except (duckdb.IOException, SchemaError) as exc:
                raise _fail(f"{key}: {exc}") from None
            _console().print(f"{key}: schema migrations {', '.join(map(str, versions))}")
    _console().print(f"{len(keys)} symbol file(s) up to date")
