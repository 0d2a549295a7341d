"""The whole configuration: :class:`AppConfig`."""

from __future__ import annotations

from typing import Self

from pydantic import model_validator

from tapeflow.config.base import Section
from tapeflow.config.execution import ExecutionSettings
from tapeflow.config.ingest import FeedSpec, IngestSettings
from tapeflow.config.notify import NotifySettings
from tapeflow.config.sections import AppSettings, StoreSettings
from tapeflow.config.state import StateSettings
from tapeflow.config.symbols import SymbolConfig, SymbolSettings
from tapeflow.model.symbols import SymbolKey


class AppConfig(Section):
    """A validated tapeflow configuration.

    Attributes:
        store / ingest / execution / state / notify / app: process-wide sections.
        defaults: the ``defaults:`` section as written (already merged into every symbol).
        symbols: every configured symbol, inheritance applied, in file order.

    Raises (via validation): ValueError when two entries name the same symbol.
    """

    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    execution: ExecutionSettings = ExecutionSettings()
    state: StateSettings = StateSettings()
    notify: NotifySettings = NotifySettings()
    app: AppSettings = AppSettings()
    defaults: SymbolSettings = SymbolSettings()
    symbols: tuple[SymbolConfig, ...] = ()

    @model_validator(mode="after")
    def _unique_symbols(self) -> Self:
        seen: set[SymbolKey] = set()
        for s in self.symbols:
            if s.key in seen:
                raise ValueError(f"symbol {s.key} is configured twice")
            seen.add(s.key)
        return self

    @property
    def enabled_symbols(self) -> tuple[SymbolConfig, ...]:
        """The symbols with ``enabled: true``."""
        return tuple(s for s in self.symbols if s.enabled)

    def feeds(self) -> tuple[FeedSpec, ...]:
        """The live feeds the enabled symbols need: one per (exchange, market), symbols in
        configuration order.

        Raises:
            pydantic.ValidationError: a market live ingest does not support (see
                :data:`tapeflow.config.ingest.SUPPORTED_FEEDS`, read from the venue
                registry; the message names the missing capability).
        """
        groups: dict[tuple[str, str], list[str]] = {}
        for s in self.enabled_symbols:
            groups.setdefault((s.exchange, s.market), []).append(s.symbol)
        return tuple(
            FeedSpec(exchange=ex, market=mk, symbols=tuple(syms))
            for (ex, mk), syms in groups.items()
        )

    def symbol(self, key: SymbolKey | str) -> SymbolConfig:
        """The configuration of one symbol.

        Raises:
            KeyError: if the symbol is not configured.
        """
        key = SymbolKey.parse(key) if isinstance(key, str) else key
        for s in self.symbols:
            if s.key == key:
                return s
        raise KeyError(f"symbol {key} is not in the configuration")
