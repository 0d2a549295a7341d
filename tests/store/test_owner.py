"""One owner per store root: the run lock."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tapeflow.store.owner import StoreBusyError, claim_root, root_owner


def test_second_claim_names_the_owner_and_the_root(tmp_path: Path) -> None:
    assert root_owner(tmp_path) is None
    with claim_root(tmp_path):
        owner = root_owner(tmp_path)
        assert owner is not None and owner.pid == os.getpid()
        with pytest.raises(StoreBusyError) as err:
            claim_root(tmp_path)
        assert re.fullmatch(
            rf"another tapeflow run \(pid {os.getpid()}, started "
            rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC\) holds {re.escape(str(tmp_path))}",
            str(err.value),
        )
        assert root_owner(tmp_path) is not None  # probing does not release it
    assert root_owner(tmp_path) is None
    claim_root(tmp_path).release()


def test_a_killed_owner_holds_nothing(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from tapeflow.store.owner import claim_root; "
            "lock = claim_root(sys.argv[1]); print('held', flush=True); sys.stdin.read()",
            str(tmp_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    owner = root_owner(tmp_path)
    assert owner is not None and owner.pid == holder.pid
    with pytest.raises(StoreBusyError, match=f"pid {holder.pid}"):
        claim_root(tmp_path)
    holder.kill()
    holder.wait()
    assert root_owner(tmp_path) is None
    with claim_root(tmp_path):
        assert root_owner(tmp_path).pid == os.getpid()
