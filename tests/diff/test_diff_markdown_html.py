"""The markdown diff report rendered to HTML by a real CommonMark renderer (issue 17).

GitHub renders PR comments as CommonMark with GFM tables and raw HTML blocks; markdown-it-py
with tables enabled and HTML allowed does the same for what the report uses. The summary
is a `<table>`, the rows fold into `<details>` (loosenings first), each holding a table,
and a report of any size stays under GitHub's 65,536-character comment limit.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from markdown_it import MarkdownIt

from policyc.diff.report import COMMENT_LIMIT, to_markdown
from policyc.diff.semantic import semantic_diff
from policyc.semantics.program import load_program

ROOT = Path(__file__).resolve().parents[2]


class _Outline(HTMLParser):
    """The sequence of tags that matter (table, details, summary text) in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self._summary: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("table", "details"):
            self.events.append(tag)
        elif tag == "summary":
            self._summary = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "details":
            self.events.append("/details")
        elif tag == "summary" and self._summary is not None:
            self.events.append("summary:" + "".join(self._summary))
            self._summary = None

    def handle_data(self, data: str) -> None:
        if self._summary is not None:
            self._summary.append(data)


def _html(markdown: str) -> list[str]:
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    outline = _Outline()
    outline.feed(html)
    return outline.events


def _report():  # type: ignore[no-untyped-def]
    flats = []
    for name in ("v1.pol", "v2.pol"):
        program = load_program([ROOT / "examples/diff" / name])
        flats.append(program.policies[program.roots[0].policy.name])
    return semantic_diff(*flats)


def test_summary_table_then_folded_rows_loosenings_first() -> None:
    events = _html(to_markdown(_report()))
    assert events[0] == "table"  # the cause → effect summary
    assert events[1:] == ["details", "summary:🔻 loosened: 4 rows", "table", "/details",
                          "details", "summary:🔺 tightened: 2 rows", "table", "/details"]


def test_a_huge_report_fits_a_github_comment() -> None:
    report = _report()
    report.changes = report.changes * 3000  # 18,000 rows
    text = to_markdown(report)
    assert len(text) <= COMMENT_LIMIT
    assert "more rows not shown" in text and "--format json" in text
    events = _html(text)
    assert events[0] == "table" and events[1:4] == ["details", "summary:🔻 loosened: 12000 rows",
                                                    "table"]
    assert events.count("details") == events.count("/details")  # every fold is closed
