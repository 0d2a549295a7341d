"""``python -m tapeflow.cli``: the same as the ``tapeflow`` command."""

from tapeflow.cli import app

app()
