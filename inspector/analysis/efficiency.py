"""Image efficiency as dive computes it, for every image at once; per-layer changes; duplicates.

Pure functions over per-layer entry lists (:class:`inspector.model.LayerFiles`, the tar
entries ``docker save`` writes, read from layerdb's tar-split by the measure stage).

**dive's numbers** (wagoodman/dive 0.13, ``filetree/efficiency.go``, ``image/image.go``,
``image/docker/image_archive.go``), reproduced with its quirks, because the point is to equal
them:

- Each layer is a tree built from its tar entries (``path.Clean``ed names; a name component
  starting with ``.wh..wh..`` — overlay's opaque marker — is never added, so dive ignores
  opaque dirs). Only *leaves* of each layer's tree are visited: files, and dirs with no entry
  below them in that layer (an unchanged dir re-emitted by a layer counts, with 0 bytes).
- A leaf ``.wh.NAME`` (a whiteout) counts for ``NAME``: the sum of every size under it in the
  stack of the layers below when it was a directory there, else 0 bytes. A whiteout naming
  a path absent from the stack below stops dive's visit of that layer (the rest of the layer
  is not counted) and leaves a -1 in the score's numerator, as dive does.
- Per path: the cumulative size over the layers (leaf size) and the smallest size seen; a path
  seen in two layers or more is an *inefficient file*, its cumulative size is wasted. Score =
  sum of smallest sizes / sum of cumulative sizes (1.0 when the latter is 0). Image size = sum
  of the tar entries' sizes (a hard link is 0 bytes); user wasted percent = wasted / the size
  of every layer but the first (a ratio, as dive's ``highestUserWastedPercent``).
- A layer whose diff ID already appeared lower in the same image is empty for dive: Docker
  20.10's ``docker save`` writes it as a symlink to the first copy, which dive reads as an
  empty tar.

**Per layer** (this tool's own count, on overlay semantics): files (not dirs) added, modified
(the path held a file below) and removed (by a whiteout or an opaque dir), with bytes.

**Across the host**: the same file (path, size, CRC-64 of its bytes) in several distinct
layers of images that do not all share one chain: candidates for a shared base layer.
"""

from __future__ import annotations

import bisect
import math
import posixpath
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from inspector.analysis.sizes import Sizes
from inspector.errors import UsageError
from inspector.ids import chain_ids
from inspector.model import LayerFiles, Skipped, TarEntry

WHITEOUT = ".wh."
OPAQUE_PREFIX = ".wh..wh.."
OPAQUE = ".wh..wh..opq"

#: Files at least this big take part in the duplicate search across images.
DUP_MIN_BYTES = 64 * 1024
#: Big files remembered per layer for the duplicate search (the largest).
MAX_BIG_PER_LAYER = 10_000
#: Duplicate groups kept in a result (largest saving first); the totals count them all.
MAX_DUPLICATES = 200
#: Inefficient files kept per image (largest first); wasted bytes always count them all.
MAX_INEFFICIENT = 5000
#: Tar entries whose layers stay indexed in memory between images (least recently used go;
#: ~0.6 KB each with their indexes, so ~300 MB at most; an image's own layers always stay).
MEMO_ENTRIES = 500_000

# A trie node: [children by name, size, is_dir].
Node = list[Any]


def _node(size: int = 0, is_dir: bool = False) -> Node:
    return [{}, size, is_dir]


def go_clean(name: str) -> str:
    """Go's ``path.Clean`` (dive cleans every tar name with it)."""
    if not name:
        return "."
    out = posixpath.normpath(name)
    # POSIX keeps a leading "//"; Go collapses it.
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    return out


def _components(name: str) -> list[str]:
    """The components of ``path.Clean(name)``."""
    parts = [c for c in name.split("/") if c]
    if "." in parts or ".." in parts:
        parts = [c for c in go_clean(name).split("/") if c]
    return parts


def _bkey(name: str) -> bytes:
    # Go sorts names bytewise; surrogate-escaped bytes must sort as the bytes they stand for.
    return name.encode("utf-8", "surrogateescape")


def _sorted(children: Mapping[str, Node]) -> list[str]:
    names = list(children)
    if all(n.isascii() for n in names):
        names.sort()
    else:
        names.sort(key=_bkey)
    return names


# --------------------------------------------------------------------------- dive's trees


