"""How much of one object's free-form metadata is kept: memory is bounded per run, not per file.

A config.v2.json may be 16 MiB of labels, and eight of them would cost gigabytes as Python
objects. Labels, options, mounts and history are cut at these limits as they are parsed, and
the object says what was cut (reported as a ``truncated`` finding).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: Labels (or options, mounts, history lines) kept per object.
MAX_ENTRIES = 256
#: Characters kept of one key or value: real label values of several KiB exist (a 9,000-character
#: one in tests/data/bbolt/volumes-many.db), so this is generous.
MAX_TEXT = 16384


class Cut(dict[str, Any]):
    """A JSON object of which only the first MAX_ENTRIES members were kept."""

    total: int = 0
    """How many members the document had."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len(pairs) <= MAX_ENTRIES:
        return dict(pairs)
    out = Cut(pairs[:MAX_ENTRIES])
    out.total = len(pairs)
    return out


def loads(raw: bytes) -> Any:
    """json.loads, but no object keeps more than MAX_ENTRIES members (see :class:`Cut`).

    The cut happens while parsing: a config with 270,000 labels never becomes a dict of
    270,000 entries, and the members dropped free their memory at once (kept strings from a
    fully built dict would pin the allocator's arenas: +63 MB per such config, measured).
    Raises what json.loads raises (ValueError, RecursionError).
    """
    return json.loads(raw, object_pairs_hook=_pairs)


def cut(text: str) -> str:
    """`text` cut to MAX_TEXT characters (with a visible mark when cut)."""
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…(cut)"


def str_map(value: Any, what: str, notes: list[str], skip_none: bool = True) -> dict[str, str]:
    """A JSON object of strings (labels, options), cut to the limits; notes say what was cut.

    Non-string keys are dropped and values turned into strings (None values dropped unless
    `skip_none` is False).
    """
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, str] = {}
    long = 0
    total = value.total - len(value) if isinstance(value, Cut) else 0
    for k, v in value.items():
        if not isinstance(k, str) or (v is None and skip_none):
            continue
        total += 1
        if len(out) >= MAX_ENTRIES:
            continue
        sv = v if isinstance(v, str) else str(v)
        if len(k) > MAX_TEXT or len(sv) > MAX_TEXT:
            long += 1
        out[cut(k)] = cut(sv)
    if total > MAX_ENTRIES:
        notes.append(f"{what}: {total} entries, only the first {MAX_ENTRIES} are kept")
    if long:
        notes.append(f"{what}: {long} key(s) or value(s) longer than {MAX_TEXT} characters cut")
    return out


def first(items: list[Any], what: str, notes: list[str], limit: int = MAX_ENTRIES) -> list[Any]:
    """The first `limit` items of a list; notes say how many were dropped."""
    if len(items) > limit:
        notes.append(f"{what}: {len(items)} entries, only the first {limit} are kept")
        return items[:limit]
    return items


def cut_members(value: Any, what: str, notes: list[str]) -> None:
    """Note it when `value` is an object that :func:`loads` cut."""
    if isinstance(value, Cut):
        notes.append(f"{what}: {value.total} entries, only the first {len(value)} are kept")
