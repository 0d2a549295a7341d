"""Per-symbol risk settings: the execution package's definition, re-exported so that the
configuration and the execution chain validate exactly the same fields."""

from __future__ import annotations

from tapeflow.execution.settings import DEFAULT_TRAILING_PCT, AssetClass, RiskSettings

__all__ = ["DEFAULT_TRAILING_PCT", "AssetClass", "RiskSettings"]
