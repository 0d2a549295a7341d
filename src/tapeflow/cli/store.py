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
from rich.markup import escape

from tapeflow.cli.console import console
from tapeflow.cli.errors import RUNTIME_ERROR, USAGE_ERROR, cli_errors, exit_code, fail
from tapeflow.cli.options import RootOption, existing_root
from tapeflow.cli.output import CsvOption, JsonOption, OutputFormat, emit, output_format
from tapeflow.model.symbols import SymbolKey, normalize_symbol
from tapeflow.sources import ImportSummary, import_paths
from tapeflow.store import SchemaError, TickStore
from tapeflow.store.migrations import applied_versions
from tapeflow.store.owner import root_owner

if TYPE_CHECKING:
    from tapeflow.analytics.api import Analytics


def _console(stderr: bool = False) -> Console:
    """See :func:`tapeflow.cli.console.console`."""
    return console(stderr)


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


def _check_free(root: Path) -> None:
    """Refuse (exit 1) to open the files read-write while a ``tapeflow run`` owns the root."""
    owner = root_owner(root)
    if owner is not None:
        raise fail(f"{owner.describe(root)}; stop it first", RUNTIME_ERROR)


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
    _check_paths(paths)
    _check_free(root)
    with cli_errors(), TickStore(root) as store:
        summary = import_paths(
            store,
            paths,
            exchange=exchange,
            market=market,
            symbol=symbol,
            id_space=id_space,
            progress=not quiet,
        )
    print_summary(summary)


def _check_paths(paths: list[Path]) -> None:
    """Refuse (exit 2, one line) before anything starts if a path does not exist."""
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise fail(f"no such file or folder: {', '.join(missing)}")


