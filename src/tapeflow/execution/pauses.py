"""Symbols paused by the operator: no new entries for them until resumed.

A pause only blocks *new entries* (the chain's ``risk`` handler refuses the signal); open
positions keep their stops and exits. The set is the engine-state document
``execution.paused_symbols`` (``{"symbols": ["binance/usdm/BTCUSDT", ...]}``), written on
every change with a read-modify-write, so a restart keeps it and the engines of several
venues sharing one store do not overwrite each other's pauses.
"""

from __future__ import annotations

from tapeflow.execution.statefile import StateStore
from tapeflow.model.symbols import SymbolKey

STATE_NAME = "execution.paused_symbols"


class SymbolPauses:
    """The paused symbols, backed by ``store`` (see the module docstring).

    Raises (on construction):
        ValueError: the stored document is malformed (names the document).
    """

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._paused: set[str] = self._read()

    def _read(self) -> set[str]:
        doc = self._store.get_state(STATE_NAME) or {}
        symbols = doc.get("symbols", [])
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise ValueError(f"state {STATE_NAME!r} is malformed: 'symbols' must be a list")
        return {str(SymbolKey.parse(s)) for s in symbols}

    @property
    def symbols(self) -> list[str]:
        """The paused symbols (``exchange/market/SYMBOL``), sorted."""
        return sorted(self._paused)

    def reason(self, key: SymbolKey) -> str | None:
        """Why a new entry in ``key`` is refused, or None when it is not paused."""
        if str(key) in self._paused:
            return f"{key} paused by the operator (tapeflow resume {key.symbol} lifts it)"
        return None

    def set(self, key: SymbolKey, paused: bool) -> bool:
        """Pause (``paused=True``) or resume ``key``; persisted. Returns True if this
        changed anything (False: it was already so — the call is idempotent)."""
        current = self._read()
        name = str(key)
        changed = (name in current) != paused
        if paused:
            current.add(name)
        else:
            current.discard(name)
        if changed:
            self._store.put_state(STATE_NAME, {"symbols": sorted(current)})
        self._paused = current
        return changed
