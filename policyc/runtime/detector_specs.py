"""Detector declarations → detectors: the one place that builds them, and says what is
wrong with a declaration the runtime could not build.

The runtime's bindings and the compiler build detectors here; the front end asks
`detector_problem` (it builds nothing itself). `detectors.py` (RE2) loads on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from policyc.runtime.validators import VALIDATORS

if TYPE_CHECKING:
    from policyc.runtime.detectors import Detector

#: the validators a regex detector may name
VALIDATOR_NAMES: tuple[str, ...] = tuple(VALIDATORS)


def build_detector(kind: str, pattern: str | None, validator: str | None,
                   keywords: Sequence[str]) -> Detector:
    """The detector a declaration stands for; raises `detectors.DetectorError`."""
    from policyc.runtime.detectors import KeywordDetector, RegexDetector

    if kind == "regex":
        return RegexDetector(pattern or "", validator)
    return KeywordDetector(list(keywords))


@dataclass(frozen=True)
class DetectorProblem:
    """Why a declaration cannot be built: an unknown `validator` (`detail` names it), no
    `keywords`, or a pattern/keyword the detector refuses (`build`: `detail` says why)."""

    kind: Literal["validator", "keywords", "build"]
    detail: str


def detector_problem(kind: str, pattern: str | None, validator: str | None,
                     keywords: Sequence[str]) -> DetectorProblem | None:
    """What is wrong with a detector declaration (None: the runtime can build it)."""
    from policyc.runtime.detectors import DetectorError

    if validator is not None and validator not in VALIDATORS:
        return DetectorProblem("validator", validator)
    if kind == "keywords" and not keywords:
        return DetectorProblem("keywords", "")
    try:
        build_detector(kind, pattern, validator, keywords)
    except DetectorError as err:
        return DetectorProblem("build", str(err))
    return None