def layer_tree(
    entries: Sequence[TarEntry], components: Sequence[list[str]] | None = None
) -> tuple[dict[str, Node], int]:
    """dive's tree of one layer (the root's children) and its size (sum of entry sizes).

    `components`: each entry's cleaned path components, when the caller has them already.
    """
    root: dict[str, Node] = {}
    total = 0
    if components is None:
        components = [_components(e.name) for e in entries]
    for e, comps in zip(entries, components, strict=True):
        total += e.size
        if not comps:
            continue
        children = root
        node: Node | None = None
        for c in comps:
            nxt = children.get(c)
            if nxt is None:
                if c.startswith(OPAQUE_PREFIX):
                    node = None
                    break
                nxt = children[c] = _node()
            node = nxt
            children = nxt[0]
        if node is not None:
            node[1] = e.size
            node[2] = e.kind == "d"
    return root, total


def _leaves(root: dict[str, Node]) -> Iterator[tuple[str, str, Node]]:
    """(parent path, name, node) of every leaf, in dive's visiting order (by name, deep first)."""
    stack = [("", n, root[n]) for n in reversed(_sorted(root))]
    while stack:
        prefix, name, node = stack.pop()
        children = node[0]
        if not children:
            yield prefix, name, node
            continue
        path = f"{prefix}/{name}"
        for n in reversed(_sorted(children)):
            stack.append((path, n, children[n]))


Contribution = tuple[str, int | None]
"""(path, bytes) of one visited leaf; bytes None: a whiteout of nothing ended the visit."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class InefficientFile:
    """A path present in two layers or more of one image (dive's ``fileReference``)."""

    path: str
    count: int
    """Layers holding it (dive's ``count``)."""
    bytes: int
    """Its cumulative size over those layers (dive's ``sizeBytes``): all of it is wasted."""


@dataclass(frozen=True, slots=True)
class LayerChanges:
    """What one layer does to the files below it (overlay semantics)."""

    chain_id: str
    source: str
    """``tar-split`` or ``diff-walk`` (no usable tar-split: the diff dir was walked)."""
    entries: int
    """Tar entries of the layer (dirs, whiteouts and markers included)."""
    bytes: int
    """Sum of its tar entries' sizes: the layer's size as dive counts it."""
    added: int = 0
    modified: int = 0
    removed: int = 0
    added_bytes: int = 0
    modified_bytes: int = 0
    """Bytes of the new versions of modified files."""
    removed_bytes: int = 0
    """Bytes of the files below that whiteouts and opaque dirs hide."""
    note: str = ""


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One of dive's CI rules on one image."""

    key: str
    """``lowestEfficiency``, ``highestWastedBytes`` or ``highestUserWastedPercent``."""
    status: str
    """PASS, FAIL or SKIP (rule disabled)."""
    message: str = ""


@dataclass(frozen=True, slots=True)
class ImageEfficiency:
    """dive's numbers for one image, and its layers' changes."""

    id: str
    tags: tuple[str, ...]
    size: int
    """Sum of its layers' tar entry sizes (dive's ``sizeBytes``)."""
    efficiency_score: float
    wasted_bytes: int
    """dive's ``inefficientBytes``: the cumulative size of every inefficient file."""
    user_size: int
    """Size of every layer but the first (dive's user bytes)."""
    inefficient_files: tuple[InefficientFile, ...]
    """Largest first (at most MAX_INEFFICIENT; `inefficient_total` counts them all)."""
    inefficient_total: int
    layers: tuple[LayerChanges, ...]
    rules: tuple[RuleResult, ...] = ()

    @property
    def user_wasted_percent(self) -> float | None:
        """wasted / user bytes, a ratio like dive's; None when the image has one layer only."""
        if self.user_size == 0:
            return None
        return self.wasted_bytes / self.user_size

    @property
    def failed(self) -> bool:
        """Whether a threshold rule failed."""
        return any(r.status == "FAIL" for r in self.rules)


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The same file in several distinct layers of images that do not share them."""

    path: str
    size: int
    crc: int | None
    """CRC-64/ISO of its bytes from tar-split; None when a layer was walked (not certain)."""
    layers: tuple[str, ...]
    images: tuple[str, ...]

    @property
    def bytes_saved(self) -> int:
        """What one shared base layer holding it would save: a copy per image but one.

        A second copy inside one image is that image's own waste (dive's numbers), which a
        shared base cannot remove, so at most one copy per image counts.
        """
        return self.size * (min(len(self.layers), len(self.images)) - 1)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """dive's CI rules (None: disabled)."""

    lowest_efficiency: float | None = None
    highest_wasted_bytes: int | None = None
    highest_user_wasted_percent: float | None = None

    @property
    def any(self) -> bool:
        """Whether any rule is enabled."""
        return any(
            x is not None
            for x in (
                self.lowest_efficiency,
                self.highest_wasted_bytes,
                self.highest_user_wasted_percent,
            )
        )


