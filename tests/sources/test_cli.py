"""`tapeflow import/download/info/gaps/sql` and the backfill pipeline, end to end."""

import typer
from pipelines import backfill
from typer.testing import CliRunner

from tapeflow.cli import store as store_cli
from tests.servers.binance_archive import ArchiveServer
from tests.sources.archives import (
    FUTURES_HEADER,
    archive_rows,
    capture_trades,
    write_archive,
    write_checksum,
)
from tests.support.paths import HFT_DIR, NAUTILUS_PARQUET

runner = CliRunner()


def make_app() -> typer.Typer:
    app = typer.Typer()
    store_cli.register(app)
    app.command("noop")(lambda: None)  # keep typer in multi-command mode
    return app


def run(*args: str, env: dict | None = None):
    result = runner.invoke(make_app(), list(args), env={"COLUMNS": "200", **(env or {})})
    return result


def test_import_info_gaps_sql(tmp_path):
    root = str(tmp_path / "data")
    cm = HFT_DIR / "cm"
    res = run("import", str(cm), "--root", root, "-q")
    assert res.exit_code == 0, res.output
    assert "binance/coinm/BTCUSD_PERP" in res.output and "5,235" in res.output

    res = run("info", env={"TAPEFLOW_ROOT": root})  # root from the environment
    assert res.exit_code == 0, res.output
    assert "ETHUSD_PERP" in res.output and "3,595" in res.output

    res = run("gaps", "--root", root)
    assert res.exit_code == 0 and "0 gap(s) in 2 symbol(s)" in res.output

    res = run(
        "sql", "BTCUSD_PERP", "SELECT count(*) AS n, sum(quantity) AS q FROM ticks", "--root", root
    )
    assert res.exit_code == 0, res.output
    trades = capture_trades(cm / "btcusd_perp_20240808.gz") + capture_trades(
        cm / "btcusd_perp_20240809.gz"
    )
    assert "5235" in res.output and str(sum(int(t["q"]) for t in trades)) in res.output

    for query in (
        "DELETE FROM ticks",
        "SELECT 1; DROP TABLE ticks",
        "COPY ticks TO 'x.csv'",
        "ATTACH 'x.duckdb'",
    ):
        res = run("sql", "binance/coinm/BTCUSD_PERP", query, "--root", root)
        assert res.exit_code == 2 and "only read queries" in res.output, query
    res = run("sql", "binance/coinm/BTCUSD_PERP", "SELECT count(*) FROM ticks", "--root", root)
    assert "5235" in res.output  # still all there


def test_import_without_needed_options_exits_2_and_writes_nothing(tmp_path):
    root = tmp_path / "data"
    res = run("import", str(NAUTILUS_PARQUET), "--root", str(root), "-q")
    assert res.exit_code == 2
    assert "--exchange --market" in res.output
    assert not list(root.rglob("*.duckdb"))


def test_download_command_and_backfill_pipeline(tmp_path):
    site = tmp_path / "site"
    remote = site / "data/futures/um/daily/trades/BTCUSDT"
    for day, name in (("2024-07-18", "btcusdt_20240718.gz"), ("2024-07-19", "btcusdt_20240719.gz")):
        rows = archive_rows(capture_trades(HFT_DIR / "usdm" / name), "usdm")
        write_checksum(write_archive(remote, "BTCUSDT", day, rows, header=FUTURES_HEADER))
    root = tmp_path / "data"
    with ArchiveServer(site) as server:
        res = run(
            "download",
            "binance",
            "--market",
            "usdm",
            "--symbol",
            "BTCUSDT",
            "--start",
            "2024-07-18",
            "--end",
            "2024-07-18",
            "--base-url",
            server.base_url,
            "--root",
            str(root),
            "-q",
        )
        assert res.exit_code == 0, res.output
        assert "974" in res.output

        code = backfill.main(
            [
                "--market",
                "usdm",
                "--symbol",
                "BTCUSDT",
                "--days",
                "3",
                "--end",
                "2024-07-20",
                "--root",
                str(root),
                "--base-url",
                server.base_url,
            ]
        )
    assert code == 1  # 2024-07-20 is not on the server
    res = run("gaps", "binance/usdm/BTCUSDT", "--root", str(root))
    assert "0 gap(s) in 1 symbol(s)" in res.output
    res = run("sql", "binance/usdm/BTCUSDT", "SELECT count(*) FROM ticks", "--root", str(root))
    assert str(974 + 9727) in res.output
