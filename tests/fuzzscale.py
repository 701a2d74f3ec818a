"""How many examples the property tests (hypothesis) generate in this run.

Every fuzz test states its full ("deep") number of examples and asks :func:`examples` for
the number to run. The default run takes a quarter of them, which keeps ``scripts/test.sh``
within its time budget on a 2-core machine; ``DOCKER_INSPECTOR_FUZZ_SCALE`` sets the factor
for a deeper (``1`` = the full numbers, ``4`` = four times them) or a quicker run.
"""

from __future__ import annotations

import os

ENV = "DOCKER_INSPECTOR_FUZZ_SCALE"
DEFAULT_SCALE = 0.25


def _scale() -> float:
    raw = os.environ.get(ENV, "")
    if not raw.strip():
        return DEFAULT_SCALE
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{ENV}={raw!r}: not a number") from None
    if not value > 0:
        raise ValueError(f"{ENV}={raw!r}: must be above 0")
    return value


#: The factor applied to every fuzz test's full number of examples in this run.
SCALE = _scale()


def examples(full: int) -> int:
    """The number of examples to run for a test whose full number is `full` (at least 1)."""
    return max(1, round(full * SCALE))


def stride(full: int) -> int:
    """The step of a test that tries every `full`-th offset of a file in a full run (so that
    it tries about SCALE times as many offsets in this one)."""
    return max(1, round(full / SCALE))
