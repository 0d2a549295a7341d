"""The ``tapeflow`` command line with ``reconcile`` registered, for subprocess tests
(``python -m tests.reconcile.cli_main reconcile ...``): the lead wires
``tapeflow.cli.reconcile`` into ``COMMAND_MODULES``; until then it is added here."""

from __future__ import annotations

from tapeflow.cli import app
from tapeflow.cli import reconcile as reconcile_cli

if not any(c.name == "reconcile" for c in app.registered_commands):
    reconcile_cli.register(app)

if __name__ == "__main__":
    app()
