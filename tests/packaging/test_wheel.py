"""The package as a user installs it: the sdist and the wheel built from it (as `uv build`
does), the wheel installed with its dependencies (at the versions of ``uv.lock``) into a
fresh virtualenv outside the checkout, and tapeflow run there from a folder outside it —
import, ``tapeflow import`` of a real recording, ``tapeflow.open`` queries and
``tapeflow run --replay``. The SQL of ``sql/`` and the market rules of ``configs/markets/``
must come from inside the installed package (:mod:`tapeflow.resources`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from tests.app.sources_truth import capture_trades, one_minute_candles
from tests.support.paths import HFT_DIR, REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.wheel]

UV = REPO_ROOT / ".tools" / "bin" / "uv"  # the pinned uv of scripts/bootstrap
IMPORTED = HFT_DIR / "usdm" / "ethusdt_20240718.gz"  # 1,640 trades
REPLAYED = HFT_DIR / "usdm" / "btcusdt_20240718.gz"  # 974 trades
SYMBOL_IMPORTED = "binance/usdm/ETHUSDT"
SYMBOL_REPLAYED = "binance/usdm/BTCUSDT"


@dataclass(frozen=True)
class Installed:
    """A fresh virtualenv holding the wheel, and a working folder, both outside the checkout."""

    venv: Path
    work: Path
    env: dict[str, str]

    def run(self, *argv: str | Path, timeout: float = 300) -> str:
        """Run ``argv`` in the working folder; fail with its output unless it exits 0."""
        res = subprocess.run(
            [str(a) for a in argv],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert res.returncode == 0, (
            f"{' '.join(map(str, argv))} exited {res.returncode}\n"
            f"stdout:\n{res.stdout[-4000:]}\nstderr:\n{res.stderr[-4000:]}"
        )
        return res.stdout

    def python(self, code: str) -> object:
        """Run ``code`` with the virtualenv's python; its last stdout line, parsed as JSON."""
        return json.loads(self.run(self.venv / "bin" / "python", "-c", code).splitlines()[-1])

    def tapeflow(self, *args: str | Path) -> str:
        return self.run(self.venv / "bin" / "tapeflow", *args)


def host(*argv: str | Path, cwd: Path = REPO_ROOT) -> None:
    """Run a build step; fail with its output unless it exits 0."""
    res = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, f"{' '.join(map(str, argv))}:\n{res.stdout}\n{res.stderr}"


def repo_files(folder: str, suffix: str) -> set[str]:
    """Names of the ``suffix`` files of the checkout's ``folder``, relative to the root."""
    return {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / folder).rglob(f"*{suffix}")}


def version() -> str:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel built from it, by the pinned uv, outside the checkout."""
    if not UV.is_file():
        pytest.fail(f"{UV} not found: run `make setup` (scripts/bootstrap) first")
    out = tmp_path_factory.mktemp("dist")
    host(UV, "build", "--no-build-logs", "--python", sys.executable, "--out-dir", out, REPO_ROOT)
    (sdist,) = out.glob("tapeflow-*.tar.gz")
    (wheel,) = out.glob("tapeflow-*.whl")
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="module")
def installed(dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A fresh virtualenv with the wheel and its dependencies (pinned to ``uv.lock``)."""
    base = tmp_path_factory.mktemp("wheel-install")
    assert not base.resolve().is_relative_to(REPO_ROOT)
    venv, work = base / "venv", base / "work"
    work.mkdir()
    pins = base / "constraints.txt"
    host(UV, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "-q",
         "-o", pins)  # fmt: skip
    host(UV, "venv", "-q", "--python", sys.executable, venv, cwd=base)
    host(UV, "pip", "install", "-q", "--python", venv / "bin" / "python",
         "--constraint", pins, dist["wheel"], cwd=base)  # fmt: skip
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("TAPEFLOW")}
    env["COLUMNS"] = "200"
    shutil.copy(REPO_ROOT / "configs" / "paper.yaml", work / "paper.yaml")  # the user's own
    return Installed(venv=venv, work=work, env=env)


