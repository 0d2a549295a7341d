"""Every command in the README's ```bash blocks works as written, on a clean checkout with a
temporary store root: the README is the single source of these commands, the test reads
them from it.

Skipped, and why: ``make demo`` / ``make test`` (they build the environment and run the
demo or the whole suite; CI runs ``make test``) and live ``tapeflow run`` without
``--replay`` (it needs Binance's network and runs until stopped). ``tapeflow run --replay``
runs, as does everything in the commands section.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import MARKET_DIR, REPO_ROOT

pytestmark = pytest.mark.slow

README = REPO_ROOT / "README.md"


def readme_commands() -> list[list[str]]:
    """The command lines of the README's ```bash blocks, in order (comments removed)."""
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(), flags=re.M | re.S)
    return [
        argv
        for block in blocks
        for line in block.splitlines()
        if (argv := shlex.split(line, comments=True))
    ]


def skip_reason(argv: list[str]) -> str | None:
    """Why a README command is not run here (None: it runs)."""
    if argv[0] == "make":
        return "builds the environment and runs the demo or the whole suite"
    if argv[0].endswith("tapeflow") and argv[1] == "run" and "--replay" not in argv:
        return "live: needs Binance's network and runs until stopped"
    return None


def test_the_readme_lists_the_commands_it_documents() -> None:
    commands = readme_commands()
    run = [c for c in commands if skip_reason(c) is None]
    skipped = [c[:2] for c in commands if skip_reason(c)]
    assert skipped[:2] == [["make", "demo"], ["make", "test"]]
    assert skipped[2:], "the live-use block shows live runs"
    assert all(c == [".venv/bin/tapeflow", "run"] for c in skipped[2:])
    subcommands = {c[1] for c in run}
    assert {
        "run",
        "import",
        "info",
        "gaps",
        "sql",
        "chart",
        "explain",
        "migrate",
        "reconcile",
        "positions",
    } <= subcommands


def test_every_readme_command_works_as_written(tmp_path: Path) -> None:
    clone = tmp_path / "tapeflow"  # a checkout: the README's relative paths resolve as there
    clone.mkdir()
    for name in (".venv", "configs"):
        (clone / name).symlink_to(REPO_ROOT / name)
    (tmp_path / "shared").symlink_to(MARKET_DIR.parents[1])  # ../shared beside the checkout
    root = tmp_path / "root"
    env = {**os.environ, "TAPEFLOW_ROOT": str(root), "COLUMNS": "100"}
    ran = []
    for argv in readme_commands():
        if skip_reason(argv):
            continue
        res = subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, (
            f"{shlex.join(argv)}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        )
        assert "Traceback" not in res.stderr, shlex.join(argv)
        ran.append((argv, res))
    outputs = {shlex.join(a): r.stdout for a, r in ran}
    replay = next(out for cmd, out in outputs.items() if "--replay" in cmd)
    assert "ticks through the pipeline" in replay
    status = [line for line in replay.splitlines() if line.startswith("status ")]
    assert status and all("replay clock " in line and "max lag" not in line for line in status)
    assert (root / "state" / "state.sqlite3").is_file()  # paper account under the root
    assert not (clone / "data").exists()  # nothing went to the default root
    assert (clone / "chart.png").stat().st_size > 10_000
    explain = next(out for cmd, out in outputs.items() if " explain " in cmd)
    assert "binance/usdm/BTCUSDT" in explain and "evaluations" in explain