@dataclass(frozen=True, slots=True)
class EfficiencyReport:
    """The result of ``docker-inspector efficiency``."""

    root: str
    images: tuple[ImageEfficiency, ...]
    """Largest waste first."""
    duplicates: tuple[Duplicate, ...] = ()
    """Largest saving first, at most MAX_DUPLICATES."""
    duplicate_groups: int = 0
    duplicate_bytes: int = 0
    """Bytes all duplicate groups would save."""
    skipped: tuple[Skipped, ...] = ()
    """Images or layers that could not be analysed, and why."""
    thresholds: Thresholds = field(default_factory=Thresholds)
    walked_layers: tuple[str, ...] = ()
    """Chain IDs of layers without a usable tar-split (their diff dir was walked)."""
    stats: Mapping[str, int] = field(default_factory=dict)
    """How the run went: layers read, cache hits, …"""
    notes: tuple[str, ...] = ()
    """The root's notes (an image store this tool cannot read yet, …)."""

    @property
    def failed(self) -> bool:
        """Whether any image crossed a threshold."""
        return any(i.failed for i in self.images)


# --------------------------------------------------------------------------- thresholds

# go-humanize's table: "k", "kb" decimal; "ki", "kib" binary (and so on up to "e").
_GO_SIZES = {"": 1, "b": 1}
for _i, _p in enumerate("kmgtpe", start=1):
    _GO_SIZES.update({_p: 1000**_i, _p + "b": 1000**_i, _p + "i": 1024**_i, _p + "ib": 1024**_i})
_GO_NUMBER = re.compile(r"[0-9.,]*")


def parse_dive_bytes(text: str) -> int:
    """Bytes from a size the way dive reads ``--highestWastedBytes`` (go-humanize ParseBytes).

    ``20M`` and ``20MB`` are 20,000,000 bytes, ``20MiB`` 20,971,520: decimal unless ``i``.
    """
    m = _GO_NUMBER.match(text)
    assert m is not None
    number = m.group(0).replace(",", "")
    unit = text[m.end() :].strip().lower()
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if math.isnan(value) or unit not in _GO_SIZES or value * _GO_SIZES[unit] >= 2**64:
        raise UsageError(f"invalid size {text!r}: use e.g. 20M, 20MB (decimal) or 20MiB")
    return int(value * _GO_SIZES[unit])


def parse_ratio(text: str, what: str) -> float:
    """A ratio between 0 and 1, as dive's lowestEfficiency and highestUserWastedPercent."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"invalid {what} {text!r}: a ratio between 0 and 1, e.g. 0.9") from None
    if not 0 <= value <= 1:
        raise UsageError(f"{what} {text!r} is outside the allowed range (0-1)")
    return value


def evaluate(img: ImageEfficiency, t: Thresholds) -> tuple[RuleResult, ...]:
    """dive's CI rules on one image (``runtime/ci/rule.go``), sorted by key as dive prints them."""
    out: list[RuleResult] = []
    ratio = img.user_wasted_percent
    if t.highest_user_wasted_percent is None:
        out.append(RuleResult("highestUserWastedPercent", "SKIP", "rule disabled"))
    else:
        # dive divides by zero user bytes too: +Inf fails the rule, NaN (0/0) passes it.
        value = ratio if ratio is not None else (math.inf if img.wasted_bytes else math.nan)
        if t.highest_user_wasted_percent < value:
            out.append(
                RuleResult(
                    "highestUserWastedPercent",
                    "FAIL",
                    "too many bytes wasted, relative to the user bytes added "
                    f"(%-user-wasted-bytes={value!r} > "
                    f"threshold={t.highest_user_wasted_percent!r})",
                )
            )
        else:
            out.append(RuleResult("highestUserWastedPercent", "PASS"))
    if t.highest_wasted_bytes is None:
        out.append(RuleResult("highestWastedBytes", "SKIP", "rule disabled"))
    elif img.wasted_bytes > t.highest_wasted_bytes:
        out.append(
            RuleResult(
                "highestWastedBytes",
                "FAIL",
                f"too many bytes wasted (wasted-bytes={img.wasted_bytes} > "
                f"threshold={t.highest_wasted_bytes})",
            )
        )
    else:
        out.append(RuleResult("highestWastedBytes", "PASS"))
    if t.lowest_efficiency is None:
        out.append(RuleResult("lowestEfficiency", "SKIP", "rule disabled"))
    elif t.lowest_efficiency > img.efficiency_score:
        out.append(
            RuleResult(
                "lowestEfficiency",
                "FAIL",
                f"image efficiency is too low (efficiency={img.efficiency_score!r} < "
                f"threshold={t.lowest_efficiency!r})",
            )
        )
    else:
        out.append(RuleResult("lowestEfficiency", "PASS"))
    return tuple(out)


# --------------------------------------------------------------------------- selection


