"""Configuration errors that name the key's path and the rule it breaks.

Pydantic's :class:`~pydantic.ValidationError` is turned into a list of :class:`Problem`
(``path``, ``rule``) lines such as::

    symbols[binance/usdm/BTCUSDT].strategy.cascade.min_fast_imbalance: must be > 0 (got -1)
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from tapeflow.model.errors import TapeflowError


@dataclass(frozen=True, slots=True)
class Problem:
    """One invalid key: its dotted path (``store.pool_limit``) and the rule, in words."""

    path: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}" if self.path else self.rule


class ConfigError(TapeflowError, ValueError):
    """The configuration cannot be used; ``problems`` lists every invalid key.

    The message starts with the source (file) and gives one ``path: rule`` line per problem.
    It never contains a secret: secret-looking keys are rejected by name only.
    """

    def __init__(self, problems: Sequence[Problem], source: str = "configuration") -> None:
        self.problems = tuple(problems)
        self.source = source
        lines = "\n".join(f"  {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"invalid {source} ({n} problem{'s' * (n != 1)}):\n{lines}")


def render_path(loc: Iterable[str | int]) -> str:
    """``("store", "pool_limit")`` → ``store.pool_limit``; ints become ``[i]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _got(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class reached by following ``loc`` from ``model`` (None if not a model)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            args = [a for a in typing.get_args(current) if a is not Ellipsis]
            current = args[0] if args else None
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    """``X | None`` → ``X``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "decimal": "a decimal number",
    "bool": "true or false",
    "string": "a string",
    "dict": "a mapping",
    "model": "a mapping",
    "tuple": "a list",
    "list": "a list",
    "path": "a path",
}


def describe(error: Mapping[str, Any], root: type[BaseModel] | None = None) -> str:
    """The rule an error dict from ``ValidationError.errors()`` breaks, in words."""
    kind: str = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    bounds = {
        "greater_than": (">", "gt"),
        "greater_than_equal": (">=", "ge"),
        "less_than": ("<", "lt"),
        "less_than_equal": ("<=", "le"),
    }
    if kind in bounds:
        op, name = bounds[kind]
        limit = ctx[name]
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return f"must be {op} {limit} (got {_got(value)})"
    if kind == "extra_forbidden":
        allowed = ""
        if root is not None:
            parent = _model_at(root, error["loc"][:-1])
            if parent is not None:
                allowed = f" (allowed: {', '.join(parent.model_fields)})"
        return f"unknown key{allowed}"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '?')} (got {_got(value)})"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')} (got {_got(value)})"
    if kind in ("value_error", "assertion_error"):
        msg = str(error["msg"])
        for prefix in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(prefix)
        return msg
    for suffix in ("_parsing", "_type"):
        if kind.endswith(suffix):
            word = _TYPE_WORDS.get(kind.removesuffix(suffix).removesuffix("_from_float"))
            if word:
                return f"must be {word} (got {_got(value)})"
    return f"{error['msg'].rstrip('.')} (got {_got(value)})"


def problems_from(
    exc: ValidationError,
    root: type[BaseModel],
    path_of: Callable[[tuple[str | int, ...]], str | None] = render_path,
) -> list[Problem]:
    """Turn a pydantic error into problems; ``path_of`` renders (or drops, with None) a loc."""
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        path = path_of(tuple(err["loc"]))
        if path is None:
            continue
        problem = Problem(path, describe(err, root))
        if problem not in out:
            out.append(problem)
    return out
