"""Execution errors and the scrubbing that keeps secrets out of them.

Every error raised by an exchange adapter is one of these, with a message that is safe to
log: request signatures, API keys and secrets are removed (ccxt puts the signed URL and the
response body into its exception text).

Classification (what may be retried):

* :class:`TransientExchangeError` — network failure, timeout, rate limit (HTTP 429/418),
  exchange unavailable (5xx, "status unknown" codes). Retried with backoff.
* :class:`OrderRejected` — the exchange refused the request for good: invalid order,
  insufficient funds, bad credentials, unknown symbol. Never retried.
* :class:`OrderStatusUnknown` — an order request may have reached the exchange but no
  answer came back and lookups failed too: the order must be looked up by client order id
  before anything is sent again.
* :class:`CircuitOpenError` — the adapter's circuit breaker is open; nothing was sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tapeflow.model.errors import TapeflowError


class ExecutionError(TapeflowError):
    """Base of execution errors; ``str(err)`` is safe to log."""


class ExchangeRequestError(ExecutionError):
    """A request to an exchange failed.

    Attributes:
        kind: short class of failure (``network``, ``timeout``, ``rate_limit``,
            ``unavailable``, ``invalid_order``, ``insufficient_funds``, ``auth``,
            ``not_found``, ``duplicate``, ``rejected``).
        code: the exchange's own error code when it gave one (Binance ``-2010``), else None.
        retry_after_s: server's ``Retry-After`` hint in seconds, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.retry_after_s = retry_after_s


class TransientExchangeError(ExchangeRequestError):
    """Network, timeout, rate-limit or exchange-unavailable failure: may be retried."""


class OrderRejected(ExchangeRequestError):
    """A permanent refusal (invalid order, insufficient funds, auth, ...): never retried."""


class OrderNotFound(OrderRejected):
    """The exchange has no order with the given id."""


class DuplicateClientOrderId(OrderRejected):
    """The exchange already has an open order with this client order id."""


class OrderStatusUnknown(ExecutionError):
    """An order may or may not exist on the exchange; look it up before resending.

    Attributes:
        client_order_id: the order's client order id.
    """

    def __init__(self, message: str, *, client_order_id: str) -> None:
        super().__init__(message)
        self.client_order_id = client_order_id


class CircuitOpenError(ExecutionError):
    """The circuit breaker of ``scope`` is open; the request was not sent."""

    def __init__(self, scope: str, retry_in_s: float) -> None:
        super().__init__(f"circuit breaker {scope} is open; next trial in {retry_in_s:.1f}s")
        self.scope = scope
        self.retry_in_s = retry_in_s


class CredentialsMissing(ExecutionError):
    """Live trading needs API credentials that the environment does not provide."""


_SCRUB_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # signed query strings / bodies
    (re.compile(r"(?i)(signature=)[^&\s\"']+"), r"\1***"),
    # header dumps, JSON or repr style
    (re.compile(r"(?i)(x-mbx-apikey['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+"), r"\1***"),
    (
        re.compile(
            r"(?i)((?:api[-_]?key|secret|private[-_]?key|password)['\"]?\s*[:=]\s*['\"]?)"
            r"[^'\"\s,&}]+"
        ),
        r"\1***",
    ),
)


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with request signatures, API-key headers and the given secret values
    replaced by ``***``. Secrets shorter than 4 characters are not searched for (they
    would match ordinary text)."""
    out = str(text)
    for value in secrets:
        if value and len(value) >= 4:
            out = out.replace(value, "***")
    for pattern, repl in _SCRUB_PATTERNS:
        out = pattern.sub(repl, out)
    return out


_CODE = re.compile(r"\"code\"\s*:\s*\"?(-?\d+)")


def exchange_error_code(text: str) -> int | None:
    """The first ``"code": -NNNN`` found in an error text (Binance's JSON error body)."""
    m = _CODE.search(text or "")
    return int(m.group(1)) if m else None
