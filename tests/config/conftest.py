"""Helpers for configuration tests: write YAML text to a temp file and load it."""

from collections.abc import Callable
from pathlib import Path

import pytest

from tapeflow.config import AppConfig, ConfigError, load_config


@pytest.fixture
def load_yaml(tmp_path: Path) -> Callable[..., AppConfig]:
    """``load_yaml(text, env=None)`` → the AppConfig of that YAML text."""

    def load(text: str, env: dict[str, str] | None = None) -> AppConfig:
        path = tmp_path / "config.yaml"
        path.write_text(text)
        return load_config(path, env=env or {})

    return load


@pytest.fixture
def problems(load_yaml) -> Callable[..., dict[str, str]]:
    """``problems(text)`` → {path: rule} of the ConfigError that YAML raises."""

    def get(text: str, env: dict[str, str] | None = None) -> dict[str, str]:
        with pytest.raises(ConfigError) as info:
            load_yaml(text, env)
        return {p.path: p.rule for p in info.value.problems}

    return get
