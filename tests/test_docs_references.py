"""Every test the docs cite (``tests/…py::name`` in README.md and docs/*.md) exists.

docs/risk.md names, for each rule, the test that shows it fires at its threshold; a renamed
or deleted test must not leave the table pointing at nothing.
"""

import re

import pytest

from tests.support.paths import REPO_ROOT

REFERENCE = re.compile(r"(tests/[\w/]+\.py)::(\w+)")
DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def _references() -> list[tuple[str, str, str]]:
    found = set()
    for doc in DOCS:
        for path, name in REFERENCE.findall(doc.read_text(encoding="utf-8")):
            found.add((doc.name, path, name))
    return sorted(found)


def test_the_docs_cite_tests() -> None:
    cited = {doc for doc, _, _ in _references()}
    assert "risk.md" in cited


@pytest.mark.parametrize(("doc", "path", "name"), _references())
def test_cited_test_exists(doc: str, path: str, name: str) -> None:
    source = REPO_ROOT / path
    assert source.is_file(), f"{doc} cites {path}, which does not exist"
    text = source.read_text(encoding="utf-8")
    assert re.search(rf"^\s*(async\s+)?def {name}\(|^class {name}\b", text, re.M), (
        f"{doc} cites {path}::{name}, which is not defined there"
    )


def test_reference_pattern_reads_a_table_row() -> None:
    row = "| stop | 001 §8.1 | on | tests/execution/test_exits.py::test_zone_stop |"
    assert REFERENCE.findall(row) == [("tests/execution/test_exits.py", "test_zone_stop")]
