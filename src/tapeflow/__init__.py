"""tapeflow: order-flow analytics and trading engine for crypto markets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tapeflow.analytics.api import Analytics

__version__ = "0.1.0"


def open(root: str | Path = "data", read_only: bool = True, **store_options: Any) -> Analytics:
    """Open the tick store at ``root`` for analytics (candles, order flow, profiles, ...).

    See :func:`tapeflow.analytics.api.open`; imported lazily so ``import tapeflow`` stays
    light.
    """
    from tapeflow.analytics.api import open as open_analytics

    return open_analytics(root, read_only=read_only, **store_options)
