"""``tapeflow run`` as a subprocess in live mode against the local Binance server: the
configuration, the process and what it left in the stores (for the startup reconciliation
and operator-control tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tapeflow.state.embedded import EmbeddedStore
from tests.support.paths import HFT_DIR, REPO_ROOT

#: Recorded USD-M trades replayed through the run (the smallest captures).
REPLAY = {
    "BTCUSDT": HFT_DIR / "usdm" / "btcusdt_20240718.gz",
    "ETHUSDT": HFT_DIR / "usdm" / "ethusdt_20240718.gz",
}
#: Recorded spot trades replayed through a spot run.
SPOT_REPLAY = {"BTCUSDT": HFT_DIR / "spot" / "btcusdt_20240809.gz"}
SG_KEY = "SG.runReconcileKey_0123456789.aBcDeFgHiJkLmNoPqRsTuVwXyZ-_xyz"


def write_config(
    tmp_path: Path,
    *,
    mode: str = "live",
    mail_host: str | None = None,
    extra: str = "",
    market: str = "usdm",
) -> Path:
    """A configuration trading Binance ``market`` BTCUSDT and ETHUSDT (``mode``), the store
    under ``tmp_path/data``, embedded state in ``tmp_path/state.sqlite3``, e-mail to
    ``mail_host`` when given. The risk layer's tape-driven early exits (dump detection,
    correlation exits) are off: these runs check reconciliation and operator controls on
    positions the tests place, which a seed-default dump signal (e.g. a 60 s flow flip in
    the replayed trades) would otherwise close first."""
    notify = (
        {
            "enabled": True,
            "from_address": "engine@tapeflow.dev",
            "to_addresses": ["ops@tapeflow.dev"],
            "host": mail_host,
            "subject_prefix": "run",
        }
        if mail_host
        else {"enabled": False}
    )
    text = (
        f"store: {{root: {tmp_path / 'data'}}}\n"
        f"execution:\n  mode: {mode}\n  exchange: binance\n  market: {market}\n"
        "  retry: {attempts: 2, initial_wait_s: 0.01, max_wait_s: 0.02}\n"
        "  request_timeout_ms: 3000\n"
        "  dump: {enabled: false}\n"
        "  correlation: {enabled: false}\n"
        f"{extra}"
        f"state:\n  backend: embedded\n  path: {tmp_path / 'state.sqlite3'}\n"
        f"notify: {json.dumps(notify)}\n"
        "app: {status_interval_s: 1}\n"
        "symbols:\n"
        f"  - {{exchange: binance, market: {market}, symbol: BTCUSDT}}\n"
        f"  - {{exchange: binance, market: {market}, symbol: ETHUSDT}}\n"
    )
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def env_with_keys(state) -> dict[str, str]:
    """The process environment with the local server's key pair and a SendGrid key."""
    return {
        **os.environ,
        "COLUMNS": "200",
        "BINANCE_API_KEY": state.api_key,
        "BINANCE_API_SECRET": state.secret,
        "SENDGRID_API_KEY": SG_KEY,
    }


def tapeflow(*args: str, env: dict[str, str], new_session: bool = False) -> subprocess.Popen:
    """``python -m tapeflow.cli ARGS`` from the repository root, output captured;
    ``new_session``: in a process group of its own (for ``os.killpg``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tapeflow.cli", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=new_session,
    )


def wait_ready(proc: subprocess.Popen) -> list[str]:
    """Read the process's output up to its ``ready`` line; returns the lines read.

    Raises:
        AssertionError: the output ended first (the process exited), with its tail.
    """
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.strip() == "ready":
            return lines
    raise AssertionError("".join(lines)[-4000:])


def wait_for(predicate, what: str, timeout_s: float = 120.0) -> None:
    """Poll ``predicate`` until it holds (the running process acts on its own clock).

    Raises:
        AssertionError: ``gave up waiting for <what>`` after ``timeout_s`` seconds.
    """
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def run_args(
    config: Path, url: str, *replays: Path, extra: tuple[str, ...] = (), market: str = "usdm"
) -> list[str]:
    """``run --config C --api-url U --replay R... --exchange binance --market M``."""
    replay = [a for p in replays for a in ("--replay", str(p))]
    return ["run", "--config", str(config), "--api-url", url, *replay,
            "--exchange", "binance", "--market", market, *extra]  # fmt: skip


def stored(tmp_path: Path):
    """``(positions, orders)`` in the embedded state store."""
    with EmbeddedStore(tmp_path / "state.sqlite3") as store:
        return store.list_positions(), store.list_orders()


def local(tmp_path: Path, *records) -> None:
    """Put positions and orders into the embedded state store."""
    with EmbeddedStore(tmp_path / "state.sqlite3") as store:
        for r in records:
            if hasattr(r, "position_id") and hasattr(r, "direction"):
                store.put_position(r)
            else:
                store.put_order(r)
