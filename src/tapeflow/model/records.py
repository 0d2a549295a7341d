"""Position and order records kept by a position store, their statuses and transitions.

These are the documents of the data model (see ``docs/state.md``): every store (embedded or
Firestore) persists exactly these fields. Prices and quantities are exact decimals (stored
as strings; a ``float`` is refused so binary rounding never reaches the books); times are
timezone-aware and normalised to UTC (a naive datetime is refused).

``revision`` is maintained by the stores: every checked write (``transition``,
``update_order``) stores ``revision + 1`` inside the same transaction, so a lost update is
detectable; ``put_*`` stores a record as given.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from tapeflow.model.errors import TapeflowError

_RESERVED_ID = re.compile(r"^__.*__$")


def check_id(kind: str, value: str) -> str:
    """Validate a document id (position id, client order id, engine-state name).

    The rule is Firestore's document-id rule, applied by every store so both behave alike:
    non-empty, at most 1500 bytes UTF-8, no ``/``, not ``.`` or ``..``, not ``__name__``.

    Raises:
        ValueError: naming ``kind`` and the rule broken.
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"{kind} must be a non-empty string, got {value!r}")
    if "/" in value:
        raise ValueError(f"{kind} {value!r} must not contain '/'")
    if value in {".", ".."} or _RESERVED_ID.match(value):
        raise ValueError(f"{kind} {value!r} is reserved (., .., __name__)")
    if len(value.encode()) > 1500:
        raise ValueError(f"{kind} is longer than 1500 bytes")
    return value


PositionStatus = Literal["pending", "open", "closing", "closed"]
OrderStatus = Literal["new", "sent", "open", "partially_filled", "filled", "canceled", "rejected"]

POSITION_STATUSES: tuple[str, ...] = get_args(PositionStatus)
ORDER_STATUSES: tuple[str, ...] = get_args(OrderStatus)

#: Allowed position state transitions (from -> to). ``pending -> closed`` covers an entry
#: that never filled; ``open -> open`` covers quantity/stop updates; ``closing -> open``
#: covers an exit order that failed or filled only partly.
POSITION_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"open", "closed"}),
    "open": frozenset({"open", "closing", "closed"}),
    "closing": frozenset({"closing", "open", "closed"}),
    "closed": frozenset(),
}

#: Positions that still hold (or may soon hold) exposure: everything but ``closed``.
ACTIVE_POSITION_STATUSES: frozenset[str] = frozenset({"pending", "open", "closing"})

#: Allowed order status changes (from -> to). An order only moves forward: ``new`` (intent
#: recorded, not yet sent) -> ``sent`` (request on the wire) -> ``open`` / ``partially_filled``
#: -> a terminal state (``filled``, ``canceled``, ``rejected``). Any non-terminal state may jump
#: ahead (a market order goes ``sent -> filled``; after a crash, reconciliation may find a
#: ``new`` order filled or absent). A terminal state only accepts a same-state update (e.g.
#: the final fee).
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset(ORDER_STATUSES),
    "sent": frozenset({"sent", "open", "partially_filled", "filled", "canceled", "rejected"}),
    "open": frozenset({"open", "partially_filled", "filled", "canceled", "rejected"}),
    "partially_filled": frozenset({"partially_filled", "filled", "canceled"}),
    "filled": frozenset({"filled"}),
    "canceled": frozenset({"canceled"}),
    "rejected": frozenset({"rejected"}),
}

#: Orders that may still be (or become) live on the exchange.
OPEN_ORDER_STATUSES: frozenset[str] = frozenset({"new", "sent", "open", "partially_filled"})
TERMINAL_ORDER_STATUSES: frozenset[str] = frozenset({"filled", "canceled", "rejected"})


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _refuse_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError(
            "a float is not an exact amount; pass a Decimal or a decimal string "
            "(e.g. Decimal(str(x)) for a value that arrived as float)"
        )
    return value


