"""``tapeflow chart``: the order-flow chart of one symbol as a PNG.

Same picture as ``notebooks/order_flow.ipynb``
(:func:`tapeflow.analytics.charts.render_chart`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from tapeflow.cli.errors import cli_errors, fail, message
from tapeflow.cli.options import RootOption, existing_root


def chart(
    symbol: Annotated[
        str, typer.Argument(help="BTCUSDT, or exchange/market/SYMBOL when ambiguous.")
    ],
    tf: Annotated[str, typer.Option("--tf", help="Candle timeframe: 1m 5m 15m 1h 4h.")] = "1m",
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("chart.png"),
    root: RootOption = Path("data"),
    start: Annotated[
        str | None, typer.Option("--start", help="First candle (ISO time, UTC).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="End, exclusive (ISO time, UTC).")
    ] = None,
    bars: Annotated[
        int, typer.Option("--bars", min=10, help="Candles to show when --start is not given.")
    ] = 180,
    bucket: Annotated[
        str | None,
        typer.Option("--bucket", help="Profile level size (quote); default: ~60 levels."),
    ] = None,
) -> None:
    """Draw candles with FVGs and supply/demand zones, CVD beneath and the volume profile
    (POC, VAH, VAL) beside price."""
    from tapeflow.analytics.api import open as open_analytics
    from tapeflow.analytics.charts import render_chart

    level = None
    if bucket is not None:
        try:
            level = Decimal(bucket)
        except InvalidOperation:
            raise typer.BadParameter(f"not a price: {bucket!r}", param_hint="--bucket") from None
    with cli_errors(), open_analytics(existing_root(root)) as analytics:
        try:
            path = render_chart(analytics, symbol, tf, start, end, out, bars=bars, bucket=level)
        except ValueError as exc:  # no candles in the range, a bad time: input
            raise fail(message(exc)) from None
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``chart`` to the ``tapeflow`` command line."""
    app.command("chart")(chart)
