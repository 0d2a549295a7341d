"""Binance public-data archive downloader (data.binance.vision): fetch, verify, then import.

For each day in ``[start, end]`` it fetches the venue's archive
(:mod:`tapeflow.venues.binance.archive`:
``{base}/data/{spot|futures/um|futures/cm}/daily/{trades|aggTrades}/{SYMBOL}/{SYMBOL}-{kind}-{date}.zip``)
and its ``.zip.CHECKSUM`` (text ``<sha256 hex>  <file name>``) into
``{store_root}/_downloads/binance/{market}/{kind}/{SYMBOL}/``:

* the zip is streamed into ``<name>.zip.part``; an interrupted transfer is resumed with an
  HTTP ``Range`` request from the part's size (a server that ignores ``Range`` and answers
  200 restarts the part); transient failures (connection cut, timeouts, 5xx) are retried by
  tenacity with exponential backoff;
* the part's sha256 must equal the CHECKSUM file's; on a mismatch the part is deleted and the
  download is tried once more from scratch (a resumed part could have been spliced wrong),
  then it fails with :class:`ChecksumMismatchError` naming the file;
* only a verified file is renamed to ``<name>.zip`` and its zip CRCs are tested; a damaged
  zip fails with :class:`~tapeflow.sources.model.CorruptArchiveError` and is deleted;
* an already present ``.zip`` whose sha256 matches is not fetched again.

Only verified, intact archives are imported (:func:`download_and_import`); failures are
listed in the report and nothing of a failed file reaches the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from tapeflow.sources.binance_archive import verify_zip
from tapeflow.sources.importer import ImportSummary, import_paths
from tapeflow.sources.model import SourceError
from tapeflow.store import TickStore
from tapeflow.venues.binance.archive import BASE_URL, ArchiveRef, archive_refs

DOWNLOADS_DIR = "_downloads"
_CHUNK = 1 << 20
_SHA256 = re.compile(r"^([0-9a-fA-F]{64})\s+\*?(\S+)\s*$")


def local_dir(ref: ArchiveRef, root: Path) -> Path:
    """Where ``ref`` is downloaded under the store root:
    ``{root}/_downloads/binance/{market}/{kind}/{SYMBOL}/``."""
    return root / DOWNLOADS_DIR / "binance" / ref.market / ref.kind / ref.symbol


class DownloadError(SourceError):
    """An archive could not be fetched (the message names the URL)."""


class ArchiveNotFoundError(DownloadError):
    """The server has no such archive (HTTP 404): the day is not published (yet)."""


class ChecksumMismatchError(DownloadError):
    """The downloaded bytes do not hash to the published sha256."""


class _Transient(DownloadError):
    """A failure worth retrying (5xx, a cut connection)."""


@dataclass(slots=True)
class DownloadReport:
    """What :func:`download_and_import` did."""

    files: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    summary: ImportSummary | None = None

    def raise_for_failures(self) -> None:
        """Raise :class:`DownloadError` listing every failed archive, if any."""
        if self.failures:
            lines = "; ".join(f"{name}: {why}" for name, why in self.failures)
            raise DownloadError(f"{len(self.failures)} archive(s) failed: {lines}")


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


async def _get_checksum(session: aiohttp.ClientSession, url: str, filename: str) -> str:
    async with session.get(url) as resp:
        if resp.status == 404:
            raise ArchiveNotFoundError(f"{url}: not found (404)")
        if resp.status >= 500:
            raise _Transient(f"{url}: HTTP {resp.status}")
        if resp.status != 200:
            raise DownloadError(f"{url}: HTTP {resp.status}")
        text = await resp.text()
    m = _SHA256.match(text.strip())
    if not m:
        raise DownloadError(f"{url}: not a '<sha256>  <file name>' checksum: {text[:120]!r}")
    if m.group(2) != filename:
        raise DownloadError(f"{url}: checksum is for {m.group(2)!r}, not {filename!r}")
    return m.group(1).lower()


async def _fetch_into(
    session: aiohttp.ClientSession,
    url: str,
    part: Path,
    on_bytes: Callable[[int, int | None], None] | None,
) -> None:
    """One attempt: continue ``part`` from its size (Range) or restart it."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        async with session.get(url, headers=headers) as resp:
            if resp.status == 404:
                raise ArchiveNotFoundError(f"{url}: not found (404)")
            if resp.status == 416 and have:
                return  # the part already holds every byte; the checksum decides
            if resp.status >= 500:
                raise _Transient(f"{url}: HTTP {resp.status}")
            if resp.status not in (200, 206):
                raise DownloadError(f"{url}: HTTP {resp.status}")
            if resp.status == 206 and not resp.headers.get("Content-Range", "").startswith(
                f"bytes {have}-"
            ):
                part.unlink()
                raise _Transient(f"{url}: server resumed at the wrong offset; restarting")
            mode = "ab" if resp.status == 206 else "wb"
            done = have if resp.status == 206 else 0
            total = (resp.content_length + done) if resp.content_length is not None else None
            with open(part, mode) as out:
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if on_bytes:
                        on_bytes(done, total)
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise _Transient(f"{url}: transfer interrupted ({exc.__class__.__name__}: {exc})") from exc