def test_the_sdist_carries_sql_and_market_rules(dist: dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as tar:
        names = {n.partition("/")[2] for n in tar.getnames()}
    want = repo_files("sql", ".sql") | repo_files("configs/markets", ".yaml")
    assert len(repo_files("sql/schema", ".sql")) >= 1
    assert len(repo_files("sql/analytics", ".sql")) >= 1
    assert want - names == set()


def test_the_wheel_carries_sql_and_market_rules_inside_the_package(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as whl:
        names = set(whl.namelist())
    want = {f"tapeflow/{n}" for n in repo_files("sql", ".sql")} | {
        f"tapeflow/markets/{Path(n).name}" for n in repo_files("configs/markets", ".yaml")
    }
    assert want - names == set()
    outside = {n for n in names if not n.startswith(("tapeflow/", "tapeflow-"))}
    assert outside == set()


def test_the_installed_wheel_imports_from_the_virtualenv(installed: Installed) -> None:
    found = installed.python(
        "import json, tapeflow, tapeflow.resources as r; print(json.dumps({"
        "'file': tapeflow.__file__, 'version': tapeflow.__version__,"
        "'schema': [f.name for f in r.sql_files(r.sql_folder('schema'))],"
        "'analytics': [f.name for f in r.sql_files(r.sql_folder('analytics'))],"
        "'sql': str(r.sql_folder('schema')), 'markets': str(r.market_snapshot('binance'))}))"
    )
    site = installed.venv / "lib"
    assert Path(found["file"]).is_relative_to(site)
    assert Path(found["sql"]).is_relative_to(site)
    assert Path(found["markets"]).is_relative_to(site)
    assert found["version"] == version()
    assert found["schema"] == sorted(Path(n).name for n in repo_files("sql/schema", ".sql"))
    assert found["analytics"] == sorted(Path(n).name for n in repo_files("sql/analytics", ".sql"))
    assert installed.tapeflow("--version").strip().endswith(version())


def test_import_then_open_and_query(installed: Installed) -> None:
    installed.tapeflow("import", IMPORTED, "--root", "data", "-q")
    got = installed.python(
        "import json, tapeflow\n"
        "with tapeflow.open('data') as ta:\n"
        f"    c = ta.candles({SYMBOL_IMPORTED!r}, '1m')\n"
        f"    f = ta.order_flow({SYMBOL_IMPORTED!r}, '1m')\n"
        f"    n = ta.sql({SYMBOL_IMPORTED!r}, 'SELECT count(*) AS n, min(trade_id) AS lo,"
        " max(trade_id) AS hi FROM ticks')\n"
        "ms = lambda t: int(t.timestamp() * 1000)\n"
        "print(json.dumps({\n"
        "  'ticks': n.row(0, named=True),\n"
        "  'candles': [[ms(r['open_time']), *map(str, (r['open'], r['high'], r['low'],"
        " r['close'], r['volume'])), r['trades']] for r in c.iter_rows(named=True)],\n"
        "  'flow': [[ms(r['open_time']), str(r['buy_volume']), str(r['sell_volume']),"
        " str(r['delta']), str(r['cvd'])] for r in f.iter_rows(named=True)]}))"
    )
    trades = capture_trades(IMPORTED)
    ids = [int(t["t"]) for t in trades]
    assert got["ticks"] == {"n": len(trades), "lo": min(ids), "hi": max(ids)}
    assert len(trades) == 1640  # SOURCES.md

    truth = one_minute_candles(IMPORTED, "usdm")
    candles = {row[0]: (*map(Decimal, row[1:6]), row[6]) for row in got["candles"]}
    assert candles == truth

    buy: dict[int, Decimal] = defaultdict(Decimal)
    sell: dict[int, Decimal] = defaultdict(Decimal)
    for t in trades:
        if t.get("X", "MARKET") == "MARKET":
            side = sell if t["m"] else buy  # buyer is the maker: the aggressor sold
            side[t["T"] // 60_000 * 60_000] += Decimal(t["q"])
    cvd, flow = Decimal(0), {}
    for minute in sorted(truth):
        delta = buy[minute] - sell[minute]
        cvd += delta
        flow[minute] = (buy[minute], sell[minute], delta, cvd)
    assert {row[0]: tuple(map(Decimal, row[1:])) for row in got["flow"]} == flow


def test_replay_stores_every_trade_through_the_pipeline(installed: Installed) -> None:
    out = installed.tapeflow(
        "run", "--config", "paper.yaml", "--root", "replayed", "--replay", REPLAYED,
        "--speed", "max",
    )  # fmt: skip
    trades = capture_trades(REPLAYED)
    ids = [int(t["t"]) for t in trades]
    assert len(trades) == 974  # SOURCES.md
    assert f"ticks through the pipeline: {len(trades)}" in out
    rows = installed.tapeflow(
        "sql", SYMBOL_REPLAYED, "SELECT count(*) AS n, min(trade_id) AS lo, max(trade_id) AS hi,"
        " sum(quantity) AS qty FROM ticks", "--root", "replayed", "--json",
    )  # fmt: skip
    (row,) = [json.loads(line) for line in rows.splitlines() if line.strip()]
    assert (row["n"], row["lo"], row["hi"]) == (len(trades), min(ids), max(ids))
    assert Decimal(str(row["qty"])) == sum(Decimal(t["q"]) for t in trades)
