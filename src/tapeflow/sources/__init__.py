"""tapeflow.sources: readers for historical trade formats and the import driver.

Every reader yields :class:`SourceBatch` objects whose ``table`` is in the store's
``RAW_TICK_SCHEMA``; :func:`import_paths` streams them into a
:class:`~tapeflow.store.TickStore`. Formats: Binance WebSocket captures
(:mod:`.ws_capture`), Binance public-data archives (:mod:`.binance_archive`), Tardis.dev
trades CSV (:mod:`.tardis`), ccxt JSON trade lists (:mod:`.ccxt_json`), Parquet trade tables
(:mod:`.parquet_trades`). :mod:`.download` fetches Binance archives.
"""

from tapeflow.sources.detect import FORMATS, Format, detect_format
from tapeflow.sources.importer import (
    FileResult,
    ImportSummary,
    SymbolCounts,
    import_paths,
    plan_import,
)
from tapeflow.sources.model import (
    DEFAULT_BATCH_ROWS,
    CorruptArchiveError,
    ImportOptions,
    SourceBatch,
    SourceError,
    SymbolResolutionError,
    UnknownFormatError,
)

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "FORMATS",
    "CorruptArchiveError",
    "FileResult",
    "Format",
    "ImportOptions",
    "ImportSummary",
    "SourceBatch",
    "SourceError",
    "SymbolCounts",
    "SymbolResolutionError",
    "UnknownFormatError",
    "detect_format",
    "import_paths",
    "plan_import",
]
