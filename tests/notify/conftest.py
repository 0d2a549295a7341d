"""Fixtures: a local SendGrid-compatible HTTP server, a test API key in the environment, and
notifiers wired to that server through the real sendgrid client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tapeflow.config.notify import NotifySettings
from tapeflow.notify import Notifier
from tests.servers.sendgrid import MailServer

#: Shaped like a real SendGrid key; must never appear in a log line or exception text.
API_KEY = "SG.tapeflowTestKey_0123456789.aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789-_xyz"


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    return API_KEY


@pytest.fixture
def make_settings(api_key: str, mail_server: MailServer) -> Callable[..., NotifySettings]:
    def make(**overrides: Any) -> NotifySettings:
        base: dict[str, Any] = {
            "enabled": True,
            "from_address": "engine@tapeflow.dev",
            "from_name": "tapeflow paper",
            "to_addresses": ["ops@tapeflow.dev", "oncall@tapeflow.dev"],
            "host": mail_server.host,
            "subject_prefix": "paper",
            "coalesce_window_s": 60,
            "retry_initial_s": 0.01,
            "retry_max_s": 0.05,
            "http_timeout_s": 5,
        }
        base.update(overrides)
        return NotifySettings(**base)

    return make


@pytest.fixture
def make_notifier(
    make_settings: Callable[..., NotifySettings],
) -> Iterator[Callable[..., Notifier]]:
    """Started notifiers (stopped after the test)."""
    started: list[Notifier] = []

    def make(**overrides: Any) -> Notifier:
        notifier = Notifier(make_settings(**overrides))
        notifier.start()
        started.append(notifier)
        return notifier

    yield make
    for notifier in started:
        notifier.stop(timeout_s=10)