def _familiar(name: str) -> str:
    """A reference as repositories.json writes it: docker.io/library/ stripped, :latest added."""
    ref = name
    for prefix in (
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
        "index.docker.io/",
    ):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
            break
    if "@" not in ref and ":" not in ref.rsplit("/", 1)[-1]:
        ref += ":latest"
    return ref


_HEX = re.compile(r"[0-9a-f]{1,64}")


def select_images(sizes: Sizes, names: Sequence[str]) -> list[str]:
    """Image IDs for the names given (tags, digests, IDs or ID prefixes, like docker); every
    image ``docker images`` lists when none is given. UsageError for an unknown or ambiguous
    name."""
    inv = sizes.inv
    if not names:
        return sizes.listed_images()
    out: list[str] = []
    for name in names:
        ref = _familiar(name)
        found = [iid for iid, img in inv.images.items() if ref in img.tags or ref in img.digests]
        if not found:
            hexpart = name.removeprefix("sha256:")
            if _HEX.fullmatch(hexpart):
                found = [iid for iid in inv.images if iid[7:].startswith(hexpart)]
        if not found:
            raise UsageError(f"no such image: {name}")
        if len(found) > 1:
            raise UsageError(f"{name}: ambiguous image ID prefix ({len(found)} images match)")
        if found[0] not in out:
            out.append(found[0])
    return out


# --------------------------------------------------------------------------- the engine


Loader = Callable[[str], "LayerFiles | Skipped"]
"""Reads one layer's entries by chain ID (the measure stage)."""


class ResultCache(Protocol):
    """Results of earlier runs by key (``layer:<chain>``, ``image:<chain>``), valid as long
    as the layers below are the same (the measure stage checks their identity)."""

    def get(self, key: str) -> Any:
        """The stored JSON value, or None."""
        ...

    def put(self, key: str, value: Any) -> None:
        """Store a JSON value."""
        ...


class _NoCache:
    def get(self, key: str) -> Any:
        return None

    def put(self, key: str, value: Any) -> None:
        return None


class _LayerMissing(Exception):
    def __init__(self, skip: Skipped) -> None:
        super().__init__(skip.reason)
        self.skip = skip


Info = tuple[int, bool]
"""(size, is_dir) of a node of dive's tree."""
Entry = tuple[int, str]
"""(size, kind) of a tar entry (overlay semantics)."""


class LayerIndex:
    """One layer's entries, indexed for lookups from the layers above it.

    Two views: dive's tree (every node, intermediate dirs included, whiteouts as removals,
    opaque markers ignored) and the overlay view (tar entries, whiteouts, opaque dirs). A
    layer's numbers are computed by looking paths up through the indexes of the layers below
    it, never by building the merged tree of the whole image: a base layer shared by a
    hundred images is indexed once.
    """

    __slots__ = (
        "entries",
        "entry_paths",
        "leaves",
        "node_paths",
        "nodes",
        "opaque",
        "ov_whiteouts",
        "size",
        "wh_nodes",
        "whiteouts",
    )

    def __init__(self, lf: LayerFiles | None) -> None:
        entries = lf.entries if lf is not None else ()
        components = [_components(e.name) for e in entries]
        root, self.size = layer_tree(entries, components)
        self.nodes: dict[str, Info] = {}
        self.wh_nodes: dict[str, Info] = {}
        """Whiteout-named nodes: literal nodes of the base tree dive copies first."""
        self.whiteouts: set[str] = set()
        """Paths dive removes when it stacks this layer."""
        self.leaves: list[tuple[str, int, bool]] = []
        """(path, size, is a whiteout) of dive's leaves, in dive's visiting order."""
        stack: list[tuple[str, dict[str, Node]]] = [("", root)]
        while stack:
            prefix, children = stack.pop()
            for name, node in children.items():
                path = f"{prefix}/{name}"
                if name.startswith(WHITEOUT):
                    self.wh_nodes[path] = (node[1], node[2])
                    self.whiteouts.add(_target(prefix, name))
                else:
                    self.nodes[path] = (node[1], node[2])
                if node[0]:
                    stack.append((path, node[0]))
        for prefix, name, node in _leaves(root):
            if name.startswith(WHITEOUT):
                self.leaves.append((_target(prefix, name), node[1], True))
            else:
                self.leaves.append((f"{prefix}/{name}", node[1], False))
        self.node_paths = sorted(self.nodes.keys() | self.wh_nodes.keys())
        self.entries: dict[str, Entry] = {}
        self.ov_whiteouts: set[str] = set()
        self.opaque: set[str] = set()
        for e, comps in zip(entries, components, strict=True):
            if not comps:
                continue
            base = comps[-1]
            parent = "/" + "/".join(comps[:-1]) if len(comps) > 1 else ""
            if base == OPAQUE:
                self.opaque.add(parent)
            elif base.startswith(OPAQUE_PREFIX):
                continue  # other AUFS metadata (.wh..wh.plnk): not a file
            elif base.startswith(WHITEOUT):
                self.ov_whiteouts.add(f"{parent}/{base[len(WHITEOUT) :]}")
            else:
                self.entries[f"{parent}/{base}"] = (e.size, e.kind)
        self.entry_paths = sorted(self.entries)


