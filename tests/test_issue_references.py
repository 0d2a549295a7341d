"""No comment, docstring or document names a tracker issue ("issue #5", "#12", "issue 3") or
a slice of one ("part A", "part B").

Such references go stale as soon as the issue closes and tell a reader nothing; the text says
the rule itself instead (and cites the seed where the rule comes from, e.g. "seed 001 §8.3").
Every text file of the checkout's sources, tests, SQL, docs, configs, pipelines, scripts and
notebooks is read, code included: a string naming an issue is as stale as a comment.
"""

import re
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

FOLDERS = ("src", "tests", "sql", "docs", "configs", "pipelines", "scripts", "notebooks")
FILES = ("README.md", "Makefile", "pyproject.toml")
BINARY = {".png", ".jpg", ".gz", ".parquet", ".duckdb", ".pyc", ".whl", ".zip", ".arrow"}

#: What counts as naming an issue: "issue 3", "issues #5", "issue no. 7", a bare "#12" (not a
#: colour like "#26a69a", an HTML entity or a URL fragment), "GH-12", "part A" / "parts B".
ISSUE = re.compile(
    r"\bissues?\s*(?:no\.?\s*)?#?\s*\d+"
    r"|(?<![\w&/#])#\d+\b"
    r"|\bGH-\d+\b"
    r"|\bparts?\s+(?-i:[AB])\b",
    re.IGNORECASE,
)


def _text_files() -> list[Path]:
    found = [REPO_ROOT / name for name in FILES]
    for folder in FOLDERS:
        for path in sorted((REPO_ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix not in BINARY and "__pycache__" not in path.parts:
                found.append(path)
    return [p for p in found if p.is_file() and p != Path(__file__)]


def issue_references(text: str) -> list[tuple[int, str]]:
    """``(line number, matched text)`` of every issue reference in ``text``."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(0)) for m in ISSUE.finditer(text)]


def test_the_scan_reads_sources_docs_and_tests() -> None:
    names = {p.relative_to(REPO_ROOT).parts[0] for p in _text_files()}
    assert {"src", "tests", "sql", "docs", "README.md"} <= names


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("# defaults of GitHub issue #5", ["issue #5"]),
        ('"""See #12 for why."""', ["#12"]),
        ("-- as issue 3 asked", ["issue 3"]),
        ("Until part A's SQL candles are wired in", ["part A"]),
        ("parts b and c", []),
        ("-- fixed in GH-7", ["GH-7"]),
        ('UP = "#26a69a"  # a colour', []),
        ("see https://example.org/page#42 and &#160;", []),
        ("a quantity at issue", []),
        ("seed 001 §8.3, step 2 of 4", []),
    ],
)
def test_the_pattern_tells_an_issue_reference_from_other_text(text: str, found: list) -> None:
    assert [m for _, m in issue_references(text)] == found


def test_no_file_names_an_issue() -> None:
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{line}: {match!r}"
        for path in _text_files()
        for line, match in issue_references(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not offenders, "say the rule instead of naming an issue:\n" + "\n".join(offenders)
