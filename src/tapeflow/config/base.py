"""The base of every configuration model: closed (unknown keys fail) and immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A configuration section.

    ``extra="forbid"``: a key the model does not define is an error (typos never pass
    silently). ``frozen=True``: a loaded configuration cannot be changed by accident.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