EMPTY_INDEX = LayerIndex(None)


def _target(prefix: str, name: str) -> str:
    rest = name[len(WHITEOUT) :]
    return f"{prefix}/{rest}" if rest else prefix


def _ancestors(path: str) -> list[str]:
    """ "/a/b/c" → ["/a", "/a/b"] (proper ancestors, root excluded)."""
    out: list[str] = []
    i = path.find("/", 1)
    while i > 0:
        out.append(path[:i])
        i = path.find("/", i + 1)
    return out


def _under(paths: list[str], d: str) -> Iterator[str]:
    """The sorted `paths` strictly below dir `d`."""
    prefix = d + "/"
    i = bisect.bisect_left(paths, prefix)
    while i < len(paths) and paths[i].startswith(prefix):
        yield paths[i]
        i += 1


def _dive_info(layers: Sequence[LayerIndex], i: int, path: str) -> Info | None:
    """The node at `path` in dive's StackTreeRange(trees, 0, i-1), or None."""
    chain = [*_ancestors(path), path]
    for j in range(i - 1, -1, -1):
        lay = layers[j]
        info = lay.nodes.get(path)
        if info is not None:
            return info
        if lay.whiteouts and any(a in lay.whiteouts for a in chain):
            return None
    # The copy of the first tree dive stacks onto keeps its whiteout files as plain nodes.
    return layers[0].nodes.get(path) or layers[0].wh_nodes.get(path)


def _dive_subtree(layers: Sequence[LayerIndex], i: int, path: str, own: int) -> int:
    seen: set[str] = set()
    for j in range(max(i, 1)):
        seen.update(_under(layers[j].node_paths, path))
    total = own
    for q in seen:
        info = _dive_info(layers, i, q)
        if info is not None:
            total += info[0]
    return total


def dive_contributions(layers: Sequence[LayerIndex], i: int) -> list[Contribution]:
    """What layer `i` adds to dive's per-path table: its leaves, whiteouts sized on the stack
    below (a whiteout of nothing ends the layer, as dive's visitor error does)."""
    out: list[Contribution] = []
    for path, size, whiteout in layers[i].leaves:
        if not whiteout:
            out.append((path, size))
            continue
        if not path:
            out.append((path, 0))  # ".wh." alone names dive's root: not a dir
            continue
        below = _dive_info(layers, i, path)
        if below is None:
            out.append((path, None))
            break
        out.append((path, _dive_subtree(layers, i, path, below[0]) if below[1] else 0))
    return out


def _visible(layers: Sequence[LayerIndex], i: int, path: str) -> Entry | None:
    """The entry at `path` in the overlay of layers 0..i-1, or None."""
    ancestors = _ancestors(path)
    for j in range(i - 1, -1, -1):
        lay = layers[j]
        e = lay.entries.get(path)
        if e is not None:
            return e
        if path in lay.ov_whiteouts or "" in lay.opaque:
            return None
        for a in ancestors:
            if a in lay.ov_whiteouts or a in lay.opaque:
                return None
            ea = lay.entries.get(a)
            if ea is not None and ea[1] != "d":
                return None
    return None


def _visible_under(layers: Sequence[LayerIndex], i: int, d: str) -> list[tuple[str, int]]:
    """(path, size) of the files (not dirs) below dir `d` in the overlay of layers 0..i-1."""
    seen: set[str] = set()
    for j in range(i):
        seen.update(_under(layers[j].entry_paths, d))
    out = []
    for p in sorted(seen):
        e = _visible(layers, i, p)
        if e is not None and e[1] != "d":
            out.append((p, e[0]))
    return out


BigFile = tuple[str, int, int | None]
"""(path, size, CRC-64) of a regular file big enough for the duplicate search."""