def print_summary(summary: ImportSummary) -> None:
    """Per-symbol counts of an import as a table (fits 80 columns)."""
    names = ("received", "inserted", "dupl.", "confl.", "quar.", "skipped")
    emit(
        "import",
        ("symbol", *names),
        (
            (
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
            for key, c in sorted(summary.symbols.items())
        ),
        right=names,
        no_wrap=("symbol", *names),
    )
    _console().print(
        "[dim]dupl.: already stored · confl.: same id, other content · quar.: refused rows[/]"
    )
    for path, _ in summary.skipped_files:
        _console().print(f"[dim]skipped (not a trade file): {escape(str(path))}[/]")


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
    with cli_errors(), TickStore(root) as store:
        try:
            report = download_and_import(
                store,
                market=market,
                symbol=normalize_symbol(symbol),
                start=start.date(),
                end=(end or start).date(),
                agg=agg,
                base_url=base_url,
                progress=not quiet,
            )
        except ValueError as exc:  # bad market or dates: input
            raise fail(str(exc), USAGE_ERROR) from None
    for path in report.files:
        _console().print(f"verified {escape(str(path))}")
    if report.summary:
        print_summary(report.summary)
    for name, why in report.failures:
        _console(stderr=True).print(f"[bold red]error:[/] {escape(f'{name}: {why}')}")
    if report.failures:
        raise typer.Exit(RUNTIME_ERROR)


@contextmanager
def _open_reader(root: Path) -> Iterator[Analytics]:
    """The store for reading: the files themselves (read-only), or, while a ``tapeflow run``
    holds them, its query endpoint (:func:`tapeflow.open`) — the same queries either way.
    A missing root exits 2; a run that cannot be reached, 1."""
    from tapeflow.analytics.api import open as open_analytics

    with cli_errors(), open_analytics(existing_root(root)) as analytics:
        yield analytics


def _resolve(store: Analytics, text: str) -> SymbolKey:
    """``binance/usdm/BTCUSDT``, or a bare ``BTCUSDT`` if only one market has it
    (:func:`tapeflow.analytics.resolve.resolve_symbol`; errors exit 2)."""
    with cli_errors():
        return store.resolve(text)


#: ``tapeflow info`` fields (``--json`` / ``--csv`` print all of them).
INFO_COLUMNS = (
    "symbol",
    "id_space",
    "rows",
    "first_ts",
    "last_ts",
    "first_id",
    "last_id",
    "gaps",
    "missing_ids",
    "quarantined",
    "conflicts",
    "file_bytes",
)


def _fmt_ts(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def info_cmd(
    root: RootOption = Path("data"), as_json: JsonOption = False, as_csv: CsvOption = False
) -> None:
    """Per symbol: rows, first/last trade time (UTC), id range, gaps, quarantine, conflicts,
    file size. The table shows the essentials (fits 80 columns; times UTC); --json / --csv
    every field (id space, first/last id, missing ids, bytes)."""
    fmt = output_format(as_json, as_csv)
    with _open_reader(root) as store:
        records = []
        for key in store.symbols():
            try:
                s = store.summary(key)
            except (duckdb.Error, RuntimeError) as exc:  # SchemaError too: exit 2
                raise fail(f"{key}: {exc}", exit_code(exc)) from None
            file_bytes = key.path(root).stat().st_size
            records.append({**s, "symbol": str(key), "file_bytes": file_bytes})
    if fmt is not OutputFormat.table:
        emit("info", INFO_COLUMNS, ([r[c] for c in INFO_COLUMNS] for r in records), fmt)
        return
    emit(
        f"tapeflow store {root} (times UTC)",
        (
            "symbol",
            "rows",
            "first/last trade",
            "gaps",
            "quar.",
            "confl.",
            "size",
        ),
        (
            (
                r["symbol"],
                f"{r['rows']:,}",
                f"{_fmt_ts(r['first_ts'])}\n{_fmt_ts(r['last_ts'])}",  # UTC
                f"{r['gaps']:,}",
                f"{r['quarantined']:,}",
                f"{r['conflicts']:,}",
                _size(r["file_bytes"]),
            )
            for r in records
        ),
        right=("rows", "gaps", "quar.", "confl.", "size"),
        no_wrap=("symbol", "rows", "size"),
        empty=f"no symbols under {root}",
    )


def _size(n: float) -> str:
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
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Missing trade-id ranges (trade ids are contiguous, so each range is missing trades)."""
    fmt = output_format(as_json, as_csv)
    with _open_reader(root) as store:
        keys = [_resolve(store, symbol)] if symbol else store.symbols()
        rows: list[tuple[str, int, int, int]] = []
        for key in keys:
            try:
                gaps = store.missing_ids(key)
            except (duckdb.Error, RuntimeError) as exc:  # SchemaError too: exit 2
                raise fail(f"{key}: {exc}", exit_code(exc)) from None
            rows.extend((str(key), first, last, last - first + 1) for first, last in gaps)
    if fmt is not OutputFormat.table:
        emit("gaps", ("symbol", "first_missing", "last_missing", "count"), rows, fmt)
        return
    if rows:
        emit(
            "missing trade ids",
            ("symbol", "first missing", "last missing", "count"),
            ((k, str(a), str(b), f"{n:,}") for k, a, b, n in rows),
            right=("first missing", "last missing", "count"),
        )
    _console().print(f"{len(rows)} gap(s) in {len(keys)} symbol(s)")


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
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Run one read-only query on one symbol's database (tables: ticks, gaps, quarantine,
    tick_conflicts, import_log, ...; every view and macro of sql/analytics). One SELECT or
    EXPLAIN statement; it runs where writing is impossible (the file attached read-only, no
    file access, settings locked), through the query endpoint while `tapeflow run` holds
    the files. Values print as data (exact decimals, no markup); --json / --csv for
    machine-readable output."""
    fmt = output_format(as_json, as_csv)
    with _open_reader(root) as store:
        key = _resolve(store, symbol)
        try:
            frame = store.sql(key, query)
        except duckdb.IOException:
            raise
        except duckdb.Error as exc:  # the query itself is wrong: input
            raise fail(str(exc), USAGE_ERROR) from None
    names, rows = frame.columns, list(frame.head(limit + 1).iter_rows())
    emit(str(key), names, rows[:limit], fmt)
    if len(rows) > limit:
        _console(stderr=True).print(f"[dim](more rows; showing the first {limit}; use --limit)[/]")


def migrate_cmd(root: RootOption = Path("data")) -> None:
    """Bring every symbol file under the root to this tapeflow's schema.

    Applies the schema migrations a file lacks and drops the copies of the analytics views
    and macros that earlier tapeflow versions stored in each file (they now live in the
    process that opens the files). Opens the files read-write, so no
    `tapeflow run` may hold them. The reading commands (info, gaps, sql, tapeflow.open)
    refuse an outdated file and point here; import, download and run migrate on their own.
    """
    existing_root(root)
    _check_free(root)
    with cli_errors(), TickStore(root) as store:
        keys = store.symbols()
        for key in keys:
            try:
                with store.connection(key) as con:
                    versions = sorted(applied_versions(con))
            except (duckdb.IOException, SchemaError) as exc:
                raise fail(f"{key}: {exc}", exit_code(exc)) from None
            _console().print(f"{key}: schema migrations {', '.join(map(str, versions))}")
    _console().print(f"{len(keys)} symbol file(s) up to date")
