"""The files tapeflow ships beside its code: the SQL of ``sql/`` and the market-rule snapshots
of ``configs/markets/``. Every module that needs one asks here; nothing else locates them.

The repository's top-level folders are the source of truth. A built wheel carries them
inside the package (``pyproject.toml``, ``[tool.hatch.build.targets.wheel]``):

============================  =========================
in the repository             in an installed wheel
============================  =========================
``sql/schema/*.sql``          ``tapeflow/sql/schema/``
``sql/analytics/*.sql``       ``tapeflow/sql/analytics/``
``configs/markets/*.yaml``    ``tapeflow/markets/``
============================  =========================

An editable install (``uv sync``) or a checkout's ``src/`` on ``sys.path`` has no such
copies: the package is ``src/tapeflow`` and its resources are the top-level folders of that
checkout, so an edit there takes effect on the next start without a rebuild. Everything is
found through :func:`importlib.resources.files`, so it is read wherever the package was
imported from; a file added to one of these folders is picked up without any listing.

Returned objects are :class:`~importlib.resources.abc.Traversable` (``.name``,
``.read_text()``, ``.iterdir()``, ``/``); a :class:`pathlib.Path` is one too.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

#: The two SQL folders: ``schema`` (numbered table migrations applied to every symbol file)
#: and ``analytics`` (views and macros defined once per process).
SqlKind = Literal["schema", "analytics"]
SQL_KINDS: tuple[SqlKind, ...] = ("schema", "analytics")

_VENUE = re.compile(r"^[a-z0-9_]+$")


def _resource_folder(in_package: str, in_checkout: tuple[str, ...]) -> Traversable:
    """``tapeflow/{in_package}`` of an installed wheel, else ``{checkout}/{in_checkout}``
    when the package is imported from a checkout's ``src/tapeflow``.

    Raises:
        FileNotFoundError: neither exists (an installation without its data files).
    """
    package = files("tapeflow")
    packaged = package / in_package
    if packaged.is_dir():
        return packaged
    looked = [str(packaged)]
    if isinstance(package, Path) and package.parent.name == "src":
        checkout = package.parent.parent.joinpath(*in_checkout)
        if checkout.is_dir():
            return checkout
        looked.append(str(checkout))
    raise FileNotFoundError(
        f"tapeflow's {'/'.join(in_checkout)}/ folder is missing (looked in "
        f"{' and '.join(looked)}); the installation is incomplete: reinstall tapeflow"
    )


def sql_folder(kind: SqlKind) -> Traversable:
    """The folder of ``sql/{kind}/`` (``kind``: ``schema`` or ``analytics``), as shipped
    with the code that runs (see the module docstring for where that is).

    Raises:
        ValueError: ``kind`` is not one of :data:`SQL_KINDS`.
        FileNotFoundError: the installation has no such folder.
    """
    if kind not in SQL_KINDS:
        raise ValueError(f"sql folder kind must be one of {', '.join(SQL_KINDS)}, not {kind!r}")
    return _resource_folder("sql", ("sql",)) / kind


def sql_files(folder: Traversable) -> tuple[Traversable, ...]:
    """Every ``*.sql`` file directly in ``folder`` (e.g. :func:`sql_folder`'s), ordered by
    file name; a new file is picked up as soon as it is there. Names are not checked here
    (:func:`tapeflow.store.migrations.load_sql_files` does)."""
    found = (f for f in folder.iterdir() if f.is_file() and f.name.endswith(".sql"))
    return tuple(sorted(found, key=lambda f: f.name))


def market_snapshot(venue: str) -> Traversable:
    """The market-rule snapshot of ``venue`` (``configs/markets/{venue}.yaml``: per market
    and symbol the base and quote assets, price tick, amount step, minimum amount and
    notional), which the paper exchange uses when the venue's rules cannot be fetched.

    Raises:
        ValueError: ``venue`` is not a plain lower-case name (``binance``).
        FileNotFoundError: no snapshot for ``venue`` (naming the ones there are).
    """
    if not _VENUE.match(venue):
        raise ValueError(f"venue must be a lower-case name such as 'binance', not {venue!r}")
    folder = _resource_folder("markets", ("configs", "markets"))
    snapshot = folder / f"{venue}.yaml"
    if not snapshot.is_file():
        have = sorted(
            f.name.removesuffix(".yaml") for f in folder.iterdir() if f.name.endswith(".yaml")
        )
        raise FileNotFoundError(
            f"no market-rule snapshot for venue {venue!r} in {folder} "
            f"(there are: {', '.join(have) or 'none'})"
        )
    return snapshot
