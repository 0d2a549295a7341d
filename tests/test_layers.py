"""No import cycles between tapeflow's modules, ``TYPE_CHECKING`` imports included.

The package layers are import-linter contracts (``[tool.importlinter]`` in
``pyproject.toml``, run by ``make test``); a layers contract only sees imports between
packages. This test covers the rest: two modules of the same package that import each other
(directly or round a longer loop) are a cycle too. The graph is grimp's (import-linter's own
engine), built with ``exclude_type_checking_imports=False`` so an import made only for a
type annotation counts like any other.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """The import cycles of ``graph``: every strongly connected set of more than one
    module, each sorted, in module order (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append(
                        (target, iter(sorted(graph.find_modules_directly_imported_by(target))))
                    )
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return sorted(cycles)


def build(package: str) -> grimp.ImportGraph:
    """The import graph of ``package``, ``TYPE_CHECKING`` imports included."""
    return grimp.build_graph(package, exclude_type_checking_imports=False, cache_dir=None)


def test_type_checking_imports_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "typed_pair"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "chain.py").write_text("from typed_pair.refusals import RefusalLog\n")
    (package / "refusals.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from typed_pair.chain import SignalContext\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert strongly_connected(build("typed_pair")) == [["typed_pair.chain", "typed_pair.refusals"]]


def test_the_cycle_finder_finds_a_cycle_through_type_checking_imports() -> None:
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    graph.add_import(importer="pkg", imported="pkg.a")
    assert strongly_connected(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_no_module_imports_itself_round_a_loop() -> None:
    assert strongly_connected(build("tapeflow")) == []
