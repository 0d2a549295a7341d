"""Options every command shares: the store root and where state lives.

The store root is, in order: ``--root``, ``$TAPEFLOW_ROOT``, the configuration's
``store.root`` (commands that read a configuration), ``data``. State files (the embedded
position store, which also holds the paper account) are relative to that root unless the
configuration gives an absolute path (:func:`tapeflow.state.opening.state_path`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tapeflow.cli.errors import fail

if TYPE_CHECKING:
    from tapeflow.config import AppConfig

ROOT_HELP = (
    "Store root folder: one DuckDB file per symbol under {root}/{exchange}/{market}/{SYMBOL}/"
)

#: ``--root`` for commands without a configuration (default ``data``).
RootOption = Annotated[
    Path, typer.Option("--root", envvar="TAPEFLOW_ROOT", help=ROOT_HELP, show_default=True)
]

#: ``--root`` for commands that read a configuration (default: its ``store.root``).
ConfigRootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        envvar="TAPEFLOW_ROOT",
        help=ROOT_HELP + " (default: the configuration's store.root).",
        show_default=False,
    ),
]


def existing_root(root: Path) -> Path:
    """``root`` if it is a folder.

    Raises:
        typer.Exit: code 2, ``error: no tick store at ROOT (set --root or TAPEFLOW_ROOT)``.
    """
    if not Path(root).is_dir():
        raise fail(f"no tick store at {root} (set --root or TAPEFLOW_ROOT)")
    return Path(root)


def existing_paths(paths: list[Path] | None) -> None:
    """Refuse before anything starts if an input path does not exist.

    Raises:
        typer.Exit: code 2, ``error: no such file or folder: PATH[, PATH...]``.
    """
    missing = [str(p) for p in paths or () if not Path(p).exists()]
    if missing:
        raise fail(f"no such file or folder: {', '.join(missing)}")


def load_app_config(config: Path | None, root: Path | None = None) -> AppConfig:
    """The validated configuration (default ``configs/paper.yaml``), its ``store.root``
    replaced by ``root`` when given (``--root`` / ``$TAPEFLOW_ROOT``).

    Raises:
        typer.Exit: code 2, ``error: <the file>: <every invalid key and its rule>``.
    """
    from tapeflow.config import DEFAULT_CONFIG, ConfigError, load_config

    path = config or DEFAULT_CONFIG
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if root is not None:
        cfg = cfg.model_copy(update={"store": cfg.store.model_copy(update={"root": Path(root)})})
    return cfg


def default_root(config: Path | None, root: Path | None) -> Path:
    """The store root of a reading command that also takes ``--config``: ``--root`` /
    ``$TAPEFLOW_ROOT``, else the configuration's ``store.root`` (``--config``, or
    ``configs/paper.yaml`` when it exists), else ``data``."""
    from tapeflow.config import DEFAULT_CONFIG

    if root is not None:
        return Path(root)
    if config is None and not DEFAULT_CONFIG.exists():
        return Path("data")
    return load_app_config(config).store.root
