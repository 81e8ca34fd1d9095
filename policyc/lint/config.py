"""Lint configuration: `[tool.policyc]` in pyproject.toml or a `policyc.toml`.

Keys: `select`, `ignore` (lists of codes or prefixes such as `POL2`), `severity`
(a table code → error|warning|info), `fail-on`, `path` (parent search folders),
`docs-url` (the absolute URL of a rule's page, with `{code}`: SARIF `helpUri`).
The nearest file found from the first input's folder upwards wins.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from policyc.diagnostics import Severity


@dataclass
class LintConfig:
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)
    fail_on: Severity | None = None
    path: list[str] = field(default_factory=list)
    docs_url: str | None = None
    source: Path | None = None

    def enabled(self, code: str) -> bool:
        if self.select and not any(code.startswith(s) for s in self.select):
            return False
        return not any(code.startswith(s) for s in self.ignore)


class ConfigError(ValueError):
    pass


def find_config(start: Path) -> LintConfig:
    folder = start if start.is_dir() else start.parent
    for d in [folder.resolve(), *folder.resolve().parents]:
        own = d / "policyc.toml"
        if own.is_file():
            return _read(own, None) or LintConfig()  # None only for a missing table
        pyproject = d / "pyproject.toml"
        if pyproject.is_file():
            cfg = _read(pyproject, ("tool", "policyc"))
            if cfg is not None:
                return cfg
    return LintConfig()


def _read(path: Path, table: tuple[str, ...] | None) -> LintConfig | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read `{path}`: {err}") from err
    if table is not None:
        for key in table:
            data = data.get(key)  # type: ignore[assignment]
            if not isinstance(data, dict):
                return None
    try:
        severity = {code: Severity(level) for code, level in data.get("severity", {}).items()}
        fail_on = data.get("fail-on", data.get("fail_on"))
        docs_url = data.get("docs-url", data.get("docs_url"))
        if docs_url is not None and not (isinstance(docs_url, str) and "{code}" in docs_url
                                         and docs_url.startswith(("https://", "http://"))):
            raise ValueError("`docs-url` must be an absolute http(s) URL containing `{code}`")
        return LintConfig(select=list(data.get("select", [])), ignore=list(data.get("ignore", [])),
                          severity=severity, fail_on=Severity(fail_on) if fail_on else None,
                          path=[str(path.parent / p) for p in data.get("path", [])],
                          docs_url=docs_url, source=path)
    except (ValueError, TypeError, AttributeError) as err:
        raise ConfigError(f"invalid policyc configuration in `{path}`: {err}") from err
