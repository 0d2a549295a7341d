"""Streaming CSV reads with price/quantity parsed straight into exact decimals, and rows that
cannot be parsed set aside for quarantine instead of failing the file.

Arrow's CSV reader can convert a column directly to ``decimal128(p, s)`` in its parallel
parse, and refuses any value it would have to round ("Rescaling Decimal value would cause
data loss"), any value too large for the precision and any non-number. That is both the
fastest way to get exact decimals and an exactness check. Should a file hold one value the
reader cannot convert (a decimal the store cannot keep exactly, an id or time that is not
an integer), the reader falls back: it reads the file again with every column as text,
skipping the rows already handed out; rows whose integer or boolean cells do not parse are
set aside with the reason, price/quantity stay text and the store quarantines inexact ones.

Rows with the wrong number of cells (ragged rows) are skipped by Arrow's
``ParseOptions.invalid_row_handler`` and set aside with their raw line, in both passes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tapeflow.sources.decimals import PRICE_TYPE, QUANTITY_TYPE

#: Opens the CSV from its start: (binary stream, function giving bytes consumed so far).
Opener = Callable[[], tuple[Any, Callable[[], int]]]

#: A refused row: (the raw record, the reason), as ``store.quarantine_records`` takes them.
Rejected = tuple[str, str]

_INTEGER = r"^\s*[+-]?[0-9]{1,18}\s*$"  # 18 digits always fit int64
_BOOLEAN = ("true", "false", "1", "0")


class _RaggedRows:
    """The ``invalid_row_handler``: records each row with the wrong number of cells (raw
    text and reason) and tells Arrow to skip it. Arrow may call it from its threads."""

    def __init__(self, skip_first: int = 0) -> None:
        self._lock = threading.Lock()
        self._rows: list[Rejected] = []
        self._skip = skip_first  # already reported by an earlier pass over the same file
        self.seen = 0

    def __call__(self, row: Any) -> str:
        with self._lock:
            self.seen += 1
            if self._skip:
                self._skip -= 1
            else:
                self._rows.append(
                    (
                        row.text,
                        f"CSV row has {row.actual_columns} cells, expected {row.expected_columns}",
                    )
                )
        return "skip"

    def drain(self) -> list[Rejected]:
        with self._lock:
            rows, self._rows = self._rows, []
        return rows


def exact_csv_batches(
    open_stream: Opener,
    read_options: pacsv.ReadOptions,
    column_types: dict[str, pa.DataType],
    include_columns: list[str],
    *,
    price: str,
    quantity: str,
) -> Iterator[tuple[pa.RecordBatch, int, list[Rejected]]]:
    """Yield ``(record batch, position, rejected rows)``. ``price``/``quantity`` columns are
    ``decimal128(18,8)``/``decimal128(28,8)`` unless the file has a value that does not fit
    them exactly, in which case (from that point on) they are strings. ``rejected``: rows
    set aside since the previous batch (ragged rows with their raw line; rows whose
    ``int64``/``bool`` cells do not parse, as their cells joined by commas), each with the
    reason; a last batch may be empty and carry only rejected rows.

    Raises:
        pyarrow.ArrowInvalid: the CSV cannot be read at all (e.g. a broken quote).
    """
    exact = dict(column_types) | {price: PRICE_TYPE, quantity: QUANTITY_TYPE}
    yielded = 0
    ragged = _RaggedRows()
    stream, position = open_stream()
    empty: pa.RecordBatch | None = None
    try:
        with stream:
            reader = pacsv.open_csv(
                stream,
                read_options=read_options,
                parse_options=pacsv.ParseOptions(invalid_row_handler=ragged),
                convert_options=pacsv.ConvertOptions(
                    column_types=exact, include_columns=include_columns
                ),
            )
            for batch in reader:
                empty = batch.slice(0, 0)
                yield batch, position(), ragged.drain()
                yielded += batch.num_rows
            rest = ragged.drain()
            if rest:
                yield empty if empty is not None else _empty(reader.schema), position(), rest
        return
    except pa.ArrowInvalid:
        pass  # a value that does not convert: retry as text, rows checked one by one
    yield from _text_batches(
        open_stream,
        read_options,
        column_types,
        include_columns,
        skip=yielded,
        ragged=_RaggedRows(skip_first=ragged.seen - len(ragged.drain())),
    )


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)


def _text_batches(
    open_stream: Opener,
    read_options: pacsv.ReadOptions,
    column_types: dict[str, pa.DataType],
    include_columns: list[str],
    *,
    skip: int,
    ragged: _RaggedRows,
) -> Iterator[tuple[pa.RecordBatch, int, list[Rejected]]]:
    """The second pass of :func:`exact_csv_batches`: every column as text."""
    columns = list(read_options.column_names) or list(column_types)
    stream, position = open_stream()
    with stream:
        reader = pacsv.open_csv(
            stream,
            read_options=read_options,
            parse_options=pacsv.ParseOptions(invalid_row_handler=ragged),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()),
                include_columns=columns,
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
            good, rejected = _typed(batch, column_types, include_columns)
            yield good, position(), ragged.drain() + rejected
        rest = ragged.drain()
        if rest:
            yield _typed(_empty(reader.schema), column_types, include_columns)[0], position(), rest


def _typed(
    batch: pa.RecordBatch, column_types: dict[str, pa.DataType], include: list[str]
) -> tuple[pa.RecordBatch, list[Rejected]]:
    """``batch`` (all text) with its ``int64``/``bool`` columns converted; rows whose cells
    do not convert are returned as rejected with the first offending column named."""
    table = pa.Table.from_batches([batch])
    ok_by_column: dict[str, pa.ChunkedArray] = {}
    for name in include:
        kind = column_types.get(name, pa.string())
        if pa.types.is_integer(kind):
            ok_by_column[name] = pc.match_substring_regex(table[name], _INTEGER)
        elif pa.types.is_boolean(kind):
            ok_by_column[name] = pc.is_in(pc.utf8_lower(table[name]), pa.array(_BOOLEAN))
    rejected: list[Rejected] = []
    if ok_by_column:
        ok = None
        for mask in ok_by_column.values():
            ok = mask if ok is None else pc.and_(ok, mask)
        if not pc.all(ok).as_py():
            bad = table.filter(pc.invert(ok))
            oks = {n: m.filter(pc.invert(ok)).to_pylist() for n, m in ok_by_column.items()}
            for i, row in enumerate(bad.to_pylist()):
                name = next(n for n, flags in oks.items() if not flags[i])
                wanted = "an integer" if pa.types.is_integer(column_types[name]) else "true/false"
                rejected.append(
                    (",".join(row.values()), f"{name} {json.dumps(row[name])} is not {wanted}")
                )
            table = table.filter(ok)
    arrays = []
    for name in include:
        kind = column_types.get(name, pa.string())
        col = table[name]
        if pa.types.is_integer(kind):
            col = pc.cast(pc.utf8_trim_whitespace(col), kind)
        elif pa.types.is_boolean(kind):
            col = pc.is_in(pc.utf8_lower(col), pa.array(["true", "1"]))
        arrays.append(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
    return pa.RecordBatch.from_arrays(arrays, names=include), rejected
