"""Parse human sizes (50G, 1.5GiB, 100MB, 4096) and percentages (80%)."""

from __future__ import annotations

import re

from inspector.errors import UsageError

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def parse_size(text: str) -> int:
    """Bytes from '50G' (binary, like docker's --log-opt), '50GB' (decimal), '50GiB' or '4096'."""
    m = _SIZE.fullmatch(text)
    if not m or m.group(2).lower() not in _UNITS:
        raise UsageError(
            f"invalid size {text!r}: use a number with an optional unit (K, M, G, T, MB, GiB, …)"
        )
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_percent(text: str) -> float:
    """A percentage like '80%' or '80' as a float in [0, 100]."""
    t = text.strip().removesuffix("%")
    try:
        v = float(t)
    except ValueError:
        raise UsageError(f"invalid percentage {text!r}: use e.g. 80%") from None
    if not 0 <= v <= 100:
        raise UsageError(f"invalid percentage {text!r}: must be between 0 and 100")
    return v
