"""NotifySettings: the key only from the environment, never shown; clear config errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tapeflow.config.notify import NotifySettings
from tapeflow.model.notifications import Priority
from tests.notify.conftest import API_KEY

ENABLED = {
    "enabled": True,
    "from_address": "engine@tapeflow.dev",
    "to_addresses": ["ops@tapeflow.dev"],
}


def test_key_comes_from_the_environment_and_is_never_shown(api_key: str) -> None:
    s = NotifySettings(**ENABLED)
    assert s.api_key.get_secret_value() == API_KEY
    for text in (repr(s), str(s), s.model_dump_json(), str(s.model_dump())):
        assert API_KEY not in text
    assert "api_key" not in s.model_dump()


def test_key_in_configuration_is_refused_without_echoing_it(api_key: str) -> None:
    with pytest.raises(ValidationError) as info:
        NotifySettings(**ENABLED, api_key="SG.from-a-yaml-file.0123456789abcdef")
    text = str(info.value)
    assert "SENDGRID_API_KEY environment variable" in text
    assert "SG.from-a-yaml-file" not in text and API_KEY not in text


def test_enabled_requires_key_and_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    with pytest.raises(ValidationError, match=r"SENDGRID_API_KEY \(environment\), "):
        NotifySettings(enabled=True, from_address="a@b.io")
    with pytest.raises(ValidationError, match="notify.to_addresses not set"):
        monkeypatch.setenv("SENDGRID_API_KEY", "k")
        NotifySettings(enabled=True, from_address="a@b.io")
    assert NotifySettings().enabled is False  # disabled needs nothing


def test_field_rules_name_the_key(api_key: str) -> None:
    with pytest.raises(ValidationError, match="notify.from_address 'nobody' is not an e-mail"):
        NotifySettings(**{**ENABLED, "from_address": "nobody"})
    with pytest.raises(ValidationError, match="notify.to_addresses: 'x@' is not"):
        NotifySettings(**{**ENABLED, "to_addresses": ["ok@a.io", "x@"]})
    with pytest.raises(ValidationError, match="notify.host 'ftp://x' must start"):
        NotifySettings(**{**ENABLED, "host": "ftp://x"})
    with pytest.raises(ValidationError, match="coalesce_window_s"):
        NotifySettings(**{**ENABLED, "coalesce_window_s": 0})
    with pytest.raises(ValidationError, match="Extra inputs"):
        NotifySettings(**{**ENABLED, "to": ["ops@tapeflow.dev"]})


@pytest.mark.parametrize(("given", "expected"), [("P1", Priority.P1), ("p2", Priority.P2), (3, 3)])
def test_min_priority_accepts_names_and_numbers(given: object, expected: Priority) -> None:
    assert NotifySettings(min_priority=given).min_priority == expected
