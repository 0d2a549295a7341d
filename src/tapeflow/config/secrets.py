"""Secrets never live in configuration files.

API keys, secrets, passwords and tokens are read from the environment only. A YAML key that
looks like one (``api_key``, ``secret``, ``sendgrid_api_key``, ``password``, ``token``, …)
or a value shaped like a known credential (a SendGrid ``SG.…`` key) is refused, naming the
key (never the value) and the environment variable to use instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from tapeflow.config.errors import Problem, render_path

#: A key whose name is (or ends in) one of these words is secret-like.
SECRET_KEY = re.compile(
    r"^(?:.*[_\-])?(?:api[_\-]?key|api[_\-]?secret|secret|secret[_\-]?key|private[_\-]?key|"
    r"password|passwd|passphrase|token|access[_\-]?token|credentials?)$",
    re.IGNORECASE,
)
#: Values shaped like real credentials.
SECRET_VALUE = re.compile(r"^SG\.[\w\-]{16,}\.[\w\-]{16,}$")

#: Where each kind of secret comes from instead.
ENV_HINTS: dict[str, str] = {
    "execution": "BINANCE_API_KEY / BINANCE_API_SECRET",
    "notify": "SENDGRID_API_KEY",
    "state": "GOOGLE_APPLICATION_CREDENTIALS",
}


def _walk(
    node: Any, loc: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Any, Any]]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield loc, k, v
            yield from _walk(v, (*loc, str(k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, (*loc, i))


def find_secrets(raw: Any) -> list[Problem]:
    """Every secret-like key or value in the raw YAML tree, as problems (values never shown).

    Returns:
        One :class:`~tapeflow.config.errors.Problem` per offending key, in document order.
    """
    problems = []
    for loc, key, value in _walk(raw):
        full = (*loc, str(key))
        path = render_path(full)
        if len(full) >= 2 and full[0] == "symbols":  # symbols[binance/usdm/BTCUSDT].secret
            path = f"symbols[{full[1]}]" + "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in full[2:]
            )
        section = str(loc[0]) if loc else str(key)
        hint = ENV_HINTS.get(section, "an environment variable")
        if isinstance(key, str) and SECRET_KEY.match(key):
            problems.append(
                Problem(
                    path,
                    "secrets are not accepted in configuration files; remove this key and "
                    f"set {hint} in the environment",
                )
            )
        elif isinstance(value, str) and SECRET_VALUE.match(value.strip()):
            problems.append(
                Problem(
                    path,
                    "this value looks like an API key; secrets are not accepted in "
                    f"configuration files, set {hint} in the environment",
                )
            )
    return problems
