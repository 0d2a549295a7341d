"""Downloader against a local archive server serving archives built from real captures."""

import datetime as dt
import hashlib

import pytest

from tapeflow.model.symbols import SymbolKey
from tapeflow.sources.download import DownloadError, download_and_import
from tests.servers.binance_archive import ArchiveServer
from tests.sources.archives import (
    FUTURES_HEADER,
    archive_rows,
    capture_trades,
    write_archive,
    write_checksum,
)
from tests.sources.conftest import count
from tests.support.paths import HFT_DIR

KEY = SymbolKey("binance", "usdm", "BTCUSDT")
DAYS = {"2024-07-18": "btcusdt_20240718.gz", "2024-07-19": "btcusdt_20240719.gz"}


@pytest.fixture(scope="module")
def trades_by_day():
    return {day: capture_trades(HFT_DIR / "usdm" / name) for day, name in DAYS.items()}


@pytest.fixture
def site(tmp_path, trades_by_day):
    """Server folder with the two USD-M BTCUSDT days as futures archives (+ CHECKSUM)."""
    folder = tmp_path / "site"
    remote = folder / "data/futures/um/daily/trades/BTCUSDT"
    for day, trades in trades_by_day.items():
        archive = write_archive(
            remote, "BTCUSDT", day, archive_rows(trades, "usdm"), header=FUTURES_HEADER
        )
        write_checksum(archive)
    with ArchiveServer(folder) as server:
        server.remote = remote
        yield server


def fetch(store, site, start="2024-07-18", end="2024-07-19"):
    return download_and_import(
        store,
        market="usdm",
        symbol="BTCUSDT",
        start=dt.date.fromisoformat(start),
        end=dt.date.fromisoformat(end),
        base_url=site.base_url,
        progress=False,
    )


def test_two_days_download_verify_and_import_without_gaps(store, site, trades_by_day):
    report = fetch(store, site)
    assert report.failures == []
    assert [p.name for p in report.files] == [
        "BTCUSDT-trades-2024-07-18.zip",
        "BTCUSDT-trades-2024-07-19.zip",
    ]
    assert all(p.is_relative_to(store.root / "_downloads") for p in report.files)
    expected = sum(len(t) for t in trades_by_day.values())
    assert expected == 974 + 9727
    assert report.summary.symbols[KEY].inserted == expected
    assert count(store, KEY) == expected
    assert store.gaps(KEY) == []
    for p in report.files:  # stored file is byte-identical to the served one
        assert p.read_bytes() == (site.remote / p.name).read_bytes()

    again = fetch(store, site)  # verified files are not fetched again; import is idempotent
    assert site.zip_requests("BTCUSDT-trades-2024-07-18.zip") == [None]
    assert again.summary.symbols[KEY].duplicates == expected


def test_cut_transfer_resumes_with_range(store, site, trades_by_day):
    name = "BTCUSDT-trades-2024-07-19.zip"
    size = (site.remote / name).stat().st_size
    site.cut_once.add(f"futures/um/daily/trades/BTCUSDT/{name}")
    report = fetch(store, site, "2024-07-19", "2024-07-19")
    assert report.failures == []
    ranges = site.zip_requests(name)
    assert ranges[0] is None and len(ranges) == 2
    resumed_from = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_from < size  # continued the part, did not restart
    assert count(store, KEY) == len(trades_by_day["2024-07-19"])
    assert not list((store.root / "_downloads").rglob("*.part"))


def test_wrong_checksum_fails_naming_the_file_and_imports_nothing(store, site):
    name = "BTCUSDT-trades-2024-07-18.zip"
    write_checksum(site.remote / name, hashlib.sha256(b"something else").hexdigest())
    report = fetch(store, site)
    assert [n for n, _ in report.failures] == [name]
    assert "sha256" in report.failures[0][1] and name in report.failures[0][1]
    assert [p.name for p in report.files] == ["BTCUSDT-trades-2024-07-19.zip"]
    with store.connection(KEY) as con:  # only the good day arrived
        lo = con.execute("SELECT min(trade_id) FROM ticks").fetchall()[0][0]
    assert lo == 5182006711
    assert not list((store.root / "_downloads").rglob(name + "*"))
    with pytest.raises(DownloadError, match=name):
        report.raise_for_failures()


def test_corrupted_zip_with_matching_checksum_imports_nothing(store, site):
    name = "BTCUSDT-trades-2024-07-18.zip"
    path = site.remote / name
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(64)
    path.write_bytes(bytes(data))
    write_checksum(path)  # published checksum of the damaged bytes
    report = fetch(store, site, "2024-07-18", "2024-07-18")
    assert [n for n, _ in report.failures] == [name]
    assert "damaged" in report.failures[0][1]
    assert report.summary is None and store.symbols() == []


def test_missing_day_is_reported(store, site):
    report = fetch(store, site, "2024-07-19", "2024-07-20")
    assert [n for n, _ in report.failures] == ["BTCUSDT-trades-2024-07-20.zip"]
    assert "404" in report.failures[0][1]
    assert count(store, KEY) == 9727
