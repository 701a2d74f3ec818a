"""What each tar entry of a layer does to the files below it: the file browser's marks.

Per entry of the top layer of a chain (overlay semantics, as in
:func:`inspector.analysis.efficiency.layer_changes`): a file is *added* (nothing visible below
held the path, or an opaque dir above it hides what did) or *modified* (a file below held it);
a dir is *added* when it is new; a whiteout ``.wh.NAME`` *removes* what the layers below show
at ``NAME`` (a file, or every file below a dir); an opaque marker ``.wh..wh..opq`` removes
every file below its dir that the layer does not put back. An entry that replaces a file with
a dir (or a dir with a file) removes what it replaces, too.

The per-layer counts of ``efficiency`` (added, modified, removed, with bytes) are the sums of
these marks; the tests hold the two to each other on real images. The lookups through the
layers below are :mod:`inspector.analysis.efficiency`'s (one index per layer, never the merged
tree of the image).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from inspector.analysis.efficiency import (
    OPAQUE,
    OPAQUE_PREFIX,
    WHITEOUT,
    LayerIndex,
    _ancestors,
    _components,
    _visible,
    _visible_under,
)
from inspector.model import LayerFiles

ADDED = "A"
MODIFIED = "M"
REMOVED = "D"
OPAQUE_DIR = "O"


class EntryMark(NamedTuple):
    """The mark of one tar entry."""

    mark: str
    """``A`` added, ``M`` modified, ``D`` a whiteout, ``O`` an opaque marker, ``""`` none (a
    dir already below, an entry a later one of the same name replaces, AUFS metadata)."""
    removed: int = 0
    """Files of the layers below this entry removes (whiteouts, opaque markers, replaced)."""
    removed_bytes: int = 0
    """Their bytes."""


NONE = EntryMark("")


def _role(comps: list[str]) -> tuple[str, str]:
    """(role, overlay path) of an entry: ``entry``, ``whiteout``, ``opaque`` or ``skip``."""
    if not comps:
        return "skip", ""
    base = comps[-1]
    parent = "/" + "/".join(comps[:-1]) if len(comps) > 1 else ""
    if base == OPAQUE:
        return "opaque", parent
    if base.startswith(OPAQUE_PREFIX):
        return "skip", ""  # other AUFS metadata (.wh..wh.plnk): not a file
    if base.startswith(WHITEOUT):
        return "whiteout", f"{parent}/{base[len(WHITEOUT) :]}"
    return "entry", f"{parent}/{base}"


def layer_marks(chain: Sequence[LayerFiles]) -> list[EntryMark]:
    """The mark of every entry of ``chain[-1]`` over ``chain[:-1]`` (base first)."""
    if not chain:
        return []
    layers = [LayerIndex(lf) for lf in chain]
    i = len(layers) - 1
    lay = layers[i]
    entries = chain[i].entries
    roles = [_role(_components(e.name)) for e in entries]
    # A later entry of the same path replaces an earlier one (so does the index's dict).
    last: dict[tuple[str, str], int] = {}
    for k, (role, path) in enumerate(roles):
        if role != "skip":
            last[(role, path)] = k
    out = [NONE] * len(entries)

    hidden: dict[str, int] = {}
    for d in lay.opaque:
        hidden.update(_visible_under(layers, i, d))
    for k, (role, path) in enumerate(roles):
        if role != "entry" or last[(role, path)] != k:
            continue
        size, kind = lay.entries[path]
        if path in hidden:
            if kind != "d":
                del hidden[path]
                out[k] = EntryMark(MODIFIED)
            continue  # a dir made again in an opaque dir: what it hid stays removed
        if lay.opaque and any(a in lay.opaque for a in ("", *_ancestors(path))):
            old = None
        else:
            old = _visible(layers, i, path)
        if kind == "d":
            if old is not None and old[1] != "d":
                out[k] = EntryMark(ADDED, 1, old[0])  # a dir in place of a file
            elif old is None:
                out[k] = EntryMark(ADDED)
            continue
        removed = removed_bytes = 0
        if old is not None and old[1] == "d":
            under = _visible_under(layers, i, path)
            removed, removed_bytes = len(under), sum(s for _, s in under)
            old = None
        out[k] = EntryMark(ADDED if old is None else MODIFIED, removed, removed_bytes)

    for k, (role, path) in enumerate(roles):
        if role != "whiteout":
            continue
        if last[(role, path)] != k:
            out[k] = EntryMark(REMOVED)
            continue
        e = _visible(layers, i, path)
        if e is None:
            out[k] = EntryMark(REMOVED)
        elif e[1] == "d":
            under = _visible_under(layers, i, path)
            out[k] = EntryMark(REMOVED, len(under), sum(s for _, s in under))
        else:
            out[k] = EntryMark(REMOVED, 1, e[0])

    # What the opaque dirs still hide, each file under its deepest opaque dir.
    per_dir: dict[str, list[int]] = {}
    for path, size in hidden.items():
        owner = max((a for a in ("", *_ancestors(path)) if a in lay.opaque), key=len)
        acc = per_dir.setdefault(owner, [0, 0])
        acc[0] += 1
        acc[1] += size
    for k, (role, path) in enumerate(roles):
        if role != "opaque":
            continue
        if last[(role, path)] != k:
            out[k] = EntryMark(OPAQUE_DIR)
            continue
        count, nbytes = per_dir.get(path, (0, 0))
        out[k] = EntryMark(OPAQUE_DIR, count, nbytes)
    return out


__all__ = ["ADDED", "MODIFIED", "OPAQUE_DIR", "REMOVED", "EntryMark", "layer_marks"]