def layer_changes(
    layers: Sequence[LayerIndex], i: int, lf: LayerFiles
) -> tuple[LayerChanges, list[BigFile]]:
    """What layer `i` does to the files of the layers below it (overlay semantics)."""
    lay = layers[i]
    added = modified = removed = 0
    added_b = modified_b = removed_b = 0
    hidden: dict[str, int] = {}
    for d in lay.opaque:
        hidden.update(_visible_under(layers, i, d))
    for t in lay.ov_whiteouts:
        e = _visible(layers, i, t)
        if e is None:
            continue
        if e[1] == "d":
            for _, size in _visible_under(layers, i, t):
                removed += 1
                removed_b += size
        else:
            removed += 1
            removed_b += e[0]
    for path, (size, kind) in lay.entries.items():
        if path in hidden:
            if kind != "d":
                del hidden[path]
                modified += 1
                modified_b += size
            continue
        if lay.opaque and any(a in lay.opaque for a in ("", *_ancestors(path))):
            old: Entry | None = None
        else:
            old = _visible(layers, i, path)
        if kind == "d":
            if old is not None and old[1] != "d":
                removed += 1
                removed_b += old[0]
            continue
        if old is not None and old[1] == "d":
            for _, s in _visible_under(layers, i, path):
                removed += 1
                removed_b += s
            old = None
        if old is None:
            added += 1
            added_b += size
        else:
            modified += 1
            modified_b += size
    removed += len(hidden)
    removed_b += sum(hidden.values())
    big: list[BigFile] = [
        (p, size, None)
        for p, (size, kind) in lay.entries.items()
        if kind == "f" and size >= DUP_MIN_BYTES
    ]
    if big:
        if len(big) > MAX_BIG_PER_LAYER:
            big = sorted(big, key=lambda b: -b[1])[:MAX_BIG_PER_LAYER]
        crcs = {go_path(e.name): e.crc for e in lf.entries if e.kind == "f"}
        big = [(p, s, crcs.get(p)) for p, s, _ in big]
    changes = LayerChanges(
        lf.chain_id,
        lf.source,
        len(lf.entries),
        lay.size,
        added,
        modified,
        removed,
        added_b,
        modified_b,
        removed_b,
        lf.note,
    )
    return changes, big


def go_path(name: str) -> str:
    """A tar name as an absolute path ("etc/passwd" → "/etc/passwd")."""
    return "/" + "/".join(_components(name))


class Engine:
    """Computes every image's numbers, sharing per-layer work between images."""

    def __init__(self, load: Loader, cache: ResultCache | None = None) -> None:
        self.load = load
        self.cache: ResultCache = cache if cache is not None else _NoCache()
        self._layers: OrderedDict[str, tuple[LayerFiles, LayerIndex]] = OrderedDict()
        self._held = 0
        self._contrib: dict[str, list[Contribution]] = {}
        self.changes: dict[str, LayerChanges] = {}
        self.big: dict[str, list[BigFile]] = {}
        self.sources: dict[str, str] = {}
        self.skipped: dict[str, Skipped] = {}
        self.layers_read = 0

    def layer(self, chain: str) -> tuple[LayerFiles, LayerIndex]:
        """The entries and index of one layer (remembered while they fit in MEMO_ENTRIES)."""
        got = self._layers.get(chain)
        if got is not None:
            self._layers.move_to_end(chain)
            return got
        if chain in self.skipped:
            raise _LayerMissing(self.skipped[chain])
        lf = self.load(chain)
        if isinstance(lf, Skipped):
            self.skipped[chain] = lf
            raise _LayerMissing(lf)
        self.layers_read += 1
        self.sources[chain] = lf.source
        got = self._layers[chain] = (lf, LayerIndex(lf))
        self._held += len(lf.entries)
        while self._held > MEMO_ENTRIES and len(self._layers) > 1:
            old, (dropped, _) = self._layers.popitem(last=False)
            self._held -= len(dropped.entries)
            self._contrib.pop(old, None)
        return got

    def image_changes(self, chain: Sequence[str]) -> list[LayerChanges]:
        """Changes of each layer of `chain` (from the cache when unchanged)."""
        out: list[LayerChanges] = []
        for i, ch in enumerate(chain):
            if ch not in self.changes:
                hit = self.cache.get(f"layer:{ch}")
                decoded = _layer_from_json(ch, hit) if hit is not None else None
                if decoded is None:
                    layers = [self.layer(c)[1] for c in chain[: i + 1]]
                    decoded = layer_changes(layers, i, self.layer(ch)[0])
                    self.cache.put(f"layer:{ch}", _layer_to_json(*decoded))
                self.changes[ch], self.big[ch] = decoded
                self.sources.setdefault(ch, decoded[0].source)
            out.append(self.changes[ch])
        return out

    def image(self, iid: str, tags: tuple[str, ...], diff_ids: Sequence[str]) -> ImageEfficiency:
        """dive's numbers and the layers' changes of one image (_LayerMissing when unreadable)."""
        chain = chain_ids(diff_ids)
        layers = self.image_changes(chain)
        if not chain:
            return ImageEfficiency(iid, tags, 0, 1.0, 0, 0, (), 0, ())
        top = chain[-1]
        hit = self.cache.get(f"image:{top}")
        decoded = _image_from_json(iid, tags, layers, hit) if hit is not None else None
        if decoded is not None:
            return decoded
        img = self._dive(iid, tags, chain, diff_ids, layers)
        self.cache.put(f"image:{top}", _image_to_json(img))
        return img

    def _dive(
        self,
        iid: str,
        tags: tuple[str, ...],
        chain: Sequence[str],
        diff_ids: Sequence[str],
        layers: Sequence[LayerChanges],
    ) -> ImageEfficiency:
        # docker save (20.10) writes a layer whose diff ID came lower in the image as a
        # symlink to the first copy, which dive reads as an empty tar.
        repeated = [d in diff_ids[:i] for i, d in enumerate(diff_ids)]
        indexes = [EMPTY_INDEX if repeated[i] else self.layer(ch)[1] for i, ch in enumerate(chain)]
        table: dict[str, list[int]] = {}
        order: list[str] = []
        for i, ch in enumerate(chain):
            # A layer's contributions depend only on the layers below it: its chain.
            contrib = self._contrib.get(ch)
            if contrib is None:
                contrib = self._contrib[ch] = dive_contributions(indexes, i)
            for path, maybe in contrib:
                row = table.get(path)
                if maybe is None:
                    if row is None:
                        table[path] = [0, -1, 0]
                    break
                size = maybe
                if row is None:
                    table[path] = [size, size, 1]
                    continue
                row[0] += size
                if size < row[1] or row[1] < 0:
                    row[1] = size
                row[2] += 1
                if row[2] == 2:
                    order.append(path)
        minimum = sum(r[1] for r in table.values())
        cumulative = sum(r[0] for r in table.values())
        score = 1.0 if cumulative == 0 else minimum / cumulative
        files = [InefficientFile(p, table[p][2], table[p][0]) for p in order]
        wasted = sum(f.bytes for f in files)
        files.sort(key=lambda f: (-f.bytes, _bkey(f.path)))
        sizes = [x.size for x in indexes]
        return ImageEfficiency(
            iid,
            tags,
            sum(sizes),
            score,
            wasted,
            sum(sizes[1:]),
            tuple(files[:MAX_INEFFICIENT]),
            len(files),
            tuple(layers),
        )


