"""The read-only query endpoint: another process queries files the live process holds."""

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow.flight as flight
import pytest

from tapeflow.analytics.endpoint import (
    EndpointInfo,
    FlightRunner,
    check_read_only,
    find_endpoint,
)
from tapeflow.analytics.errors import ReadOnlyQueryError
from tapeflow.analytics.query import Query
from tapeflow.model.symbols import SymbolKey
from tapeflow.store import UnknownSymbolError
from tests.support.paths import HFT_DIR, REPO_ROOT

KEY = SymbolKey("binance", "usdm", "BTCUSDT")

HOLDER = textwrap.dedent(
    """
    import sys
    from tapeflow.analytics.endpoint import QueryEndpoint
    from tapeflow.model.symbols import SymbolKey
    from tapeflow.store import TickStore
    from tests.store.conftest import read_capture_trades, trades_to_table
    from pathlib import Path

    store = TickStore(sys.argv[1])
    trades = read_capture_trades(Path(sys.argv[2]))
    store.append(SymbolKey("binance", "usdm", "BTCUSDT"), trades_to_table(trades),
                 id_space="trade")
    with QueryEndpoint(store) as endpoint:
        print("ready", flush=True)
        sys.stdin.readline()   # hold the files until told to stop
    store.close()
    """
)


@pytest.fixture
def live_process(tmp_path: Path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path), str(HFT_DIR / "usdm/btcusdt_20240808.gz")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    if proc.poll() is None:
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=30)


def test_queries_reach_the_process_holding_the_files(tmp_path: Path, live_process) -> None:
    # the file is locked by the live process: a direct open fails
    with pytest.raises(duckdb.IOException, match="lock"):
        duckdb.connect(str(KEY.path(tmp_path)), read_only=True)
    info = find_endpoint(tmp_path)
    assert info is not None and info.pid == live_process.pid
    assert "token" not in repr(info)
    runner = FlightRunner(info)
    assert runner.symbols() == [KEY]
    frame = runner.run(KEY, Query("SELECT count(*) AS n, min(ts) AS first FROM ticks"))
    assert frame["n"].to_list() == [21_313]
    assert str(frame.schema["first"]) == "Datetime(time_unit='us', time_zone='UTC')"
    params = runner.run(KEY, Query("SELECT count(*) AS n FROM ticks WHERE side = ?", ("buy",)))
    assert 0 < params["n"][0] < 21_313
    with pytest.raises(ReadOnlyQueryError, match="DELETE"):
        runner.run(KEY, Query("DELETE FROM ticks"))
    with pytest.raises(ReadOnlyQueryError):
        runner.run(KEY, Query("SELECT 1; DROP TABLE ticks"))
    with pytest.raises(UnknownSymbolError):
        runner.run(SymbolKey("binance", "spot", "NOPEUSDT"), Query("SELECT 1"))
    assert runner.run(KEY, Query("SELECT count(*) AS n FROM ticks"))["n"][0] == 21_313
    bad = FlightRunner(EndpointInfo(info.host, info.port, info.pid, "wrong-token"))
    with pytest.raises(flight.FlightUnauthenticatedError):
        bad.run(KEY, Query("SELECT 1"))
    runner.close()


def test_stale_endpoint_file_is_ignored(tmp_path: Path, live_process) -> None:
    assert find_endpoint(tmp_path) is not None
    live_process.kill()  # no clean shutdown: the file stays, but its process is gone
    live_process.wait()
    assert (tmp_path / ".tapeflow" / "endpoint.json").exists()
    assert find_endpoint(tmp_path) is None


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO ticks SELECT * FROM ticks",
        "COPY ticks TO 'x.csv'",
        "ATTACH 'x.db'",
        "CREATE TABLE x (a INT)",
        "",
        "SELEC 1",
    ],
)
def test_only_select_is_read_only(sql: str) -> None:
    with pytest.raises(ReadOnlyQueryError):
        check_read_only(sql)
    check_read_only("WITH a AS (SELECT 1 AS x) SELECT * FROM a")
