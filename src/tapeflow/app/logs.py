"""Process logging: plain text for people, or one JSON object per line for machines."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message"[, "exc"]}`` per record, UTC ISO-8601 times."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(fmt: str = "plain", level: str = "INFO") -> None:
    """Send tapeflow's logs to stderr in ``fmt`` (``plain`` or ``json``) at ``level``; ccxt's
    logger never below INFO (its DEBUG records carry API-key headers)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # ccxt's DEBUG records carry each request's headers and body (the X-MBX-APIKEY header, a
    # listen key): never below INFO, whatever the process level, so secrets stay out of logs.
    logging.getLogger("ccxt").setLevel(max(logging.INFO, root.level))
