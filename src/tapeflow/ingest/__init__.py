"""Live ingest: cryptofeed raw-trade feeds -> bounded queue -> batch writer -> tick store,
with gap recovery over REST (ccxt) and connection events on the bus.

Entry points: :class:`IngestService` (run inside an event loop), the settings models
:class:`IngestSettings` / :class:`FeedSpec`, and ``tapeflow ingest --config FILE``
(:mod:`tapeflow.cli.ingest`).
"""

from tapeflow.config.ingest import (
    FeedSpec,
    IngestConfigError,
    IngestFileConfig,
    IngestSettings,
    load_ingest_config,
)
from tapeflow.ingest.service import IngestService
from tapeflow.ingest.sink import FeedStats
from tapeflow.ingest.writer import WriterFailed

__all__ = [
    "FeedSpec",
    "FeedStats",
    "IngestConfigError",
    "IngestFileConfig",
    "IngestService",
    "IngestSettings",
    "WriterFailed",
    "load_ingest_config",
]
