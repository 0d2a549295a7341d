"""The rich console every command prints through."""

from __future__ import annotations

import os

from rich.console import Console


def console(stderr: bool = False) -> Console:
    """A console sized to the terminal (or ``$COLUMNS``); when output is not a terminal
    (a pipe, a log, CI) wide enough that tables are not squeezed into 80 columns.

    Emoji codes are never expanded (``:x:`` in data stays ``:x:``); markup is ours only:
    data goes through :func:`tapeflow.cli.output.cell` / ``rich.markup.escape``.
    """
    out = Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out = Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False, width=160)
    return out
