"""The ``tapeflow`` command line (typer).

Each area registers its commands from its own module (``register(app)``), so this file only
composes them.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    help="tapeflow: exact per-symbol tick store, order-flow analytics, live ingest and trading.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)

#: Modules under tapeflow.cli that contribute commands.
COMMAND_MODULES: tuple[str, ...] = (
    "store",
    "run",
    "ingest",
    "reconcile",
    "control",
    "analytics",
    "strategy",
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"tapeflow.cli.{_name}").register(app)


@app.command()
def version() -> None:
    """Print the tapeflow version."""
    from tapeflow import __version__

    typer.echo(__version__)