async def fetch_archive(
    session: aiohttp.ClientSession,
    ref: ArchiveRef,
    root: Path,
    *,
    base_url: str = BASE_URL,
    attempts: int = 5,
    on_bytes: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download, resume, verify and CRC-test one archive; return the local ``.zip``.

    Raises:
        ArchiveNotFoundError: the server has no such file.
        ChecksumMismatchError: the sha256 differs twice in a row.
        CorruptArchiveError: the verified zip is damaged (deleted again).
        DownloadError: any other HTTP failure, or transient failures ``attempts`` times.
    """
    url = f"{base_url.rstrip('/')}/{ref.url_path}"
    folder = local_dir(ref, root)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / ref.filename
    part = folder / (ref.filename + ".part")

    transient = AsyncRetrying(
        retry=retry_if_exception_type(_Transient),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.2, max=5),
        reraise=True,
    )
    expected: str = await transient(_get_checksum, session, url + ".CHECKSUM", ref.filename)
    if final.exists() and sha256_of(final) == expected:
        return final

    async def download_verified() -> None:
        await transient(_fetch_into, session, url, part, on_bytes)
        actual = sha256_of(part)
        if actual != expected:
            part.unlink()
            raise ChecksumMismatchError(
                f"{ref.filename}: sha256 {actual} does not match the published {expected}"
            )

    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(ChecksumMismatchError),
        stop=stop_after_attempt(2),
        reraise=True,
    ):
        with attempt:
            await download_verified()
    part.replace(final)
    try:
        verify_zip(final)
    except SourceError:
        final.unlink()
        raise
    return final


async def download_archives(
    root: Path,
    refs: list[ArchiveRef],
    *,
    base_url: str = BASE_URL,
    concurrency: int = 4,
    progress: bool = True,
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Fetch ``refs`` (``concurrency`` at a time); return (verified files, failures)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    gate = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), disable=not progress
    )

    async def one(session: aiohttp.ClientSession, ref: ArchiveRef) -> Path:
        async with gate:
            task = bar.add_task(ref.filename, total=None)

            def on_bytes(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            return await fetch_archive(session, ref, root, base_url=base_url, on_bytes=on_bytes)

    with bar:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            results = await asyncio.gather(*(one(session, r) for r in refs), return_exceptions=True)
    files: list[Path] = []
    failures: list[tuple[str, str]] = []
    for ref, res in zip(refs, results, strict=True):
        if isinstance(res, BaseException):
            if not isinstance(res, (SourceError, OSError, aiohttp.ClientError)):
                raise res
            failures.append((ref.filename, str(res)))
        else:
            files.append(res)
    return files, failures


def download_and_import(
    store: TickStore,
    *,
    market: str,
    symbol: str,
    start: date,
    end: date,
    agg: bool = False,
    base_url: str = BASE_URL,
    progress: bool = True,
) -> DownloadReport:
    """Download Binance daily archives for ``symbol`` and import the verified ones.

    Files that fail (not published, checksum mismatch, damaged zip, network) are listed in
    ``report.failures`` and nothing of them is imported; call ``report.raise_for_failures()``
    to turn them into an error.
    """
    refs = archive_refs(market, symbol, start, end, agg=agg)
    files, failures = asyncio.run(
        download_archives(store.root, refs, base_url=base_url, progress=progress)
    )
    report = DownloadReport(files=files, failures=failures)
    if files:
        report.summary = import_paths(
            store, files, exchange="binance", market=market, symbol=symbol, progress=progress
        )
    return report
