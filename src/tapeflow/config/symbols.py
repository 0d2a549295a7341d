"""Per-symbol configuration: identity, strategy, timeframes, risk and market profile.

``defaults:`` in the YAML is a :class:`SymbolSettings`; each entry of ``symbols:`` is deep
merged over it (see :mod:`tapeflow.config.loader`) and validated as a :class:`SymbolConfig`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Self

from pydantic import Field, field_validator, model_validator

from tapeflow.config.base import Section
from tapeflow.config.execution import RiskSettings
from tapeflow.config.strategy import StrategySettings
from tapeflow.config.timeframes import Timeframes
from tapeflow.model.symbols import (
    MARKETS,
    InvalidSymbolError,
    SymbolKey,
    normalize_symbol,
    validate_symbol,
)

#: The default longest quiet stretch (minutes) that a continuous candle series still fills
#: (see :mod:`tapeflow.analytics.segments`).
DEFAULT_MAX_QUIET_MINUTES = 60


class ProfileSettings(Section):
    """Market profile (volume by price) settings.

    Attributes:
        bucket_ticks: price bucket = this many exchange ticks (1–100000). A multiple of the
            tick size, never a number of decimals (wrong for both BTC and low-priced coins).
        tick_size: the exchange's price increment (quote); ``None`` = take it from the symbol
            database's ``symbol_meta.tick_size`` (or infer it from the stored prices).
        value_area_pct: share of volume in the value area, CBOT method (70).
    """

    bucket_ticks: int = Field(10, ge=1, le=100_000)
    tick_size: Decimal | None = Field(None, gt=0)
    value_area_pct: float = Field(70.0, gt=0, lt=100)


class CandleSettings(Section):
    """How the symbol's continuous candle series treat quiet stretches
    (:mod:`tapeflow.analytics.segments`).

    Attributes:
        max_quiet_minutes: the longest stretch without trades (1–10080 minutes, default 60)
            that still counts as normal trading: quiet candles inside it are filled flat at
            the previous close (as Binance klines are); a longer one — or any missing trade
            id — breaks the series, and the strategy warms up again after it. In whole
            candles: ``max_quiet_minutes // timeframe`` empty candles are filled.
    """

    max_quiet_minutes: int = Field(DEFAULT_MAX_QUIET_MINUTES, ge=1, le=10_080)

    @property
    def max_quiet(self) -> timedelta:
        """``max_quiet_minutes`` as a timedelta."""
        return timedelta(minutes=self.max_quiet_minutes)


class SymbolSettings(Section):
    """Everything a symbol can set; also the shape of ``defaults:``.

    Attributes:
        exchange: exchange id (``binance``, ``bybit``).
        market: market of that exchange (``spot``, ``usdm``, ``coinm``, ...); usually given per
            symbol, may come from ``defaults:``.
        enabled: a disabled symbol is validated but neither ingested nor traded.
        strategy / timeframes / risk / profile / candles: the sections of the same names.
    """

    exchange: str = "binance"
    market: str | None = None
    enabled: bool = True
    strategy: StrategySettings = StrategySettings()
    timeframes: Timeframes = Timeframes()
    risk: RiskSettings = RiskSettings()
    profile: ProfileSettings = ProfileSettings()
    candles: CandleSettings = CandleSettings()

    @field_validator("exchange")
    @classmethod
    def _known_exchange(cls, value: str) -> str:
        if value not in MARKETS:
            raise ValueError(f"unknown exchange {value!r}; known: {', '.join(sorted(MARKETS))}")
        return value

    @field_validator("market")
    @classmethod
    def _known_market(cls, value: str | None) -> str | None:
        known = sorted(set().union(*MARKETS.values()))
        if value is not None and value not in known:
            raise ValueError(f"unknown market {value!r}; known: {', '.join(known)}")
        return value


class SymbolConfig(SymbolSettings):
    """One configured symbol after inheritance: ``symbol`` value → ``defaults:`` → built-in.

    Attributes:
        symbol: the exchange's native symbol (``BTCUSDT``).

    Raises (via pydantic validation):
        ValueError: when exchange / market / symbol do not form a valid
            :class:`~tapeflow.model.symbols.SymbolKey`.
    """

    market: str  # required once merged
    symbol: str

    @field_validator("symbol", mode="before")
    @classmethod
    def _spelling(cls, value: object) -> object:
        """``btcusdt`` is ``BTCUSDT``, as in every command (one spelling of symbols)."""
        return normalize_symbol(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _valid_key(self) -> Self:
        try:
            validate_symbol(self.exchange, self.market, self.symbol)
        except InvalidSymbolError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def key(self) -> SymbolKey:
        """The symbol's :class:`~tapeflow.model.symbols.SymbolKey`."""
        return SymbolKey(self.exchange, self.market, self.symbol)
