"""Listings printed as data: a table that fits the terminal, or ``--json`` / ``--csv``.

Every listing command takes ``--json`` (one JSON object per row, JSON lines) and ``--csv``
(a header row, then one row per line) and prints through :func:`emit`. Values are data,
never markup: rich markup and emoji codes in a value print as written; decimals print in
plain positional notation (``50``, ``0.00000001``), never in exponent form; times as ISO
8601 (UTC).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import sys
from collections.abc import Iterable, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tapeflow.cli.console import console


class OutputFormat(StrEnum):
    """How a listing is printed."""

    table = "table"
    json = "json"
    csv = "csv"


JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object per row (JSON lines).")
]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV (a header row first).")]


def output_format(as_json: bool, as_csv: bool) -> OutputFormat:
    """The format ``--json`` / ``--csv`` ask for.

    Raises:
        typer.BadParameter: both given (exit 2).
    """
    if as_json and as_csv:
        raise typer.BadParameter("--json and --csv exclude each other")
    return OutputFormat.json if as_json else OutputFormat.csv if as_csv else OutputFormat.table


def plain_number(value: Decimal | float | int) -> str:
    """``value`` in positional notation, exact for ``Decimal`` (``Decimal("5E+1")`` ->
    ``"50"``, ``Decimal("1E-8")`` -> ``"0.00000001"``); floats by their shortest repr."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return format(value, "f")
    return str(value)


def cell(value: Any) -> str:
    """The text of one value: ``""`` for None, numbers by :func:`plain_number`, times in
    ISO 8601, anything else by ``str``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | float):
        return plain_number(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def json_value(value: Any) -> Any:
    """``value`` for JSON: decimals as exact strings, times as ISO 8601 strings, numbers
    and booleans as themselves."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return cell(value)


def emit(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    fmt: OutputFormat = OutputFormat.table,
    *,
    right: Iterable[str] = (),
    no_wrap: Iterable[str] = (),
    empty: str | None = None,
) -> None:
    """Print a listing in ``fmt``: a rich table titled ``title`` (cells escaped, wrapped
        to the console's width; ``right`` columns right-aligned, ``no_wrap`` columns kept on one
    line while the others wrap), JSON lines or CSV on stdout.
        ``empty``: a line printed instead of an empty table (table format only)."""
    rows = list(rows)
    if fmt is OutputFormat.json:
        for row in rows:
            sys.stdout.write(
                json.dumps({c: json_value(v) for c, v in zip(columns, row, strict=True)}) + "\n"
            )
        sys.stdout.flush()
        return
    if fmt is OutputFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([cell(v) for v in row] for row in rows)
        sys.stdout.flush()
        return
    out = console()
    if not rows and empty is not None:
        out.print(escape(empty))
        return
    aligned, whole = set(right), set(no_wrap)
    table = Table(title=escape(title), box=None, pad_edge=False, header_style="bold underline")
    for name in columns:
        table.add_column(
            escape(name),
            justify="right" if name in aligned else "left",
            overflow="fold",
            no_wrap=name in whole,
        )
    for row in rows:
        table.add_row(*(escape(cell(v)) if v is not None else "[dim]NULL[/]" for v in row))
    out.print(table)