# --------------------------------------------------------------------------- cache codecs


def _layer_to_json(c: LayerChanges, big: Sequence[tuple[str, int, int | None]]) -> Any:
    return {
        "c": [
            c.source,
            c.entries,
            c.bytes,
            c.added,
            c.modified,
            c.removed,
            c.added_bytes,
            c.modified_bytes,
            c.removed_bytes,
            c.note,
        ],
        "big": [list(b) for b in big],
    }


def _nonneg(values: Sequence[Any]) -> bool:
    return all(type(v) is int and v >= 0 for v in values)


def _layer_from_json(
    chain: str, raw: Any
) -> tuple[LayerChanges, list[tuple[str, int, int | None]]] | None:
    if not isinstance(raw, dict):
        return None
    c, big = raw.get("c"), raw.get("big")
    if not (isinstance(c, list) and len(c) == 10 and isinstance(big, list)):
        return None
    source, note = c[0], c[9]
    if not (isinstance(source, str) and isinstance(note, str) and _nonneg(c[1:9])):
        return None
    files: list[tuple[str, int, int | None]] = []
    for b in big:
        if not (isinstance(b, list) and len(b) == 3 and isinstance(b[0], str)):
            return None
        if not (_nonneg(b[1:2]) and (b[2] is None or _nonneg(b[2:3]))):
            return None
        files.append((b[0], b[1], b[2]))
    entries, nbytes, added, modified, removed, added_b, modified_b, removed_b = c[1:9]
    changes = LayerChanges(
        chain,
        source,
        entries,
        nbytes,
        added,
        modified,
        removed,
        added_b,
        modified_b,
        removed_b,
        note,
    )
    return changes, files


def _image_to_json(img: ImageEfficiency) -> Any:
    return {
        "n": [img.size, img.wasted_bytes, img.user_size, img.inefficient_total],
        "score": img.efficiency_score,
        "files": [[f.path, f.count, f.bytes] for f in img.inefficient_files],
    }


