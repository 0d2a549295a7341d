"""Exit codes and error messages, the same for the same error in every command.

Exit codes (documented in the README's commands section):

* ``0`` — done;
* ``1`` — runtime error: the work could not be done although the input was fine (a file
  held by another process, a store that failed, a damaged download);
* ``2`` — usage or input error: a bad option, a path that does not exist, an unknown or
  ambiguous symbol, an invalid configuration, a file whose format or symbol cannot be told,
  a query that is not read-only, a store whose files need ``tapeflow migrate`` first.
  Nothing was started. The trading commands (run, reconcile, positions, close, pause,
  resume, risk reset) also exit 2 when they refuse to act (exchange unreachable,
  reconciliation incomplete): nothing traded.

Every error is printed as one ``error: ...`` message on stderr, never a traceback.
``tapeflow reconcile`` keeps its own documented codes (``1`` = discrepancies resolved).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.markup import escape

from tapeflow.cli.console import console

OK, RUNTIME_ERROR, USAGE_ERROR = 0, 1, 2


def _usage_errors() -> tuple[type[BaseException], ...]:
    from tapeflow.analytics.errors import (
        AmbiguousSymbolError,
        BucketError,
        InvalidRangeError,
        ReadOnlyQueryError,
        UnknownTimeframeError,
    )
    from tapeflow.config import ConfigError
    from tapeflow.model.symbols import InvalidSymbolError
    from tapeflow.sources import SourceError
    from tapeflow.store import IdSpaceMismatchError, SchemaError, UnknownSymbolError

    return (
        SourceError,
        InvalidSymbolError,
        IdSpaceMismatchError,
        UnknownSymbolError,  # SymbolNotFoundError too
        AmbiguousSymbolError,
        ConfigError,
        UnknownTimeframeError,
        InvalidRangeError,
        BucketError,
        ReadOnlyQueryError,
        FileNotFoundError,
        SchemaError,  # the files need `tapeflow migrate` first
    )


def message(exc: BaseException) -> str:
    """The text of ``exc`` without the quotes ``KeyError`` adds."""
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return str(exc.args[0])
    return str(exc)


def exit_code(exc: BaseException) -> int:
    """:data:`USAGE_ERROR` for bad input (see the module docstring), else
    :data:`RUNTIME_ERROR`."""
    return USAGE_ERROR if isinstance(exc, _usage_errors()) else RUNTIME_ERROR


def fail(text: str, code: int = USAGE_ERROR) -> typer.Exit:
    """Print ``error: text`` on stderr (``text`` as data: no markup) and return the
    :class:`typer.Exit` to raise."""
    console(stderr=True).print(f"[bold red]error:[/] {escape(text)}")
    return typer.Exit(code)


@contextlib.contextmanager
def cli_errors(*runtime: type[BaseException]) -> Iterator[None]:
    """Turn the known errors raised inside the block into ``error: ...`` and an exit code:
    input errors (:func:`exit_code`) exit 2; ``runtime`` types, ``duckdb.Error``,
    ``RuntimeError`` (e.g. ``SchemaError``) and ``OSError`` exit 1. Anything else is a bug
    and keeps its traceback."""
    import duckdb

    failures: tuple[type[BaseException], ...] = (*runtime, duckdb.Error, RuntimeError, OSError)
    try:
        yield
    except typer.Exit:
        raise
    except _usage_errors() as exc:
        raise fail(message(exc), USAGE_ERROR) from None
    except failures as exc:
        raise fail(message(exc), RUNTIME_ERROR) from None
