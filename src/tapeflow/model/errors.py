"""The root of every exception tapeflow raises.

Every exception class defined in tapeflow derives from :class:`TapeflowError`, so a caller can
catch all of tapeflow's own failures with one ``except TapeflowError``. Where callers expect a
builtin (``except ValueError`` around a parser, ``except KeyError`` around a lookup), the class
mixes that builtin in as well, e.g. ``class ConfigError(TapeflowError, ValueError)``.
"""


class TapeflowError(Exception):
    """Base class of every exception defined in tapeflow.

    It adds no state or behaviour of its own: subclasses carry their own fields and messages,
    and keep the builtin they derive from (``ValueError``, ``RuntimeError``, ``KeyError``,
    ``BlockingIOError``) next to this root.
    """
