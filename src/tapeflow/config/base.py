"""The base of every configuration model: closed (unknown keys fail) and immutable.

Every settings model of tapeflow derives from :class:`Section`; a section that holds a secret
derives from :class:`SecretSection`, which also keeps rejected input out of error messages.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A configuration section.

    ``extra="forbid"``: a key the model does not define is an error (typos never pass
    silently). ``frozen=True``: a loaded configuration cannot be changed by accident.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class SecretSection(Section):
    """A configuration section that holds a secret (an API key).

    As :class:`Section`, and ``hide_input_in_errors=True``: a validation error names the key
    and the rule but never echoes the rejected value, so a secret that fails validation does
    not reach a log or a traceback.
    """

    model_config = ConfigDict(hide_input_in_errors=True)
