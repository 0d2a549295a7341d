"""``notebooks/order_flow.ipynb`` runs headless, top to bottom, on the real recordings."""

from __future__ import annotations

import sys

import nbformat
from nbclient import NotebookClient

from tests.support.paths import MARKET_DIR, REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "order_flow.ipynb"


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif "data" in out and "text/plain" in out.data:
            parts.append(out.data["text/plain"])
    return "".join(parts)


def test_order_flow_notebook_executes_without_errors(monkeypatch) -> None:
    assert MARKET_DIR.is_dir()
    monkeypatch.setenv("TAPEFLOW_MARKET_DIR", str(MARKET_DIR))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # kernel "python3": jupyter_client starts it with this interpreter (sys.executable).
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300,
        allow_errors=False,  # any failing cell raises CellExecutionError
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell ran"
    assert _text(code[0]).strip() == sys.prefix, "the kernel runs in the project's venv"
    outputs = "\n".join(_text(c) for c in code)
    assert "binance/usdm/BTCUSDT" in outputs and "9999" in outputs
    assert "126 candles, 9999 trades" in outputs
    assert "corr(delta, same-candle return)" in outputs
    pngs = [
        out
        for c in code
        for out in c.get("outputs", [])
        if out.output_type == "display_data" and "image/png" in out.data
    ]
    assert len(pngs) == 2 and all(len(p.data["image/png"]) > 50_000 for p in pngs)
