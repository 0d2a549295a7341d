"""Which stored symbol a user means: the one resolution every command and the analytics API
share, with one wording for each failure."""

from __future__ import annotations

from collections.abc import Sequence

from tapeflow.analytics.errors import AmbiguousSymbolError, SymbolNotFoundError
from tapeflow.model.symbols import InvalidSymbolError, SymbolKey, normalize_symbol


def resolve_symbol(text: str, known: Sequence[SymbolKey], root: object = None) -> SymbolKey:
    """The key ``text`` names among ``known`` (the symbols stored under a root).

    ``text`` is ``"exchange/market/SYMBOL"`` (also ``:``-separated) or a bare symbol that
    exactly one market holds; either is spelled through
    :func:`~tapeflow.model.symbols.normalize_symbol` first, so ``btcusdt`` and ``BTCUSDT``
    are the same symbol.

    Raises:
        SymbolNotFoundError: not a valid symbol, or not stored (``"no symbol 'X' in <root>;
            known: ..."``).
        AmbiguousSymbolError: a bare symbol held by several markets (``"'X' exists in
            several markets (...); pass 'exchange/market/SYMBOL'"``).
    """
    where = f"the store at {root}" if root is not None else "this store"
    known_text = ", ".join(map(str, known)) or "none"
    if not isinstance(text, str):
        raise SymbolNotFoundError(f"not a symbol: {text!r}")
    if "/" in text or ":" in text:
        try:
            key = SymbolKey.parse(text)
        except InvalidSymbolError as exc:
            raise SymbolNotFoundError(str(exc)) from exc
        if key not in known:
            raise SymbolNotFoundError(f"no symbol {str(key)!r} in {where}; known: {known_text}")
        return key
    matches = [k for k in known if k.symbol == normalize_symbol(text)]
    if not matches:
        raise SymbolNotFoundError(f"no symbol {text!r} in {where}; known: {known_text}")
    if len(matches) > 1:
        raise AmbiguousSymbolError(
            f"{text!r} exists in several markets ({', '.join(map(str, matches))}); "
            "pass 'exchange/market/SYMBOL'"
        )
    return matches[0]
