"""Position sizing by fixed fractional risk.

    balance       = account equity converted into the market's quote asset   (quote)
    risk amount   = balance × risk_per_trade                      (quote)
    risk quantity = risk amount ÷ |entry − stop|                  (base)
    margin cap    = min(balance × max_position_pct / 100, available)          (quote)
    cap quantity  = margin cap × leverage ÷ entry                 (futures)
                    margin cap ÷ entry                            (spot, leverage 1)
    quantity      = min(risk quantity, cap quantity), rounded DOWN to the amount step

where ``available`` is the free balance of the quote asset (spot: what a buy can spend;
futures: free margin). So a stop-out loses at most ``risk_per_trade`` of the equity (before
fees and slippage), no single position ties up more than ``max_position_pct`` of it as
margin, and no order needs more quote than the account holds free. The conversion of
equity into the quote asset (``ETH`` for XRP/ETH) is :mod:`tapeflow.execution.accounts`.
This is the fixed-fractional method (R. Vince, *The Mathematics of Money Management*,
1992; Van K. Tharp's "1 % risk" rule). Everything is exact :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tapeflow.config.execution import RiskSettings
from tapeflow.execution.markets import MarketRules

ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class SizeDecision:
    """The outcome of sizing.

    Attributes:
        quantity: order quantity (base/contracts), a multiple of the amount step; 0 when
            refused.
        notional: ``quantity × entry × contract_size`` (quote).
        risk_amount: ``balance × risk_per_trade`` (quote).
        capped: True when the max-position cap or the free balance, not the risk, set
            the size.
        refused: why no order can be placed (None when accepted).
    """

    quantity: Decimal
    notional: Decimal
    risk_amount: Decimal
    capped: bool = False
    refused: str | None = None

    @property
    def ok(self) -> bool:
        """True when an order of :attr:`quantity` may be placed."""
        return self.refused is None


def position_size(
    *,
    balance: Decimal,
    entry: Decimal,
    stop: Decimal,
    direction: str,
    risk: RiskSettings,
    market: MarketRules,
    available: Decimal | None = None,
) -> SizeDecision:
    """Size an entry; see the module docstring for the formula.

    Args:
        balance: the sizing basis in the market's quote asset (account equity converted
            at the current price).
        entry: expected entry price (quote).
        stop: protective stop price (quote); must be below entry for a long, above for a
            short.
        direction: ``"long"`` or ``"short"``.
        risk: the symbol's risk settings (``risk_per_trade``, ``max_position_pct``,
            ``leverage``).
        market: the market's rules (step, minimum quantity and notional).
        available: free balance of the quote asset (quote); None = not limited by it.

    Returns:
        A :class:`SizeDecision`; ``refused`` names the reason when the size is zero or below
        the exchange's minimum quantity or notional.
    """
    risk_amount = balance * risk.risk_per_trade

    def refuse(reason: str, quantity: Decimal = ZERO) -> SizeDecision:
        return SizeDecision(quantity, market.notional(quantity, entry), risk_amount, False, reason)

    if balance <= 0:
        return refuse(f"no equity to size from ({balance} {market.quote})")
    if available is not None and available <= 0:
        return refuse(f"no free balance ({available} {market.quote})")
    if entry <= 0 or stop <= 0:
        return refuse(f"entry {entry} and stop {stop} must be positive")
    if direction == "long" and stop >= entry:
        return refuse(f"long stop {stop} is not below entry {entry}")
    if direction == "short" and stop <= entry:
        return refuse(f"short stop {stop} is not above entry {entry}")
    if direction == "short" and not market.contract:
        return refuse(f"{market.key} is a spot market: cannot open a short")

    leverage = risk.leverage if market.contract else Decimal(1)
    risk_qty = risk_amount / (abs(entry - stop) * market.contract_size)
    margin = balance * risk.max_position_pct / HUNDRED
    if available is not None:
        margin = min(margin, available)
    cap_notional = margin * leverage
    cap_qty = cap_notional / (entry * market.contract_size)
    capped = cap_qty < risk_qty
    quantity = market.floor_amount(min(risk_qty, cap_qty))
    notional = market.notional(quantity, entry)
    if quantity <= 0:
        return refuse(
            f"size rounds to zero (risk quantity {risk_qty:.12g}, cap {cap_qty:.12g}, "
            f"step {market.amount_step})"
        )
    if quantity < market.min_amount:
        return refuse(f"quantity {quantity} below the minimum {market.min_amount}", quantity)
    if notional < market.min_notional:
        return refuse(
            f"notional {notional} {market.quote} below the minimum {market.min_notional}",
            quantity,
        )
    if market.max_amount is not None and quantity > market.max_amount:
        quantity = market.floor_amount(market.max_amount)
        notional = market.notional(quantity, entry)
        capped = True
    return SizeDecision(quantity, notional, risk_amount, capped, None)