def _to_utc(value: datetime) -> datetime:
    value = value.astimezone(UTC)
    # Plain datetime (Firestore hands back a DatetimeWithNanoseconds subclass).
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


#: An exact decimal amount (price, quantity, fee, P&L); floats are refused.
Amount = Annotated[Decimal, BeforeValidator(_refuse_float)]
#: A timezone-aware instant, normalised to UTC (microsecond resolution).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
#: A record id usable as a document id in every store (see :func:`check_id`).
RecordId = Annotated[str, AfterValidator(lambda v: check_id("id", v))]


class Position(BaseModel):
    """One position in one symbol (``symbol`` is ``"exchange/market/SYMBOL"``).

    ``quantity`` is the absolute base quantity held (``direction`` gives the sign);
    prices are quote per base unit; ``realized_pnl`` and ``fees`` are in quote currency.
    """

    model_config = ConfigDict(extra="forbid")

    position_id: RecordId
    symbol: str = Field(min_length=1)
    direction: Literal["long", "short"]
    status: PositionStatus = "pending"
    quantity: Amount = Field(default=Decimal(0), ge=0)
    entry_price: Amount | None = Field(default=None, gt=0)
    stop_price: Amount | None = Field(default=None, gt=0)
    trailing_distance_pct: Amount | None = Field(default=None, ge=0)
    target_price: Amount | None = Field(default=None, gt=0)
    entry_client_order_id: str | None = None
    exit_client_order_id: str | None = None
    exit_price: Amount | None = Field(default=None, gt=0)
    realized_pnl: Amount | None = None
    fees: Amount = Decimal(0)
    close_reason: str | None = None
    opened_at: UtcDatetime | None = None
    closed_at: UtcDatetime | None = None
    created_at: UtcDatetime = Field(default_factory=utcnow)
    updated_at: UtcDatetime = Field(default_factory=utcnow)
    revision: int = Field(default=0, ge=0)


class Order(BaseModel):
    """One order, keyed by its deterministic client order id.

    ``quantity`` and ``filled`` are base quantities; ``price``, ``stop_price`` and
    ``average_price`` quote per base; ``fee`` in quote currency.
    """

    model_config = ConfigDict(extra="forbid")

    client_order_id: RecordId
    symbol: str = Field(min_length=1)
    position_id: RecordId | None = None
    purpose: Literal["entry", "exit", "stop", "other"] = "entry"
    side: Literal["buy", "sell"]
    order_type: Literal["market", "limit", "stop_market", "stop_limit"] = "market"
    quantity: Amount = Field(gt=0)
    price: Amount | None = Field(default=None, gt=0)
    stop_price: Amount | None = Field(default=None, gt=0)
    status: OrderStatus = "new"
    exchange_order_id: str | None = None
    filled: Amount = Field(default=Decimal(0), ge=0)
    average_price: Amount | None = Field(default=None, gt=0)
    fee: Amount = Decimal(0)
    error: str | None = None
    created_at: UtcDatetime = Field(default_factory=utcnow)
    updated_at: UtcDatetime = Field(default_factory=utcnow)
    revision: int = Field(default=0, ge=0)


class InvalidTransitionError(TapeflowError, ValueError):
    """A status change that :data:`POSITION_TRANSITIONS` / :data:`ORDER_TRANSITIONS` does
    not allow, or a status other than the one the caller expected (a lost race)."""


class RecordExistsError(TapeflowError, ValueError):
    """``create_position`` / ``create_order`` found a record with that id already stored."""


#: Fields a checked update may not set through ``**changes`` (the store owns them).
_PROTECTED = frozenset({"status", "revision", "updated_at", "created_at"})


