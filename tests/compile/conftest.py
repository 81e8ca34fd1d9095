"""The tiny WordPiece + ONNX classifier of the tokenizer-model tests, built once per
module."""

from __future__ import annotations

import pytest

from tests.helpers import tiny_tokenized
from tests.helpers.tiny_tokenized import Tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    return tiny_tokenized.build(tmp_path_factory.mktemp("tiny"))
