"""Process-wide configuration sections: store and app (status line, logs).

The ingest, execution, state and notify sections are :mod:`tapeflow.config.ingest`,
:mod:`~tapeflow.config.execution`, :mod:`~tapeflow.config.state` and
:mod:`~tapeflow.config.notify`, composed in :mod:`tapeflow.config.app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from tapeflow.config.base import Section


class StoreSettings(Section):
    """The per-symbol DuckDB tick store.

    Attributes:
        root: store root; a symbol's file is ``{root}/{exchange}/{market}/{symbol}/
            trading.duckdb``. Relative paths are resolved against the working directory.
        pool_limit: most symbol databases attached at once (1–10000, default 200).
        memory_limit: DuckDB memory limit for the whole store (the buffer pool of all attached
            files together), e.g. ``"192MB"`` (default), ``"1GB"``. The default keeps a
            process with 200 symbols under write load below 512 MB RSS; raise it for heavy
            analytics over long histories in the same process.
    """

    root: Path = Path("data")
    pool_limit: int = Field(200, ge=1, le=10_000)
    memory_limit: str = Field("192MB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")


class AppSettings(Section):
    """The running process.

    Attributes:
        status_interval_s: seconds between status lines (> 0, ≤ 3600; default 5).
        log_format: ``plain`` (human) or ``json`` (one JSON object per line).
        log_level: ``DEBUG`` … ``CRITICAL`` (``INFO``).
    """

    status_interval_s: float = Field(5.0, gt=0, le=3600)
    log_format: Literal["plain", "json"] = "plain"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
