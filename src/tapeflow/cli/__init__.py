"""The ``tapeflow`` command line (typer).

Each area registers its commands from its own module (``register(app)``), so this file only
composes them.
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

app = typer.Typer(
    help="tapeflow: exact per-symbol tick store, order-flow analytics, live ingest and trading."
    "\n\nExit codes: 0 ok, 1 runtime error, 2 usage or input error (reconcile: see its help).",
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


def _print_version(value: bool) -> None:
    if value:
        from tapeflow import __version__

        typer.echo(f"tapeflow {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options before any command (``--version``)."""


@app.command()
def version() -> None:
    """Print the tapeflow version."""
    _print_version(True)
