"""Settings of live ingest: which feeds, and how ticks are queued, batched and repaired.

:class:`IngestSettings` is the ``ingest:`` section (composed into the application config by
``tapeflow.config``); :class:`FeedSpec` is one entry of ``feeds:``. Until the config package
composes them, :class:`IngestFileConfig` reads a standalone YAML file::

    store: {root: data}
    feeds:
      - {exchange: binance, market: spot, symbols: [BTCUSDT, ETHUSDT]}
      - {exchange: binance, market: usdm, symbols: [BTCUSDT]}
    ingest: {batch_size: 100, flush_interval_s: 1.0}

Secrets never appear here: the REST API key (Binance ``historicalTrades`` needs one) is read
from the environment variable named by ``rest_api_key_env``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from tapeflow.config.base import Section
from tapeflow.config.errors import render_path
from tapeflow.config.sections import StoreSettings
from tapeflow.model.errors import TapeflowError
from tapeflow.model.symbols import InvalidSymbolError, SymbolKey
from tapeflow.venues import VENUES, Capability, VenueCapabilityError, markets_with, require

#: Feeds ingest can run: every (exchange, market) with a live feed in the venue registry
#: (:data:`tapeflow.venues.VENUES`): Binance spot and USD-M.
SUPPORTED_FEEDS: tuple[tuple[str, str], ...] = tuple(markets_with(Capability.LIVE_FEED))
_FEED_EXCHANGES = tuple(dict.fromkeys(e for e, _ in SUPPORTED_FEEDS))
_FEED_MARKETS = tuple(dict.fromkeys(m for _, m in SUPPORTED_FEEDS))


def _ws_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("ws://", "wss://")):
        raise ValueError("must start with ws:// or wss://")
    return value.rstrip("/") if value else value


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/") if value else value


#: An optional WebSocket base address (``ws://`` / ``wss://``, trailing ``/`` removed).
WsUrl = Annotated[str | None, AfterValidator(_ws_url)]
#: An optional HTTP base address (``http://`` / ``https://``, trailing ``/`` removed).
HttpUrl = Annotated[str | None, AfterValidator(_http_url)]


class FeedSpec(Section):
    """One live feed: an exchange market and its symbols.

    Attributes:
        exchange: a venue with a live feed (:data:`SUPPORTED_FEEDS`; ``"binance"``). A
            venue market the registry knows without a live feed (``bybit/linear``) is
            refused naming the missing capability.
        market: ``"spot"`` or ``"usdm"`` (USD-M perpetual futures).
        symbols: native symbols, upper case (``BTCUSDT``); at least one, no repeats.
        ws_url: replaces the exchange's WebSocket base address for this feed (e.g. a local
            test server ``ws://127.0.0.1:8765/spot``); the stream path is appended.
        rest_url: replaces the REST base address for this feed's gap recovery.
    """

    exchange: Literal[_FEED_EXCHANGES] = _FEED_EXCHANGES[0]  # type: ignore[valid-type]
    market: Literal[_FEED_MARKETS]  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _has_live_feed(cls, data: object) -> object:
        if isinstance(data, dict):
            exchange = data.get("exchange", _FEED_EXCHANGES[0])
            market = data.get("market")
            venue = VENUES.get(exchange) if isinstance(exchange, str) else None
            if venue is not None and isinstance(market, str) and market in venue.markets:
                try:
                    require(exchange, market, Capability.LIVE_FEED)
                except VenueCapabilityError as exc:
                    raise ValueError(str(exc)) from None
        return data

    symbols: tuple[str, ...] = Field(min_length=1)
    ws_url: WsUrl = None
    rest_url: HttpUrl = None

    @field_validator("symbols")
    @classmethod
    def _no_repeats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({s for s in value if value.count(s) > 1})
        if repeated:
            raise ValueError(f"symbols listed more than once: {', '.join(repeated)}")
        return value

    @model_validator(mode="after")
    def _valid_keys(self) -> Self:
        for s in self.symbols:
            try:
                SymbolKey(self.exchange, self.market, s)
            except InvalidSymbolError as exc:
                raise ValueError(str(exc)) from None
        return self

    @property
    def name(self) -> str:
        """``"binance/usdm"``."""
        return f"{self.exchange}/{self.market}"

    def symbol_keys(self) -> list[SymbolKey]:
        """The store keys of this feed's symbols."""
        return [SymbolKey(self.exchange, self.market, s) for s in self.symbols]


