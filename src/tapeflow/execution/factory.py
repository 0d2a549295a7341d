"""The exchange the settings ask for: the paper exchange (default) or the live ccxt adapter.

For paper trading the venue's *real* market rules are used (step, tick, minimum notional):
given by the caller, or loaded once through a keyless ccxt adapter — the public
exchangeInfo call only, no credentials read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from tapeflow.config.execution import ExecutionSettings
from tapeflow.execution.exchange import Exchange
from tapeflow.execution.markets import MarketRules
from tapeflow.execution.paper import PaperExchange
from tapeflow.execution.statefile import StateStore
from tapeflow.model.symbols import SymbolKey

if TYPE_CHECKING:
    from tapeflow.execution.ccxt_adapter import Credentials


async def create_exchange(
    settings: ExecutionSettings,
    store: StateStore,
    *,
    markets: Mapping[SymbolKey, MarketRules] | None = None,
    api_base_url: str | None = None,
    credentials: Credentials | None = None,
) -> Exchange:
    """An exchange for ``settings.mode``.

    Args:
        settings: venue, mode, fees/slippage (paper), retry/breaker/timeout (live).
        store: where the paper exchange keeps its account.
        markets: paper market rules; None loads the venue's public rules.
        api_base_url: another scheme+host for the venue's API (a local test server).
        credentials: live credentials; None reads them from the environment.

    Raises:
        CredentialsMissing: live mode without credentials. ValueError: unknown venue.
        TransientExchangeError / OrderRejected: loading public market rules failed.
    """
    from tapeflow.execution.ccxt_adapter import CcxtExchange, Credentials  # ccxt: slow import

    if settings.mode == "live":
        return CcxtExchange.create(
            settings.exchange,
            settings.market,
            credentials=credentials,
            api_base_url=api_base_url,
            timeout_ms=settings.request_timeout_ms,
            retry=settings.retry,
            breaker=settings.breaker,
        )
    if markets is None:
        public = CcxtExchange.create(
            settings.exchange,
            settings.market,
            credentials=Credentials(),
            require_credentials=False,
            api_base_url=api_base_url,
            timeout_ms=settings.request_timeout_ms,
            retry=settings.retry,
        )
        try:
            markets = await public.load_markets()
        finally:
            await public.close()
    return PaperExchange(
        f"{settings.exchange}/{settings.market}",
        markets,
        quote_asset=settings.quote_asset,
        starting_balances=settings.starting_balances,
        reference_prices=settings.reference_prices,
        fee_bps=settings.fee_bps,
        slippage_bps=settings.slippage_bps,
        leverage_for=lambda key: settings.risk_for(key).leverage,
        store=store,
    )
