"""The console examples of examples/README.md, docs/cli.md and docs/stdlib.md run, exit
as shown and print what the pages show (`doc_commands`); README.md's are run by
test_readme.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import doc_commands

PAGES = ["examples/README.md", "docs/cli.md", "docs/stdlib.md"]


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run_as_shown(page: str, tmp_path: Path) -> None:
    ran = doc_commands.check_page(doc_commands.REPO / page, doc_commands.checkout(tmp_path))
    assert ran >= 3, f"{page} shows too few console examples"


def test_shown_output_must_be_printed() -> None:
    """The comparison itself: shown lines in order, `…` for any text, no invented lines."""
    out = "policy p 1.0\nredirect(\"crisis\")  (by rule `r1`; matched: r1)\n2 decided, 0 skipped\n"
    assert doc_commands.missing_lines(("2 decided, 0 skipped",), out) == []
    assert doc_commands.missing_lines(("policy p …", "…", "…(by rule `r1`; …"), out) == []
    assert doc_commands.missing_lines(("refuse  (by rule `r1`; matched: r1)",), out)
    assert doc_commands.missing_lines(("2 decided, 0 skipped", "policy p 1.0"), out)  # order
    assert doc_commands.missing_lines(("policy p",), out)  # a whole line, unless `…`
    assert doc_commands.missing_lines(("…`r1`…r1)",), out) == []
    assert doc_commands.missing_lines(("…matched: r1)…matched: r1)",), out)


def test_examples_are_parsed(tmp_path: Path) -> None:
    text = ("text\n```console\n$ policyc check b --json   # exit 1: why\nline 1\n\n"
            "$ python tools/build_eval_set.py\n```\n```sh\n$ policyc not-run\n```\n")
    fake = tmp_path / "page.md"
    fake.write_text(text)
    got = doc_commands.examples(fake)
    assert [(e.where, e.command, e.shown, e.exit) for e in got] == [
        ("page.md:3", "policyc check b --json   # exit 1: why", ("line 1",), 1),
        ("page.md:6", "python tools/build_eval_set.py", (), 0)]


def test_cli_page_quotes_the_example_events() -> None:
    """docs/cli.md's JSONL excerpt is lines of the file it names."""
    text = (doc_commands.REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    name = "examples/consumer_chat/events.jsonl"
    shown = text.split(f"`{name}`:\n\n```json\n", 1)[1].split("```", 1)[0].splitlines()
    lines = (doc_commands.REPO / name).read_text(encoding="utf-8").splitlines()
    assert shown and set(shown) <= set(lines)