class IngestSettings(Section):
    """How live ticks are queued, written and repaired.

    Attributes:
        batch_size: flush a symbol's batch when it holds this many ticks (1–100000).
        flush_interval_s: ... or when its oldest tick has waited this long (s, > 0).
        queue_size: capacity of the bounded tick queue between the feed callbacks and the
            writer (ticks). When it is full, the feed waits (back-pressure, counted), never
            drops.
        max_batched: most ticks held in batches not yet written (≥ peak rate × flush
            interval, with room for slow writes). Past it the writer stops taking ticks
            until writes catch up, so the queue fills and the feed waits: a slow store
            pushes back instead of growing memory (~250 bytes per tick).
        write_concurrency: most store appends (of different symbols) in flight at once; one
            symbol never has more than one (1–64).
        status_interval_s: seconds between status lines (> 0).
        gap_grace_s: after an id jump inside the stream, wait this long for late
            (out-of-order) ticks before asking REST for what is still missing (s, ≥ 0).
        probe_timeout_s: after a (re)connect, a symbol with no tick within this time is
            repaired by a REST tail fetch from its last id (s, > 0).
        rest_base_url: base URL replacing every Binance REST host for gap recovery (keeps
            the paths ``/api/v3``, ``/fapi/v1``); None = the real exchange.
        ws_url: base WebSocket address replacing every feed's endpoint (a feed's own
            ``ws_url`` wins); ``{market}`` in it is replaced by the feed's market
            (``ws://127.0.0.1:8765/{market}``); None = the real exchange.
        rest_api_key_env: environment variable holding the Binance API key that
            ``historicalTrades`` requires (security type MARKET_DATA: key only, no
            signature). Without it, gaps are recorded as unfillable.
        rest_page_limit: trades per ``historicalTrades`` request (1–1000, Binance's max).
        rest_retries: attempts per REST request on network errors (≥ 1).
        rest_rate_limit: keep ccxt's client-side rate limiter on (Binance weights). Turn off
            only against a local server.
        rest_timeout_s: REST request timeout (s).
        reconnect_restored_timeout_s: longest wait, after a reconnect, for every symbol's
            repair before ``ConnectionRestored`` is published anyway (s).
        shutdown_timeout_s: on stop, how long running repairs may take before they are
            abandoned (their ledger rows stay ``detected`` and are retried at next start).
        feed_timeout_s: cryptofeed's no-message watchdog: reconnect a connection that has
            been silent this long (s).
    """

    batch_size: int = Field(100, ge=1, le=100_000)
    flush_interval_s: float = Field(1.0, gt=0, le=3600)
    queue_size: int = Field(100_000, ge=1, le=10_000_000)
    max_batched: int = Field(500_000, ge=1, le=50_000_000)
    write_concurrency: int = Field(2, ge=1, le=64)
    status_interval_s: float = Field(5.0, gt=0, le=3600)
    gap_grace_s: float = Field(1.0, ge=0, le=600)
    probe_timeout_s: float = Field(5.0, gt=0, le=3600)
    rest_base_url: HttpUrl = None
    ws_url: WsUrl = None
    rest_api_key_env: str = Field("BINANCE_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    rest_page_limit: int = Field(1000, ge=1, le=1000)
    rest_retries: int = Field(5, ge=1, le=100)
    rest_rate_limit: bool = True
    rest_timeout_s: float = Field(10.0, gt=0, le=600)
    reconnect_restored_timeout_s: float = Field(60.0, gt=0, le=3600)
    shutdown_timeout_s: float = Field(10.0, gt=0, le=600)
    feed_timeout_s: float = Field(120.0, gt=0, le=3600)

    def api_key(self) -> SecretStr | None:
        """The REST API key from the environment (never from a file), or None."""
        value = os.environ.get(self.rest_api_key_env, "")
        return SecretStr(value) if value else None


class IngestFileConfig(Section):
    """A standalone ingest configuration file: ``store``, ``feeds``, ``ingest``."""

    store: StoreSettings = StoreSettings()
    feeds: tuple[FeedSpec, ...] = Field(min_length=1)
    ingest: IngestSettings = IngestSettings()

    @model_validator(mode="after")
    def _no_symbol_twice(self) -> Self:
        seen: set[SymbolKey] = set()
        for feed in self.feeds:
            for key in feed.symbol_keys():
                if key in seen:
                    raise ValueError(f"{key} is configured in more than one feed")
                seen.add(key)
        return self


class IngestConfigError(TapeflowError, ValueError):
    """The ingest configuration file is missing, unreadable or invalid; the message names
    each offending key and the rule it breaks."""


def load_ingest_config(path: str | Path) -> IngestFileConfig:
    """Read and validate a standalone ingest YAML file.

    Raises:
        IngestConfigError: with one line per problem (``feeds[0].market: Input should be
            'spot' or 'usdm'``).
    """
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise IngestConfigError(f"{p}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise IngestConfigError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise IngestConfigError(f"{p}: expected a mapping with 'feeds' (and 'store', 'ingest')")
    try:
        return IngestFileConfig.model_validate(raw)
    except ValidationError as exc:
        lines = []
        errors = exc.errors()
        for err in errors:
            if err["type"] == "too_short" and any(
                e is not err and e["loc"][: len(err["loc"])] == err["loc"] for e in errors
            ):
                continue  # a list emptied by its own failing items: those are reported
            loc = render_path(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {loc or '(top level)'}: {msg}")
        raise IngestConfigError(
            f"{p}: invalid ingest configuration:\n" + "\n".join(lines)
        ) from None
