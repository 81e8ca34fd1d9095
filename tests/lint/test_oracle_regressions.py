"""Lint/compile disagreements with the independent oracle (`tests/oracle/`), minimized.

Each case is a parent and a child; `compile` must refuse exactly the children the
oracle calls erroneous (LANGUAGE.md §5: loosening a locked floor, raising a threshold
a floor reads), and lint must name the finding.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policyc.cli import app


def run(tmp_path: Path, parent: str, child: str) -> tuple[list[str], int]:
    (tmp_path / "parent.pol").write_text(parent)
    (tmp_path / "child.pol").write_text(child)
    res = CliRunner().invoke(app, ["lint", str(tmp_path / "child.pol"), "--format", "json"])
    codes = [d["code"] for d in json.loads(res.stdout)["diagnostics"]]
    comp = CliRunner().invoke(app, ["compile", str(tmp_path / "child.pol"),
                                    "-o", str(tmp_path / "b.pbundle")])
    return codes, comp.exit_code


def test_most_specific_child_rule_under_a_floor_is_pol301(tmp_path: Path) -> None:
    """POL301 skipped `most-specific`: `r2` is strictly inside every other region, so the
    strategy picks it (allow) where the locked warn holds, and the floor decides."""
    codes, exit_code = run(tmp_path, """policy t.base version "1" {
  categories { c0 }
  default allow
  locked rule a1: warn("y") when c0
}
""", """policy t.child version "2" {
  extends t.base
  resolve most-specific
  rule r1: warn("y") when c0
  rule r2: allow when score(c0) > 0.6
}
""")
    assert "POL301" in codes
    assert exit_code == 2


def test_child_rule_sharing_only_an_attribute_with_a_floor_is_pol301(tmp_path: Path) -> None:
    """The rule page compares rules that read a common *variable*; the check compared
    categories only, so a child rule on the floor's attribute went unreported."""
    codes, exit_code = run(tmp_path, """policy t.base version "1" {
  context audience: enum { adult, child } = adult
  categories { c0 }
  default allow
  locked rule minors: refuse when audience == child
}
""", """policy t.child version "2" {
  extends t.base
  resolve first-match
  rule kids_ok: allow when audience == child
}
""")
    assert "POL301" in codes
    assert exit_code == 2


@pytest.mark.parametrize("parent_threshold", ["threshold default 0.35", "threshold c0 0.35"])
def test_raising_an_inherited_default_is_pol304(tmp_path: Path, parent_threshold: str) -> None:
    """The child names `c0` where the parent had only `threshold default`: c0 goes from
    0.35 to 0.7 all the same (only redeclaring the parent's key was reported)."""
    codes, exit_code = run(tmp_path, f"""policy t.base version "1" {{
  categories {{ c0 }}
  {parent_threshold}
  default allow
  locked rule p2: redirect when c0
}}
""", """policy t.child version "2" {
  extends t.base
  threshold c0 0.7
}
""")
    assert "POL304" in codes
    assert exit_code == 2


def test_lowering_under_not_is_no_pol304(tmp_path: Path) -> None:
    """Lowering is allowed (§5) even where a floor reads the category under `not`; the
    floor keeps its parent's region. A raise of `default` that the floor's leaf does not
    use was blamed for it, and compile refused the child."""
    codes, exit_code = run(tmp_path, """policy t.base version "1" {
  categories { c0 { l0 } }
  threshold default 0.5
  threshold c0.l0 0.7
  default allow
  locked rule p0: redirect when not c0.l0
}
""", """policy t.child version "2" {
  extends t.base
  threshold default 0.7
  threshold c0.l0 0.35
}
""")
    assert "POL304" not in codes
    assert exit_code == 0


def test_sugar_in_a_child_of_a_parent_with_sugar(tmp_path: Path) -> None:
    """Sugar ids were numbered per policy: `allow { x }` in a child of a parent with
    `allow { y }` was a POL104 clash on `allow#1` that no `override` can name. They
    continue the inherited numbering: the child's rule is `allow#2`."""
    codes, exit_code = run(tmp_path, """policy t.base version "1" {
  categories { c0, c1 }
  default refuse
  allow { c1 }
}
""", """policy t.child version "2" {
  extends t.base
  allow { c0 }
}
""")
    assert "POL104" not in codes
    assert exit_code == 0
    res = CliRunner().invoke(app, ["check", str(tmp_path / "b.pbundle"), "--score", "c0=0.9",
                                   "--json"])
    assert json.loads(res.stdout)["rule"] == "allow#2"


def test_two_parents_with_one_rule_id_is_pol104(tmp_path: Path) -> None:
    """Two unrelated parents each with a rule `x` (or each with its own `disallow#1`):
    the child linted clean and compiled a bundle that no runtime loads ("declared
    twice"). Now POL104 at `extends`."""
    (tmp_path / "b.pol").write_text("""policy t.b version "1" {
  categories { c0, c1 }
  default allow
  disallow { c1 }
}
""")
    codes, exit_code = run(tmp_path, """policy t.a version "1" {
  categories { c0, c1 }
  default allow
  disallow { c0 }
}
""", """policy t.child version "2" {
  extends t.a, t.b
}
""")
    assert "POL104" in codes
    assert exit_code == 2
