"""Running the real ``tapeflow`` command line: in process (typer's CliRunner) or as a
subprocess (``python -m tapeflow.cli``), against temporary roots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tapeflow.cli import app
from tests.support.paths import REPO_ROOT


def invoke(*args: str, env: dict[str, str] | None = None, columns: int = 200):
    """``tapeflow ARGS`` in process; stdout and stderr apart (``.stdout``, ``.stderr``)."""
    runner = CliRunner()
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns), **(env or {})})


def tapeflow(
    *args: str | Path,
    cwd: Path = REPO_ROOT,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``tapeflow ARGS`` as a subprocess (the real entry point, real signals and exit)."""
    return subprocess.run(
        [sys.executable, "-m", "tapeflow.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