def _image_from_json(
    iid: str, tags: tuple[str, ...], layers: Sequence[LayerChanges], raw: Any
) -> ImageEfficiency | None:
    if not isinstance(raw, dict):
        return None
    n, score, files = raw.get("n"), raw.get("score"), raw.get("files")
    if not (isinstance(n, list) and len(n) == 4 and _nonneg(n)):
        return None
    if not isinstance(score, float | int) or isinstance(score, bool) or not isinstance(files, list):
        return None
    out: list[InefficientFile] = []
    for f in files:
        if not (isinstance(f, list) and len(f) == 3 and isinstance(f[0], str) and _nonneg(f[1:])):
            return None
        out.append(InefficientFile(f[0], f[1], f[2]))
    return ImageEfficiency(
        iid, tags, n[0], float(score), n[1], n[2], tuple(out), n[3], tuple(layers)
    )


# --------------------------------------------------------------------------- whole host


def duplicates(
    big: Mapping[str, Sequence[tuple[str, int, int | None]]],
    layer_images: Mapping[str, Sequence[str]],
) -> tuple[list[Duplicate], int, int]:
    """Files repeated in distinct layers not all in one image: (largest savings, groups, bytes).

    `big` maps a chain ID to its big regular files; `layer_images` a chain ID to the analysed
    images using it.
    """
    groups: dict[tuple[str, int, int | None], list[str]] = {}
    for chain in sorted(big):
        for path, size, crc in big[chain]:
            groups.setdefault((path, size, crc), []).append(chain)
    found: list[Duplicate] = []
    total = 0
    count = 0
    for (path, size, crc), chains in groups.items():
        if len(chains) < 2:
            continue
        sets = [set(layer_images.get(ch, ())) for ch in chains]
        if set.intersection(*sets):
            continue  # one image holds them all: dive's waste of that image, not a base
        images = sorted(set.union(*sets))
        d = Duplicate(path, size, crc, tuple(chains), tuple(images))
        count += 1
        total += d.bytes_saved
        found.append(d)
    found.sort(key=lambda d: (-d.bytes_saved, _bkey(d.path), d.size))
    return found[:MAX_DUPLICATES], count, total


def analyse(
    sizes: Sizes,
    image_ids: Sequence[str],
    load: Loader,
    cache: ResultCache | None = None,
    thresholds: Thresholds | None = None,
    progress: Callable[[int, int], None] | None = None,
    each: Callable[[str, ImageEfficiency | Skipped], None] | None = None,
) -> EfficiencyReport:
    """dive's numbers for `image_ids`, their layers' changes and the duplicates between them.

    `each`, when given, gets every image's result (or why it was skipped) as soon as it is
    computed: the TUI shows the numbers while the others are still being read.
    """
    inv = sizes.inv
    t = thresholds or Thresholds()
    engine = Engine(load, cache)
    results: list[ImageEfficiency] = []
    skipped: list[Skipped] = []
    layer_images: dict[str, list[str]] = {}
    # Images sharing base layers one after the other: their layers stay remembered.
    ordered = sorted(image_ids, key=lambda iid: sizes.chains.get(iid, ()))
    for n, iid in enumerate(ordered):
        img = inv.images[iid]
        missing = [ch for ch in sizes.chains[iid] if ch not in inv.layers]
        if missing:
            skipped.append(
                Skipped(img.config_path, f"image {iid}: layer {missing[0]} is not in layerdb")
            )
            if each is not None:
                each(iid, skipped[-1])
            continue
        try:
            res = engine.image(iid, tuple(img.tags or img.digests), img.diff_ids)
        except _LayerMissing as e:
            skipped.append(Skipped(e.skip.path, f"image {iid}: {e.skip.reason}"))
            if each is not None:
                each(iid, skipped[-1])
            continue
        rules = evaluate(res, t)
        results.append(_with_rules(res, rules))
        if each is not None:
            each(iid, results[-1])
        for ch in sizes.chains[iid]:
            layer_images.setdefault(ch, []).append(iid)
        if progress is not None:
            progress(n + 1, len(ordered))
    results.sort(key=lambda r: (-r.wasted_bytes, r.id))
    dups, groups, saved = duplicates(
        {ch: engine.big.get(ch, []) for ch in layer_images}, layer_images
    )
    walked = tuple(sorted(ch for ch, src in engine.sources.items() if src != "tar-split"))
    stats = {"images": len(results), "layers_read": engine.layers_read}
    return EfficiencyReport(
        root=inv.root.path,
        images=tuple(results),
        duplicates=tuple(dups),
        duplicate_groups=groups,
        duplicate_bytes=saved,
        skipped=tuple(skipped),
        thresholds=t,
        walked_layers=walked,
        stats=stats,
        notes=inv.root.notes,
    )


def _with_rules(img: ImageEfficiency, rules: tuple[RuleResult, ...]) -> ImageEfficiency:
    return ImageEfficiency(
        img.id,
        img.tags,
        img.size,
        img.efficiency_score,
        img.wasted_bytes,
        img.user_size,
        img.inefficient_files,
        img.inefficient_total,
        img.layers,
        rules,
    )
