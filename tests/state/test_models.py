"""Pure logic of the state records and their encoding (no store involved)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tapeflow.model.records import (
    ORDER_TRANSITIONS,
    POSITION_TRANSITIONS,
    TERMINAL_ORDER_STATUSES,
    Order,
    Position,
    apply_position_transition,
    status_filter,
)
from tapeflow.state.codec import decimal_text, decode_state, encode_state

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def test_amounts_refuse_floats_and_non_finite_values() -> None:
    with pytest.raises(ValidationError, match="float is not an exact amount"):
        Position(position_id="p", symbol="s", direction="long", quantity=0.1)
    with pytest.raises(ValidationError, match="finite"):
        Position(position_id="p", symbol="s", direction="long", quantity="NaN")
    with pytest.raises(ValidationError, match="greater than 0"):
        Order(client_order_id="o", symbol="s", side="buy", quantity=Decimal(0))
    pos = Position(position_id="p", symbol="s", direction="long", quantity="0.10")
    assert pos.quantity.as_tuple() == Decimal("0.10").as_tuple()


def test_times_must_be_aware_and_are_normalised_to_utc() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Position(position_id="p", symbol="s", direction="long", opened_at=datetime(2024, 1, 1))
    cet = timezone(timedelta(hours=1))
    pos = Position(
        position_id="p",
        symbol="s",
        direction="long",
        opened_at=datetime(2024, 1, 1, 13, tzinfo=cet),
    )
    assert pos.opened_at == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert pos.opened_at.tzinfo is UTC


@pytest.mark.parametrize("bad", ["a/b", ".", "..", "__id__", ""])
def test_record_ids_follow_the_document_id_rule(bad: str) -> None:
    with pytest.raises(ValidationError):
        Position(position_id=bad, symbol="s", direction="long")
    with pytest.raises(ValidationError):
        Order(client_order_id=bad, symbol="s", side="buy", quantity=Decimal(1))


def test_transition_tables_are_closed_and_terminal_states_final() -> None:
    assert POSITION_TRANSITIONS["closed"] == frozenset()
    for targets in POSITION_TRANSITIONS.values():
        assert targets <= POSITION_TRANSITIONS.keys()
    for status in TERMINAL_ORDER_STATUSES:
        assert ORDER_TRANSITIONS[status] == {status}
    for source, targets in ORDER_TRANSITIONS.items():
        assert targets <= ORDER_TRANSITIONS.keys()
        assert "new" not in targets or source == "new"  # never back to "not sent"


def test_transition_keeps_given_times_and_stamps_missing_ones() -> None:
    pending = Position(position_id="p", symbol="s", direction="short", created_at=T0)
    now = T0 + timedelta(minutes=5)
    opened = apply_position_transition(pending, "open", {}, now=now)
    assert (opened.opened_at, opened.updated_at, opened.revision) == (now, now, 1)
    closed_at = T0 + timedelta(minutes=7)
    closed = apply_position_transition(
        opened, "closed", {"closed_at": closed_at}, now=T0 + timedelta(minutes=9)
    )
    assert closed.closed_at == closed_at and closed.opened_at == now
    assert pending.status == "pending" and pending.revision == 0  # input untouched


def test_status_filter() -> None:
    assert status_filter(None, ("a", "b")) == []
    assert status_filter("b", ("a", "b")) == ["b"]
    assert status_filter(("b", "a", "a"), ("a", "b")) == ["a", "b"]
    with pytest.raises(ValueError, match="unknown status"):
        status_filter("c", ("a", "b"))


decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None)


@given(decimals)
def test_decimal_text_round_trips_digits_and_exponent(value: Decimal) -> None:
    text = decimal_text(value)
    assert Decimal(text).as_tuple() == value.as_tuple()


def test_decimal_text_prefers_plain_notation() -> None:
    assert decimal_text(Decimal("1E-8")) == "0.00000001"
    assert decimal_text(Decimal("64123.400")) == "64123.400"
    assert decimal_text(Decimal("1E+3")) == "1E+3"


state_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | decimals
    | st.datetimes(timezones=st.just(UTC)).map(lambda d: d.replace(fold=0)),  # fold: no-op in UTC
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(min_size=1).filter(lambda k: not k.startswith("$")), inner, max_size=4
        )
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(min_size=1).filter(lambda k: k[0] != "$"), state_values))
def test_state_encoding_round_trips_through_json(value: dict) -> None:
    encoded = encode_state(value, native_datetimes=False)
    decoded = decode_state(json.loads(json.dumps(encoded, allow_nan=False)))
    assert decoded == value
    assert repr(decoded) == repr(value)  # same types and Decimal exponents, not just ==
