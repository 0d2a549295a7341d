"""Accounts in several assets: the price of one asset in another, and the value of a set
of balances in the account currency.

An account holds balances per asset (``USDT: 10000, ETH: 5``) and is measured in one
*account currency* (``execution.quote_asset``, USDT by default). A pair quoted in another
asset (XRP/ETH) is sized in its quote asset, so equity and risk are converted at the
current price of that asset in the account currency.

Where a price comes from, first match wins (:func:`rate`):

1. the same asset: 1;
2. the **last trade** of a market of the venue pairing the two assets, either way round
   (ETH in USDT: ``ETHUSDT`` at its last trade; USDT in ETH: ``1 / ETHUSDT``) — live the
   engine's marks, paper the paper exchange's last prices (persisted across restarts);
3. a **reference price** from ``execution.reference_prices`` (price of one unit of the asset
   in the account currency; paper mode only, for replays of history and offline runs);
4. two steps through a market's quote asset (XRP in USDT = ``XRPETH`` × ETH in USDT).

Otherwise there is no price, and sizing refuses naming the market whose trade it needs
(:func:`missing_rate`). All arithmetic is exact :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from tapeflow.execution.markets import MarketRules
from tapeflow.model.orders import Balance
from tapeflow.model.symbols import SymbolKey

ONE = Decimal(1)
ZERO = Decimal(0)

#: Last trade price of a market, or None when none has been seen.
LastPrice = Callable[[SymbolKey], Decimal | None]


@dataclass(frozen=True, slots=True)
class Rate:
    """The price of one unit of ``asset`` in ``currency`` and where it came from.

    Attributes:
        asset, currency: asset codes (``ETH``, ``USDT``).
        price: ``currency`` per one ``asset`` (> 0).
        source: human-readable origin (``last trade of binance/spot/ETHUSDT``).
    """

    asset: str
    currency: str
    price: Decimal
    source: str


def _direct(
    asset: str,
    currency: str,
    markets: Iterable[MarketRules],
    last: LastPrice,
    reference: Mapping[str, Decimal],
    account: str,
) -> Rate | None:
    if asset == currency:
        return Rate(asset, currency, ONE, "same asset")
    inverse: Rate | None = None
    for m in markets:
        price = last(m.key) if {m.base, m.quote} == {asset, currency} else None
        if price is None or price <= 0:
            continue
        if m.base == asset:
            return Rate(asset, currency, price, f"last trade of {m.key} ({price})")
        inverse = inverse or Rate(asset, currency, ONE / price, f"1 / last trade of {m.key}")
    if inverse is not None:
        return inverse
    if currency == account and asset in reference:
        return Rate(asset, currency, reference[asset], f"execution.reference_prices.{asset}")
    if asset == account and currency in reference:
        return Rate(
            asset, currency, ONE / reference[currency], f"1 / execution.reference_prices.{currency}"
        )
    return None


def rate(
    asset: str,
    currency: str,
    markets: Iterable[MarketRules],
    last: LastPrice,
    reference: Mapping[str, Decimal] | None = None,
    account: str | None = None,
) -> Rate | None:
    """The price of one ``asset`` in ``currency`` (see the module docstring for the order
    of sources), or None when no source has it.

    Args:
        markets: the venue's markets (their base/quote and keys).
        last: last trade price of a market (None: no trade seen).
        reference: configured prices in ``account`` per unit of each asset.
        account: the account currency the reference prices are in (default ``currency``).
    """
    markets = list(markets)
    reference = reference or {}
    account = account or currency
    found = _direct(asset, currency, markets, last, reference, account)
    if found is not None:
        return found
    for m in markets:  # two steps: asset -> m.quote -> currency
        if m.base != asset or m.quote == currency:
            continue
        first = _direct(asset, m.quote, [m], last, {}, account)
        second = _direct(m.quote, currency, markets, last, reference, account)
        if first is not None and second is not None:
            return Rate(
                asset, currency, first.price * second.price, f"{first.source} × {second.source}"
            )
    return None


def missing_rate(asset: str, currency: str, markets: Iterable[MarketRules]) -> str:
    """Why there is no price of ``asset`` in ``currency``: names the market(s) whose trade
    would give it, and the configuration key that could."""
    pairs = [str(m.key) for m in markets if {m.base, m.quote} == {asset, currency}]
    where = (
        f"no trade of {' / '.join(pairs)} seen yet"
        if pairs
        else f"the venue has no {asset}/{currency} market"
    )
    return f"no price of {asset} in {currency}: {where} and no execution.reference_prices.{asset}"


class Account(Protocol):
    """What sizing asks of an account (the execution engine provides it)."""

    async def equity(self, balances: Mapping[str, Balance] | None = None) -> Decimal:
        """Account value in the account currency (live: from ``balances`` when given)."""
        ...

    def rate(self, asset: str, currency: str) -> Rate | None:
        """Price of one ``asset`` in ``currency`` (:func:`rate`), or None."""
        ...

    def missing_rate(self, asset: str, currency: str) -> str:
        """Why :meth:`rate` has no price (:func:`missing_rate`)."""
        ...

    def last_price(self, key: SymbolKey) -> Decimal | None:
        """The last trade price of a market (quote), or None."""
        ...


@dataclass(frozen=True, slots=True)
class Valuation:
    """Balances valued in one currency.

    Attributes:
        total: sum of every priced balance (``currency``).
        unpriced: assets held (non-zero) that have no price; they are not in ``total``.
    """

    total: Decimal
    unpriced: tuple[str, ...] = ()


def value(
    balances: Mapping[str, Decimal], currency: str, price: Callable[[str], Rate | None]
) -> Valuation:
    """``balances`` (asset → amount) valued in ``currency`` with ``price(asset)``.

    Returns:
        A :class:`Valuation`; assets without a price are listed in ``unpriced``.
    """
    total = ZERO
    unpriced = []
    for asset, amount in sorted(balances.items()):
        if not amount:
            continue
        r = price(asset)
        if r is None:
            unpriced.append(asset)
        else:
            total += amount * r.price
    return Valuation(total, tuple(unpriced))
