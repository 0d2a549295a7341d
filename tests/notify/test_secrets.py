"""No API key, secret or token ever reaches a log line or exception text.

Every logger is captured at DEBUG (python_http_client logs request headers, the bearer key
included, at that level) while the notifier goes through success, retried 5xx, a 401 whose
body echoes the key, a dead server, and an event whose text carries the key; then every
formatted record, every traceback and every error string we can reach is searched for the
key and for its distinctive parts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from tapeflow.config.notify import NotifySettings
from tapeflow.model.events import OrderFailed
from tapeflow.notify import Notifier
from tapeflow.notify.redact import REDACTED, RedactingFilter, add_secret, redact
from tapeflow.notify.sendgrid_mail import SendGridMailer, describe
from tests.notify.conftest import API_KEY
from tests.notify.events import BTC, all_events
from tests.servers.sendgrid import MailServer, Reply
from tests.support.firestore_emulator import free_port

KEY_PARTS = [API_KEY, API_KEY.split(".")[1], API_KEY.split(".")[2]]


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        return [self.format(r) for r in self.records]


@pytest.fixture
def capture_all() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    touched = ["python_http_client", "python_http_client.client", "sendgrid", "urllib3"]
    old = {name: logging.getLogger(name).level for name in touched}
    for name in touched:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)
    for name, level in old.items():
        logging.getLogger(name).setLevel(level)


def assert_clean(text: str) -> None:
    for part in KEY_PARTS:
        assert part not in text


def test_no_secret_in_any_log_line_or_error(
    capture_all: Capture, make_settings, mail_server: MailServer
) -> None:
    mail_server.script(
        Reply(202),
        Reply(500, '{"errors":[{"message":"internal"}]}'),
        Reply(202),
        Reply(
            401,
            '{"errors":[{"message":"The provided authorization grant is invalid, expired, or '
            f'revoked","received":"Authorization: Bearer {API_KEY}","key":"{API_KEY}"}}]}}',
        ),
    )
    errors: list[str] = []
    notifier = Notifier(make_settings())
    notifier.start()
    events = all_events()
    notifier.notify(events["signal"])  # 202
    notifier.flush()
    notifier.notify(events["circuit_breaker"])  # 500 then 202
    notifier.flush()
    notifier.notify(events["position_closed"])  # 401 echoing the key: not retried
    notifier.flush()
    # trading code that carelessly puts the key into an event's text
    notifier.notify(OrderFailed(key=BTC, client_order_id="c9", reason=f"auth {API_KEY}"))
    notifier.flush()
    notifier.stop()

    down = Notifier(make_settings(host=f"http://127.0.0.1:{free_port()}", max_attempts=2))
    down.start()
    down.notify(events["connection_lost"])
    down.flush()
    down.stop()

    # direct use of the mailer: the exception raised, and our description of it
    mailer = SendGridMailer(make_settings())
    mail_server.script(Reply(403, f'{{"errors":[{{"message":"bad key {API_KEY}"}}]}}'))
    with pytest.raises(Exception) as info:
        mailer.send("s", "b", "signal")
    errors += [describe(info.value), repr(info.value)]
    try:
        NotifySettings(enabled=True, api_key=API_KEY)
    except ValidationError as exc:
        errors.append(str(exc))

    assert notifier.snapshot()["sent"] == 3 and notifier.snapshot()["failed"] == 1
    assert down.snapshot()["failed"] == 1
    texts = capture_all.texts()
    # the dangerous records did exist, and were cleaned:
    headers = [t for t in texts if "HEADERS:" in t]
    assert len(headers) >= 5 and all(f"Bearer {REDACTED}" in t for t in headers)
    assert any("HTTP 401" in t and REDACTED in t for t in texts)
    assert any("Connection refused" in t for t in texts)
    assert any(f"auth {REDACTED}" in r.json["content"][0]["value"] for r in mail_server.requests)
    for text in [*texts, *errors, repr(notifier.settings), str(notifier.snapshot())]:
        assert_clean(text)
    # the mail itself did authenticate with the key (the one place it must go)
    assert all(r.headers["Authorization"] == f"Bearer {API_KEY}" for r in mail_server.requests)


def test_redacting_filter_cleans_tracebacks(capture_all: Capture) -> None:
    add_secret(API_KEY)
    log = logging.getLogger("test.secrets")
    log.addFilter(RedactingFilter())
    try:
        raise RuntimeError(f"request failed with headers {{'Authorization': 'Bearer {API_KEY}'}}")
    except RuntimeError:
        log.exception("failed for %s", API_KEY)
    [text] = [t for t in capture_all.texts() if t.startswith("test.secrets")]
    assert "Traceback" in text and "RuntimeError: request failed" in text
    assert_clean(text)


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abc.def-ghi",
        "{'Authorization': 'Bearer xyz'}",
        "key SG.abcdefghij.klmnopqrstuv used",
    ],
)
def test_token_shapes_are_redacted_even_if_unregistered(text: str) -> None:
    cleaned = redact(text)
    assert REDACTED in cleaned
    assert "abc.def-ghi" not in cleaned and "xyz'" not in cleaned
    assert "SG.abcdefghij" not in cleaned
