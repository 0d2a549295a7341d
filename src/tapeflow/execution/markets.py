"""Trading rules of one market: precision steps and minimums, in exact decimals.

:class:`MarketRules` is what sizing, the paper exchange and the ccxt adapter agree on. It
is built from a ccxt market (``exchange.markets[symbol]``), which ccxt derives from the
exchange's own rules (Binance ``exchangeInfo`` filters ``LOT_SIZE``, ``PRICE_FILTER``,
``NOTIONAL``/``MIN_NOTIONAL``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from tapeflow.model.symbols import SymbolKey

ZERO = Decimal(0)


def to_decimal(value: Any) -> Decimal | None:
    """An exact :class:`Decimal` from a string, int, Decimal or float (``repr`` of the float,
    which for exchange-given values is the decimal they were parsed from); ``None`` stays
    ``None``.

    Raises:
        ValueError: for a value that is not a number.
    """
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value))
    except ArithmeticError as exc:
        raise ValueError(f"not a number: {value!r}") from exc


@dataclass(frozen=True, slots=True)
class MarketRules:
    """Order rules of one market.

    Attributes:
        key: tapeflow symbol key (``binance/usdm/BTCUSDT``).
        ccxt_symbol: ccxt's unified symbol (``BTC/USDT:USDT``).
        base, quote: asset codes (``BTC``, ``USDT``).
        amount_step: quantity increment (base units, or contracts).
        price_tick: price increment (quote).
        min_amount: smallest quantity accepted.
        min_notional: smallest ``quantity × price × contract_size`` accepted (quote).
        max_amount: largest quantity, or None.
        contract: True for futures/perpetuals (margin and leverage), False for spot.
        contract_size: base units per contract (1 for Binance USD-M).
    """

    key: SymbolKey
    ccxt_symbol: str
    base: str
    quote: str
    amount_step: Decimal
    price_tick: Decimal
    min_amount: Decimal = ZERO
    min_notional: Decimal = ZERO
    max_amount: Decimal | None = None
    contract: bool = False
    contract_size: Decimal = Decimal(1)

    def floor_amount(self, quantity: Decimal) -> Decimal:
        """``quantity`` rounded DOWN to a multiple of :attr:`amount_step`."""
        steps = (quantity / self.amount_step).to_integral_value(rounding=ROUND_DOWN)
        return (steps * self.amount_step).quantize(self.amount_step)

    def notional(self, quantity: Decimal, price: Decimal) -> Decimal:
        """Quote value of ``quantity`` at ``price``."""
        return quantity * price * self.contract_size

    def check_order(self, quantity: Decimal, price: Decimal) -> str | None:
        """Why an order of ``quantity`` at ``price`` would be refused by the exchange's
        filters, or None if it passes."""
        if quantity <= 0:
            return f"quantity {quantity} is not positive"
        if quantity % self.amount_step != 0:
            return f"quantity {quantity} is not a multiple of the step {self.amount_step}"
        if quantity < self.min_amount:
            return f"quantity {quantity} below the minimum {self.min_amount}"
        if self.max_amount is not None and quantity > self.max_amount:
            return f"quantity {quantity} above the maximum {self.max_amount}"
        notional = self.notional(quantity, price)
        if notional < self.min_notional:
            return f"notional {notional} below the minimum {self.min_notional} {self.quote}"
        return None

    @classmethod
    def from_ccxt(
        cls, key: SymbolKey, market: dict[str, Any], *, precision_mode: int = 4
    ) -> MarketRules:
        """Rules from a ccxt market structure.

        Args:
            precision_mode: the exchange's ``precisionMode`` (ccxt ``TICK_SIZE`` = 4: the
                precision fields are step sizes; ``DECIMAL_PLACES`` = 2: they are digit
                counts).

        Raises:
            ValueError: if the market lacks amount or price precision.
        """
        precision = market.get("precision") or {}
        amount_p = to_decimal(precision.get("amount"))
        price_p = to_decimal(precision.get("price"))
        if amount_p is None or price_p is None:
            raise ValueError(f"{key}: market has no amount/price precision")
        if precision_mode != 4:  # DECIMAL_PLACES / SIGNIFICANT_DIGITS -> a step
            amount_p = Decimal(1).scaleb(-int(amount_p))
            price_p = Decimal(1).scaleb(-int(price_p))
        limits = market.get("limits") or {}
        amount_lim = limits.get("amount") or {}
        cost_lim = limits.get("cost") or {}
        return cls(
            key=key,
            ccxt_symbol=market["symbol"],
            base=market["base"],
            quote=market["quote"],
            amount_step=amount_p.normalize() if amount_p else amount_p,
            price_tick=price_p.normalize() if price_p else price_p,
            min_amount=to_decimal(amount_lim.get("min")) or ZERO,
            max_amount=to_decimal(amount_lim.get("max")),
            min_notional=to_decimal(cost_lim.get("min")) or ZERO,
            contract=bool(market.get("contract")),
            contract_size=to_decimal(market.get("contractSize")) or Decimal(1),
        )
