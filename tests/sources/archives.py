"""Binance archive files built from the real hftbacktest captures (for tests and benchmarks).

Trades are parsed here with plain ``gzip`` + ``json`` (independently of tapeflow's reader)
and written in the layouts data.binance.vision uses.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zipfile
from decimal import Decimal
from pathlib import Path


def capture_trades(path: Path) -> list[dict]:
    """The ``"e":"trade"`` payloads of a capture file, in file order."""
    out = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            _, _, body = line.partition(" ")
            if '"e":"trade"' not in body:
                continue
            data = json.loads(body)["data"]
            out.append(data)
    return out


def archive_rows(trades: list[dict], market: str, *, time_unit: str = "ms") -> list[str]:
    """CSV rows of a ``trades`` archive: spot has 7 columns (with isBestMatch), futures 6."""
    mult = 1000 if time_unit == "us" else 1
    rows = []
    for t in trades:
        quote = Decimal(t["p"]) * Decimal(t["q"])
        maker = "true" if t["m"] else "false"
        if market == "spot":
            rows.append(f"{t['t']},{t['p']},{t['q']},{quote},{t['T'] * mult},{maker},true")
        else:
            rows.append(f"{t['t']},{t['p']},{t['q']},{quote},{t['T'] * mult},{maker}")
    return rows


FUTURES_HEADER = "id,price,qty,quote_qty,time,is_buyer_maker"


def write_archive(
    folder: Path,
    symbol: str,
    day: str,
    rows: list[str],
    *,
    header: str | None = None,
    as_zip: bool = True,
    kind: str = "trades",
) -> Path:
    """Write ``{symbol}-{kind}-{day}.csv`` (and zip it unless ``as_zip`` is false)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{symbol}-{kind}-{day}"
    text = ((header + "\n") if header else "") + "\n".join(rows) + "\n"
    if not as_zip:
        path = folder / f"{stem}.csv"
        path.write_text(text)
        return path
    path = folder / f"{stem}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{stem}.csv", text)
    return path


def write_checksum(archive: Path, digest: str | None = None) -> Path:
    """``<archive>.CHECKSUM`` as Binance publishes it: ``<sha256>  <file name>``."""
    digest = digest or hashlib.sha256(archive.read_bytes()).hexdigest()
    path = archive.with_name(archive.name + ".CHECKSUM")
    path.write_text(f"{digest}  {archive.name}\n")
    return path