def _statuses(value: str | Collection[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset({value}) if isinstance(value, str) else frozenset(value)


def apply_position_transition(
    current: Position,
    to: PositionStatus,
    changes: dict[str, Any],
    *,
    expect: PositionStatus | Collection[PositionStatus] | None = None,
    now: datetime | None = None,
) -> Position:
    """The record after moving ``current`` to status ``to`` with field ``changes``.

    Pure: every store calls it between its transactional read and write. Sets
    ``opened_at`` on entering ``open`` and ``closed_at`` on entering ``closed`` (unless
    given or already set), bumps ``revision`` and ``updated_at``.

    Raises:
        InvalidTransitionError: ``current.status -> to`` is not allowed, or ``expect`` is
            given and ``current.status`` is not in it.
        ValueError: ``changes`` names a protected field (``position_id``, ``status``,
            ``revision``, ``created_at``, ``updated_at``).
        pydantic.ValidationError: a change is not a valid field value.
    """
    bad = (_PROTECTED | {"position_id"}) & changes.keys()
    if bad:
        raise ValueError(f"transition cannot set {sorted(bad)}; the store maintains them")
    expected = _statuses(expect)
    if expected is not None and current.status not in expected:
        raise InvalidTransitionError(
            f"position {current.position_id}: expected status {sorted(expected)}, "
            f"found {current.status!r}"
        )
    if to not in POSITION_TRANSITIONS.get(current.status, frozenset()):
        raise InvalidTransitionError(
            f"position {current.position_id}: {current.status!r} -> {to!r} is not allowed "
            f"(allowed: {sorted(POSITION_TRANSITIONS.get(current.status, ()))})"
        )
    now = now or utcnow()
    data = current.model_dump()
    data.update(changes)
    if to == "open" and data.get("opened_at") is None:
        data["opened_at"] = now
    if to == "closed" and data.get("closed_at") is None:
        data["closed_at"] = now
    data.update(status=to, revision=current.revision + 1, updated_at=now)
    return Position.model_validate(data)


def apply_order_update(
    current: Order,
    changes: dict[str, Any],
    *,
    expect: OrderStatus | Collection[OrderStatus] | None = None,
    now: datetime | None = None,
) -> Order:
    """The record after applying ``changes`` (which may include a new ``status``) to
    ``current``. Pure, like :func:`apply_position_transition`.

    Raises:
        InvalidTransitionError: the status change is not in :data:`ORDER_TRANSITIONS`, or
            ``expect`` is given and ``current.status`` is not in it.
        ValueError: ``changes`` names ``client_order_id``, ``revision``, ``created_at`` or
            ``updated_at``.
        pydantic.ValidationError: a change is not a valid field value.
    """
    bad = ((_PROTECTED - {"status"}) | {"client_order_id"}) & changes.keys()
    if bad:
        raise ValueError(f"update_order cannot set {sorted(bad)}; the store maintains them")
    expected = _statuses(expect)
    if expected is not None and current.status not in expected:
        raise InvalidTransitionError(
            f"order {current.client_order_id}: expected status {sorted(expected)}, "
            f"found {current.status!r}"
        )
    to = changes.get("status", current.status)
    if to not in ORDER_TRANSITIONS.get(current.status, frozenset()):
        raise InvalidTransitionError(
            f"order {current.client_order_id}: {current.status!r} -> {to!r} is not allowed "
            f"(allowed: {sorted(ORDER_TRANSITIONS.get(current.status, ()))})"
        )
    data = current.model_dump()
    data.update(changes)
    data.update(revision=current.revision + 1, updated_at=now or utcnow())
    return Order.model_validate(data)


def status_filter(value: str | Collection[str] | None, allowed: tuple[str, ...]) -> list[str]:
    """Normalise a ``status=`` filter argument to a sorted list (empty = no filter).

    Raises:
        ValueError: a status not in ``allowed``.
    """
    statuses = _statuses(value)
    if statuses is None:
        return []
    unknown = statuses - set(allowed)
    if unknown:
        raise ValueError(f"unknown status {sorted(unknown)}; expected one of {list(allowed)}")
    if not statuses:
        raise ValueError("status filter is empty; pass None for no filter")
    return sorted(statuses)
