"""On-disk facts about the trees of Docker data under a root: what exists, and the signs dockerd
leaves on the tree it uses. No decision here: inspector.trees weighs these facts.

Signs read (shared/docker-format.md §0, §4; moby daemon/daemon_unix.go setupDaemonRoot,
daemon/graphdriver/driver.go New):

- ``<root>/<uid>.<gid>/`` is a userns-remap root: with ``--userns-remap`` dockerd keeps all its
  data there. At every start dockerd chowns the root as given to ``0:<gid>`` (``0:0`` without
  remap): the group of the top dir names the remapped root last used.
- ``volumes/backingFsBlockDev`` is made anew at every start (mknod): its mtime is the tree's
  last daemon start.
- Mount points under a tree (live layers, containers' shm, the daemon's bind mount of its root
  onto itself) mean a running daemon uses it now.
- A graphdriver's layer dir (``<root>/<driver>/``) changes when that driver starts or makes or
  removes layers: its mtime is when that driver last ran.

Every path is read beneath the root as given (the caller anchors it, see
inspector.readers.fs), without following any symlink: a ``<uid>.<gid>`` symlink is not a tree.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from inspector.errors import ReaderError
from inspector.model import Mount
from inspector.readers import fs

#: A userns-remap root's name: ``<uid>.<gid>`` in decimal (moby: fmt "%d.%d").
REMAP_DIR = re.compile(r"(0|[1-9][0-9]{0,9})\.(0|[1-9][0-9]{0,9})")
#: Top-level entries that make a directory a data root (as inspector.root requires).
TREE_MARKS = ("image", "containers", "volumes")
#: Graphdrivers whose trees are looked for (the daemon's registered drivers, and old ones).
DRIVERS = ("overlay2", "fuse-overlayfs", "btrfs", "zfs", "vfs", "aufs", "devicemapper", "overlay")
#: Where each driver keeps one entry per layer, when not directly in its dir (moby graphdriver).
_LAYER_SUBDIR = {
    "vfs": "dir",
    "aufs": "diff",
    "btrfs": "subvolumes",
    "zfs": "graph",
    "devicemapper": "metadata",
}
#: Names in a driver's dir that are not layers (overlay2's short links, the quota device).
_NOT_LAYERS = frozenset({"l", "backingFsBlockDev"})
#: More remapped roots than this under one root are not looked at (a hostile root's count).
MAX_REMAP_ROOTS = 64


@dataclass(frozen=True, slots=True)
class RootFacts:
    """One data root: the root as given, or a ``<uid>.<gid>`` remapped root in it."""

    path: str
    name: str
    """"" for the root as given, else ``<uid>.<gid>``."""
    entries: tuple[str, ...]
    """Its top-level names (for the root as given: without the remapped roots)."""
    has_tree: bool
    """It holds image/, containers/ or volumes/ of its own."""
    gid: int | None
    """Group of the dir (dockerd sets the root as given to the remapped root's group)."""
    started: float | None
    """mtime of volumes/backingFsBlockDev: the last daemon start on this tree."""
    mounted: str | None
    """A mount point in it right now (a running daemon), or None."""
    holds: str
    """What it holds, counted, for people."""
    problem: str | None = None
    """Why it could not be read, if it could not."""


@dataclass(frozen=True, slots=True)
class DriverFacts:
    """One graphdriver's tree in a data root."""

    name: str
    home: str
    """``<root>/<driver>``."""
    meta: str
    """``<root>/image/<driver>``."""
    layers: int
    """Layer dirs in the driver's dir (vfs: in ``vfs/dir/``)."""
    layerdb: int
    """Entries of ``image/<driver>/layerdb/sha256``."""
    images: int
    """Image configs in ``image/<driver>/imagedb/content/sha256``."""
    home_exists: bool
    meta_exists: bool
    mtime: float | None
    """mtime of the driver's dir: when that driver last started or changed a layer."""
    mounted: str | None
    """A mount point in the driver's dir right now (a running daemon's layer), or None."""

    @property
    def has_data(self) -> bool:
        """Whether it holds layers or images (an empty dir left by a start is not data)."""
        return bool(self.layers or self.layerdb or self.images)

    def holds(self) -> str:
        """Its counts, for people."""
        return f"{self.layers} layer dirs, {self.layerdb} layers in layerdb, {self.images} images"


def _names(path: str) -> list[str] | None:
    """Names in the dir at `path`; [] when missing, None when it cannot be listed."""
    try:
        return fs.list_dir(path)
    except ReaderError:
        return None


def _count(path: str, ignore: frozenset[str] = frozenset()) -> int:
    names = _names(path) or []
    return sum(1 for n in names if n not in ignore)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return fs.lstat_or_none(path)
    except (OSError, ReaderError):
        return None


def _is_dir(st: os.stat_result | None) -> bool:
    return st is not None and stat.S_ISDIR(st.st_mode)


def mounted_in(path: str, mounts: Sequence[Mount], exclude: Sequence[str] = ()) -> str | None:
    """A mount point at `path` made by dockerd, or below it (not below `exclude`), if any.

    At `path` itself only a bind mount of that same dir counts (dockerd binds its root onto
    itself at start-up): a root that is a filesystem of its own is a mount point always.
    """
    prefix = path.rstrip("/") + "/"
    found: list[str] = []
    for m in mounts:
        if m.path == path:
            if m.fs_root not in ("", "/") and path.endswith(m.fs_root):
                return m.path
            continue
        if m.path.startswith(prefix) and not any(
            m.path == x or m.path.startswith(x + "/") for x in exclude
        ):
            found.append(m.path)
    # The shortest: dockerd's own (a layer's merged/), not one a container named inside it.
    return min(found, key=len) if found else None


def _root_facts(
    path: str, name: str, mounts: Sequence[Mount], exclude: Sequence[str] = ()
) -> RootFacts:
    st = _lstat(path)
    names = _names(path)
    if names is None:
        # Not listable (not root?): it may hold data; opening it will say what is wrong.
        why = f"{path}: cannot be listed"
        gid = st.st_gid if st is not None else None
        return RootFacts(path, name, (), True, gid, None, None, "cannot be listed", why)
    skip = {os.path.basename(x) for x in exclude}
    entries = tuple(n for n in names if n not in skip)
    has_tree = any(n in entries for n in TREE_MARKS)
    dev = _lstat(os.path.join(path, "volumes", "backingFsBlockDev"))
    containers = _count(os.path.join(path, "containers"))
    volumes = _count(os.path.join(path, "volumes"), frozenset({"metadata.db", "backingFsBlockDev"}))
    images = sum(
        _count(os.path.join(path, "image", d, "imagedb", "content", "sha256"))
        for d in (_names(os.path.join(path, "image")) or [])
        if d in DRIVERS
    )
    drivers = [d for d in DRIVERS if d in entries]
    holds = (
        f"{images} images, {containers} containers, {volumes} volumes"
        + (f"; driver dirs: {', '.join(drivers)}" if drivers else "")
        if has_tree
        else "no image/, containers/ or volumes/ of its own"
    )
    return RootFacts(
        path=path,
        name=name,
        entries=entries,
        has_tree=has_tree,
        gid=st.st_gid if st is not None else None,
        started=dev.st_mtime if dev is not None else None,
        mounted=mounted_in(path, mounts, exclude),
        holds=holds,
    )


def root_facts(top: str, mounts: Sequence[Mount]) -> tuple[RootFacts, tuple[RootFacts, ...]]:
    """The root as given and each userns-remap root in it (real dirs only, never symlinks)."""
    remapped: list[str] = []
    for n in _names(top) or []:
        if REMAP_DIR.fullmatch(n) and _is_dir(_lstat(os.path.join(top, n))):
            remapped.append(n)
    remapped = remapped[:MAX_REMAP_ROOTS]
    paths = [os.path.join(top, n) for n in remapped]
    given = _root_facts(top, "", mounts, paths)
    return given, tuple(_root_facts(p, n, mounts) for p, n in zip(paths, remapped, strict=True))


def driver_facts(root: str, mounts: Sequence[Mount]) -> tuple[DriverFacts, ...]:
    """Each graphdriver tree of the data root `root` that exists (its dir or its metadata)."""
    top = set(_names(root) or [])
    meta_names = set(_names(os.path.join(root, "image")) or [])
    out: list[DriverFacts] = []
    for d in DRIVERS:
        home = os.path.join(root, d)
        meta = os.path.join(root, "image", d)
        home_st = _lstat(home) if d in top else None
        home_ok = _is_dir(home_st)
        meta_ok = d in meta_names and _is_dir(_lstat(meta))
        if not home_ok and not meta_ok:
            continue
        sub = _LAYER_SUBDIR.get(d)
        layer_dir = os.path.join(home, sub) if sub else home
        out.append(
            DriverFacts(
                name=d,
                home=home,
                meta=meta,
                layers=_count(layer_dir, _NOT_LAYERS) if home_ok else 0,
                layerdb=_count(os.path.join(meta, "layerdb", "sha256")) if meta_ok else 0,
                images=_count(os.path.join(meta, "imagedb", "content", "sha256")) if meta_ok else 0,
                home_exists=home_ok,
                meta_exists=meta_ok,
                mtime=home_st.st_mtime if home_ok and home_st is not None else None,
                mounted=mounted_in(home, mounts) if home_ok else None,
            )
        )
    return tuple(out)


__all__ = ["DRIVERS", "REMAP_DIR", "DriverFacts", "RootFacts", "driver_facts", "root_facts"]
