"""Binary floats → exact decimal strings, for formats that store prices as doubles.

Rule, per value ``x`` (the store keeps 8 fractional digits, ``DECIMAL(18,8)``/``(28,8)``):

1. Take the shortest string that round-trips to ``x`` (Arrow's float→string cast, the same
   digits as Python's ``repr``). Any decimal with at most 15 significant digits survives a
   text→double→text trip unchanged, so when that string has at most 8 fractional digits it
   *is* the decimal the writer had (``39432.48`` stays ``39432.48``; ``format(x, ".8f")``
   would also work here but shows nothing more).
2. A longer string means ``x`` is not the nearest double of any short decimal: the writer
   did arithmetic on floats (``0.1 + 0.2`` → ``0.30000000000000004``; the nautilus test file
   holds ``0.00031099999999999997`` for a quantity of ``0.000311``). If rounding the exact
   binary value to 8 fractional digits moves it by at most 4 ulp, the difference is float
   noise and the rounded decimal is used (``0.000311``, ``0.3``).
3. Otherwise the value really has more digits than the store keeps (``1.5e-08``); it is
   passed on in plain positional form (``0.000000015``) and the store quarantines it rather
   than round a price silently.

Non-finite values (NaN, ±inf) and nulls become null (the store quarantines them as missing).
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import pyarrow as pa
import pyarrow.compute as pc

#: Fractional digits the store keeps for price and quantity.
STORE_SCALE = 8
_NOISE_ULPS = 4
_QUANT = Decimal(1).scaleb(-STORE_SCALE)


def float_to_decimal_str(x: float | None) -> str | None:
    """One double as an exact decimal string under the module's rule (``None`` for
    null/NaN/inf)."""
    if x is None or not math.isfinite(x):
        return None
    text = repr(float(x))
    if "e" not in text and "E" not in text:
        frac = text.partition(".")[2]
        if len(frac) <= STORE_SCALE:
            return _trim(text)
    with localcontext(prec=800):
        exact = Decimal(x)
        rounded = exact.quantize(_QUANT)
        if abs(exact - rounded) <= Decimal(math.ulp(x)) * _NOISE_ULPS:
            return _plain(rounded)
    return _plain(Decimal(text))


def floats_to_decimal_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A float64 array as exact decimal strings (see the module docstring).

    Vectorised for the common case (shortest form already short); only values that need
    rule 2 or 3 go through Python.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.float64())
    text = pc.cast(values, pa.string())
    # shortest text has at most STORE_SCALE fractional digits and no exponent
    short = pc.match_substring_regex(text, rf"^-?\d+(\.\d{{1,{STORE_SCALE}}})?$")
    finite = pc.is_finite(values)
    ok = pc.and_kleene(short, finite)
    if pc.all(pc.fill_null(ok, True)).as_py():
        return _trim_array(pc.if_else(finite, text, pa.scalar(None, pa.string())))
    pylist = values.to_pylist()
    oklist = ok.to_pylist()
    textlist = text.to_pylist()
    out = [
        (t if good else float_to_decimal_str(v)) if v is not None else None
        for v, good, t in zip(pylist, oklist, textlist, strict=True)
    ]
    return _trim_array(pa.array(out, pa.string()))


def _trim(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _trim_array(text: pa.Array) -> pa.Array:
    """Drop a ``.0`` style tail (``23.0`` → ``23``; ``0.50`` → ``0.5``)."""
    text = pc.replace_substring_regex(text, r"^(-?\d+\.\d*?)0+$", r"\1")
    return pc.replace_substring_regex(text, r"\.$", "")


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    return _trim(text)


#: Store column types of price and quantity (``sql/schema/001_ticks.sql``).
PRICE_TYPE = pa.decimal128(18, STORE_SCALE)
QUANTITY_TYPE = pa.decimal128(28, STORE_SCALE)


def with_decimal_columns(table: pa.Table) -> pa.Table:
    """``price``/``quantity`` decimal strings parsed into ``decimal128(18,8)`` /
    ``decimal128(28,8)`` by Arrow, when every value of the batch converts exactly.

    Arrow's cast refuses a value it would have to round ("would cause data loss"), one too
    large for the precision, and any non-number, so a converted column holds exactly the
    strings' values. If any value refuses, that column stays as strings and the store
    quarantines the offending rows with their reason. Done on the reader's thread, this
    takes the text→decimal parse off the store's insert.
    """
    for name, typ in (("price", PRICE_TYPE), ("quantity", QUANTITY_TYPE)):
        if name not in table.column_names:
            continue
        col = table.column(name)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            continue
        try:
            converted = pc.cast(col, typ)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        table = table.set_column(table.schema.get_field_index(name), name, converted)
    return table
