"""How many random cases the oracle tests run: modest in CI (fixed seeds, well under a
minute in all), far more when hunting: `POLICYC_ORACLE_SCALE=50 pytest tests/oracle`
(and `POLICYC_ORACLE_SEED=N` to start from another seed)."""

from __future__ import annotations

import os


def seeds(n: int, salt: int) -> range:
    scale = float(os.environ.get("POLICYC_ORACLE_SCALE", "1"))
    start = int(os.environ.get("POLICYC_ORACLE_SEED", "0")) + salt * 1_000_000
    return range(start, start + max(1, int(n * scale)))
