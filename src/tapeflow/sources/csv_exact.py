"""Streaming CSV reads with price/quantity parsed straight into exact decimals.

Arrow's CSV reader can convert a column directly to ``decimal128(p, s)`` in its parallel
parse, and refuses any value it would have to round ("Rescaling Decimal value would cause
data loss"), any value too large for the precision and any non-number. That is both the
fastest way to get exact decimals and an exactness check. Should a file hold one value the
store cannot keep exactly, the reader falls back: it reads the file again with those
columns as strings, skipping the rows already handed out, and the store then quarantines
the offending rows with their reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from tapeflow.sources.decimals import PRICE_TYPE, QUANTITY_TYPE

#: Opens the CSV from its start: (binary stream, function giving bytes consumed so far).
Opener = Callable[[], tuple[Any, Callable[[], int]]]


def exact_csv_batches(
    open_stream: Opener,
    read_options: pacsv.ReadOptions,
    column_types: dict[str, pa.DataType],
    include_columns: list[str],
    *,
    price: str,
    quantity: str,
) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Yield ``(record batch, position)``; ``price``/``quantity`` columns are
    ``decimal128(18,8)``/``decimal128(28,8)`` unless the file has a value that does not fit
    them exactly, in which case (from that point on) they are strings.

    Raises:
        pyarrow.ArrowInvalid: the CSV cannot be parsed even with string columns.
    """
    exact = dict(column_types) | {price: PRICE_TYPE, quantity: QUANTITY_TYPE}
    yielded = 0
    stream, position = open_stream()
    try:
        with stream:
            reader = pacsv.open_csv(
                stream,
                read_options=read_options,
                convert_options=pacsv.ConvertOptions(
                    column_types=exact, include_columns=include_columns
                ),
            )
            for batch in reader:
                yield batch, position()
                yielded += batch.num_rows
        return
    except pa.ArrowInvalid:
        pass  # a value that is not an exact decimal (or a malformed row): retry as text
    skip = yielded
    stream, position = open_stream()
    with stream:
        reader = pacsv.open_csv(
            stream,
            read_options=read_options,
            convert_options=pacsv.ConvertOptions(
                column_types=column_types,
                include_columns=include_columns,
                strings_can_be_null=False,
            ),
        )
        for batch in reader:
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            if skip:
                batch = batch.slice(skip)
                skip = 0
            yield batch, position()
