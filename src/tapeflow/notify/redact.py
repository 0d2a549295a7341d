"""Keep secrets out of log lines and error text.

``python_http_client`` (under the sendgrid package) logs every request's headers at DEBUG,
``Authorization: Bearer <api key>`` included. :func:`protect_loggers` attaches a
:class:`RedactingFilter` to that logger and ours, which rewrites any record (message,
arguments and formatted traceback) so that registered secrets, bearer tokens and
SendGrid-shaped keys read ``[REDACTED]``.
"""

from __future__ import annotations

import logging
import re
import threading

REDACTED = "[REDACTED]"

_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s'\",}]+"),
    re.compile(r"SG\.[\w-]{8,}\.[\w-]{8,}"),  # SendGrid API key shape
)

_lock = threading.Lock()
_secrets: set[str] = set()


def add_secret(secret: str) -> None:
    """Register ``secret`` (e.g. an API key) for redaction everywhere in this process."""
    if secret:
        with _lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    """``text`` with every registered secret and token-shaped string replaced."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    text = _PATTERNS[0].sub(lambda m: m.group(1) + REDACTED, text)
    return _PATTERNS[1].sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts a record in place and always lets it through."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            # Format the traceback now, redacted, so no handler formats the raw one.
            record.exc_text = redact(self._formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


#: Loggers that may see the API key: the HTTP client under sendgrid, sendgrid, ours.
PROTECTED_LOGGERS = (
    "python_http_client",
    "python_http_client.client",
    "sendgrid",
    "tapeflow.notify",
)

_installed: set[str] = set()


def protect_loggers(names: tuple[str, ...] = PROTECTED_LOGGERS) -> None:
    """Attach one :class:`RedactingFilter` to each named logger (idempotent).

    A logger's filter sees every record created on that logger, before any handler
    (its own or an ancestor's), so the records never leave it unredacted.
    """
    with _lock:
        for name in names:
            if name not in _installed:
                logging.getLogger(name).addFilter(RedactingFilter())
                _installed.add(name)
