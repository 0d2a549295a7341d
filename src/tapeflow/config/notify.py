"""Settings of the e-mail notifier.

The SendGrid API key comes only from the environment variable ``SENDGRID_API_KEY`` (never
from a configuration file): a ``notify.api_key`` key in the configuration is an error.
"""

from __future__ import annotations

import os
import re
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from tapeflow.config.base import SecretSection
from tapeflow.model.notifications import Priority

API_KEY_ENV = "SENDGRID_API_KEY"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _api_key_from_env() -> SecretStr | None:
    value = os.environ.get(API_KEY_ENV, "").strip()
    return SecretStr(value) if value else None


class NotifySettings(SecretSection):
    """E-mail notifications through SendGrid.

    Attributes:
        enabled: send mail at all (off by default; when on, the key and both addresses
            are required).
        api_key: read from ``$SENDGRID_API_KEY`` when the settings are created; never
            printed (``SecretStr``), never serialised.
        from_address / from_name: the sender (a SendGrid-verified sender address).
        to_addresses: recipients (one personalization, all in ``to``).
        host: API base URL; override for a regional endpoint or a local test server.
        coalesce_window_s: seconds within which similar notifications merge (> 0).
        min_priority: least urgent priority still sent: ``P3`` sends everything, ``P1``
            only act-now mails (also accepts 1..3).
        subject_prefix: text after the ``[Pn]`` tag, e.g. the environment (``"live"``).
        http_timeout_s: per-request timeout, seconds.
        max_attempts: send attempts per mail (first try included) before giving up.
        retry_initial_s / retry_max_s: exponential back-off between attempts, seconds.
        queue_size: notifications waiting for the sender before new ones are dropped.
    """

    enabled: bool = False
    api_key: SecretStr | None = Field(default_factory=_api_key_from_env, exclude=True)
    from_address: str | None = None
    from_name: str = "tapeflow"
    to_addresses: tuple[str, ...] = ()
    host: str = "https://api.sendgrid.com"
    coalesce_window_s: float = Field(default=60.0, gt=0)
    min_priority: Priority = Priority.P3
    subject_prefix: str = "tapeflow"
    http_timeout_s: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)
    retry_initial_s: float = Field(default=1.0, ge=0)
    retry_max_s: float = Field(default=60.0, ge=0)
    queue_size: int = Field(default=1000, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _key_only_from_env(cls, data: Any) -> Any:
        if isinstance(data, dict) and "api_key" in data:
            raise ValueError(
                f"notify.api_key must not be configured; set the {API_KEY_ENV} environment "
                "variable instead (secrets never live in configuration files)"
            )
        return data

    @field_validator("min_priority", mode="before")
    @classmethod
    def _priority_name(cls, value: Any) -> Any:
        if isinstance(value, str) and value.upper() in Priority.__members__:
            return Priority[value.upper()]
        return value

    @field_validator("from_address")
    @classmethod
    def _check_from(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"notify.from_address {value!r} is not an e-mail address")
        return value

    @field_validator("to_addresses")
    @classmethod
    def _check_to(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if not _EMAIL.match(address):
                raise ValueError(f"notify.to_addresses: {address!r} is not an e-mail address")
        return value

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"notify.host {value!r} must start with https:// or http://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> NotifySettings:
        if self.enabled:
            missing = [
                name
                for name, ok in (
                    (f"{API_KEY_ENV} (environment)", self.api_key is not None),
                    ("notify.from_address", bool(self.from_address)),
                    ("notify.to_addresses", bool(self.to_addresses)),
                )
                if not ok
            ]
            if missing:
                raise ValueError(f"notify.enabled is true but {', '.join(missing)} not set")
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("notify.retry_max_s must be >= notify.retry_initial_s")
        return self
