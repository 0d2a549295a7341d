"""Load and validate a YAML configuration into an :class:`~tapeflow.config.app.AppConfig`.

Inheritance, per symbol and per key: the symbol's value → ``defaults:`` → the built-in
default of the model. Nested sections merge key by key (a symbol that sets only
``strategy.cascade.min_fast_imbalance`` keeps every other strategy threshold from
``defaults:`` and the built-ins); lists and scalars are replaced whole.

``symbols:`` is either a list of entries (each with ``symbol:`` plus ``exchange:`` /
``market:``, or ``key: binance/usdm/BTCUSDT``, or just the key as a string) or a mapping
keyed by ``exchange/market/SYMBOL``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tapeflow.config.app import AppConfig
from tapeflow.config.errors import ConfigError, Problem, problems_from, render_path
from tapeflow.config.secrets import find_secrets
from tapeflow.config.symbols import SymbolSettings
from tapeflow.model.symbols import InvalidSymbolError, SymbolKey

#: The configuration used when none is given (paper trading on embedded defaults).
DEFAULT_CONFIG = Path("configs/paper.yaml")


def live_key_env(exchange: str) -> tuple[str, str]:
    """Environment variables holding an exchange's API key and secret for live trading
    (``BINANCE_API_KEY`` / ``BINANCE_API_SECRET``; as read by the execution adapter)."""
    prefix = exchange.upper()
    return (f"{prefix}_API_KEY", f"{prefix}_API_SECRET")


_IDENTITY = ("exchange", "market", "symbol")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key repeated in one mapping."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file (safe loader, repeated keys refused).

    Raises:
        ConfigError: the file is missing or unreadable, or not valid YAML (with line/column).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem("", f"YAML syntax: {where}{what}")], str(path)) from None


def load_config(
    path: str | Path = DEFAULT_CONFIG, *, env: Mapping[str, str] | None = None
) -> AppConfig:
    """Load, merge and validate a configuration file.

    Args:
        path: YAML file (default ``configs/paper.yaml``).
        env: environment to check for live-trading keys (default ``os.environ``).

    Raises:
        ConfigError: listing every problem as ``path: rule``.
    """
    return parse_config(read_yaml(path), source=str(path), env=env)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: mappings merge recursively, anything else is replaced."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _has_path(node: Any, loc: tuple[str | int, ...]) -> bool:
    for part in loc:
        in_map = isinstance(node, Mapping) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_map or in_list):
            return False
        node = node[part]
    return True


def _symbol_entries(
    raw: Any, defaults: Mapping[str, Any], problems: list[Problem]
) -> list[tuple[str, dict[str, Any]]]:
    """Normalise ``symbols:`` into ``(label, entry)`` pairs with exchange/market/symbol keys."""
    if raw is None:
        return []
    items: list[tuple[str | None, Any, str]] = []  # (key text, entry, path if bad)
    if isinstance(raw, Mapping):
        items = [(str(k), v, f"symbols[{k}]") for k, v in raw.items()]
    elif isinstance(raw, list):
        for i, v in enumerate(raw):
            if isinstance(v, str):
                items.append((v, {}, f"symbols[{i}]"))
            elif isinstance(v, Mapping) and "key" in v:
                items.append(
                    (str(v["key"]), {k: x for k, x in v.items() if k != "key"}, f"symbols[{i}].key")
                )
            else:
                items.append((None, v, f"symbols[{i}]"))
    else:
        problems.append(
            Problem(
                "symbols", "must be a list of entries or a mapping keyed by exchange/market/SYMBOL"
            )
        )
        return []
    out: list[tuple[str, dict[str, Any]]] = []
    for i, (key_text, entry, where) in enumerate(items):
        if entry is None:
            entry = {}
        if not isinstance(entry, Mapping):
            problems.append(Problem(where, f"must be a mapping (got {type(entry).__name__})"))
            continue
        entry = dict(entry)
        if key_text is not None:
            label = key_text
            try:
                key = SymbolKey.parse(key_text)
            except InvalidSymbolError as exc:
                problems.append(Problem(where, str(exc)))
                continue
            for part in _IDENTITY:
                given = entry.get(part)
                if given is not None and given != getattr(key, part):
                    problems.append(
                        Problem(
                            f"symbols[{label}].{part}",
                            f"contradicts the key {key_text!r} (got {given!r})",
                        )
                    )
                entry[part] = getattr(key, part)
        else:
            builtin = {"exchange": SymbolSettings.model_fields["exchange"].default}
            parts = [entry.get(p, defaults.get(p, builtin.get(p))) for p in _IDENTITY]
            label = (
                "/".join(parts)
                if all(isinstance(p, str) for p in parts)
                else (entry["symbol"] if isinstance(entry.get("symbol"), str) else str(i))
            )
        out.append((label, entry))
    return out


def parse_config(
    raw: Any, *, source: str = "configuration", env: Mapping[str, str] | None = None
) -> AppConfig:
    """Validate an already parsed YAML document; see :func:`load_config`.

    Raises:
        ConfigError: listing every problem as ``path: rule``.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError([Problem("", "the top level must be a mapping of sections")], source)
    secrets = find_secrets(raw)
    if secrets:
        raise ConfigError(secrets, source)

    problems: list[Problem] = []
    defaults_raw = raw.get("defaults")
    defaults = dict(defaults_raw) if isinstance(defaults_raw, Mapping) else {}
    entries = _symbol_entries(raw.get("symbols"), defaults, problems)
    labels = [label for label, _ in entries]
    for label in {x for x in labels if labels.count(x) > 1}:
        problems.append(Problem(f"symbols[{label}]", "configured twice"))

    execution_raw = raw.get("execution")
    if isinstance(execution_raw, Mapping):
        for name in ("risk", "symbol_risk"):
            if name in execution_raw:
                problems.append(
                    Problem(
                        f"execution.{name}",
                        "risk is configured per symbol: put it under defaults.risk or "
                        "symbols[...].risk",
                    )
                )

    data = {k: v for k, v in raw.items() if k != "symbols"}
    data["symbols"] = [deep_merge(defaults, entry) for _, entry in entries]
    inherited: dict[str, tuple[str | int, ...]] = {}

    def path_of(loc: tuple[str | int, ...]) -> str | None:
        if not loc and any(p.rule == "configured twice" for p in problems):
            return None  # the model's duplicate check, already reported per symbol
        if len(loc) >= 2 and loc[0] == "symbols" and isinstance(loc[1], int):
            label, entry = entries[loc[1]]
            rest = loc[2:]
            path = f"symbols[{label}]" + ("." + render_path(rest) if rest else "")
            if rest and not _has_path(entry, rest) and _has_path(defaults, rest):
                inherited[path] = rest
            return path
        return render_path(loc)

    config: AppConfig | None = None
    try:
        config = AppConfig.model_validate(data)
    except ValidationError as exc:
        found = problems_from(exc, AppConfig, path_of)
        own = {(p.path, p.rule) for p in found}
        for p in found:
            rest = inherited.get(p.path)
            if rest is None:
                problems.append(p)
            elif ("defaults." + render_path(rest), p.rule) not in own:
                problems.append(Problem(p.path, f"{p.rule} (inherited from defaults)"))
    if not problems and config is not None:
        problems.extend(_live_mode_problems(config, os.environ if env is None else env))
    if problems:
        raise ConfigError(problems, source)
    assert config is not None
    return with_symbol_risk(config)


def with_symbol_risk(config: AppConfig) -> AppConfig:
    """``config`` whose ``execution.risk`` / ``execution.symbol_risk`` are the per-symbol
    risk settings, so the execution chain's ``risk_for(key)`` equals ``symbol(key).risk``."""
    execution = config.execution.model_copy(
        update={
            "risk": config.defaults.risk,
            "symbol_risk": {str(s.key): s.risk for s in config.symbols},
        }
    )
    return config.model_copy(update={"execution": execution})


def _live_mode_problems(config: AppConfig, env: Mapping[str, str]) -> list[Problem]:
    """Live orders need ``execution.mode: live`` *and* every traded exchange's keys in env."""
    if getattr(config.execution, "mode", "paper") != "live":
        return []
    missing: list[str] = []
    for exchange in sorted({s.exchange for s in config.enabled_symbols}):
        missing += [name for name in live_key_env(exchange) if not env.get(name)]
    if not missing:
        return []
    return [
        Problem(
            "execution.mode",
            "'live' places real orders and needs the exchange keys in the environment; "
            f"missing: {', '.join(missing)} (or set mode: paper)",
        )
    ]
