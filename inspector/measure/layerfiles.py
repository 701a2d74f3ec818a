"""A layer's tar entries, as ``docker save`` writes them: tar-split, else a walk of its diff dir.

``docker save`` rebuilds each layer's tar from layerdb's ``tar-split.json.gz`` (exact names,
sizes, order and hard links), and dive computes its numbers from that tar; so does
``docker-inspector efficiency``, reading the tar-split file
(:mod:`inspector.stores.graphdriver.tarsplit`) without opening a single file of the layer.

A layer without tar-split (deleted, or a copy of a root that lost it) falls back to a walk of
its overlay2 diff dir that produces the entries Docker's tar writer would (moby
``pkg/archive``: names sorted, parents first; a whiteout char device 0:0 becomes ``.wh.NAME``;
an opaque dir (``trusted.overlay.opaque=y``) gets a ``.wh..wh..opq`` entry after it; the second
name of a hard-linked regular file is a hard link of 0 bytes; sockets are skipped). The walk
opens every dir relative to its parent's descriptor (:mod:`inspector.measure.dirfd`), never
follows a symlink and never leaves the filesystem. It reads no file content, so its entries
carry no checksum. Which of the two is faster was measured (benchmarks/efficiency.py): see the
README's ``efficiency`` section. A corrupt tar-split is not walked around: ``docker save`` (and
so dive) fails on such a layer, and the image is reported as skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator

from inspector.errors import ReaderError
from inspector.measure import effcache
from inspector.measure.dirfd import MAX_OPEN_DIRS, DirNode, DirWalk, Swapped, opaque_dir
from inspector.measure.effcache import EfficiencyCache, chain_identity
from inspector.model import (
    SOURCE_DIFF_WALK,
    SOURCE_TAR_SPLIT,
    Inventory,
    LayerFiles,
    Skipped,
    TarEntry,
)
from inspector.readers import fs
from inspector.stores.graphdriver.tarsplit import MAX_ENTRIES, read_entries

TAR_SPLIT = "tar-split.json.gz"


def _bkey(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def walk_diff(path: str, max_entries: int = MAX_ENTRIES) -> tuple[TarEntry, ...]:
    """The tar entries Docker would write for the overlay diff dir at `path`.

    FileNotFoundError when it is missing; ReaderError when it (or a dir below it) cannot be
    read, or holds more than `max_entries` entries.
    """
    try:
        top = fs.lstat(path)
    except (FileNotFoundError, ReaderError):
        raise
    except OSError as e:
        raise ReaderError(f"{path}: {e.strerror or e}") from e
    if not stat.S_ISDIR(top.st_mode):
        raise ReaderError(f"{path}: not a directory")
    try:
        top_fd = fs.open_dir(path)
    except (FileNotFoundError, ReaderError):
        raise
    except OSError as e:
        raise ReaderError(f"{path}: {e.strerror or e}") from e
    w = DirWalk(top.st_dev)
    first = DirNode(None, "", path, top.st_ino, True, True)
    w.hold(first, top_fd)
    entries: list[TarEntry] = []
    seen_inodes: set[int] = set()
    # Stack items: a dir still to open and list (DirNode, its tar name), or an entry.
    stack: list[tuple[DirNode, str] | TarEntry] = [(first, "")]
    try:
        while stack:
            item = stack.pop()
            if isinstance(item, TarEntry):
                entries.append(item)
                if len(entries) > max_entries:
                    raise ReaderError(f"{path}: more than {max_entries} entries")
                continue
            node, rel = item
            try:
                fd = w.reach(node)
            except (FileNotFoundError, NotADirectoryError, Swapped):
                w.done_with_parent(node)
                continue  # changed under us: an image layer's diff dir never does
            except OSError as e:
                raise ReaderError(f"{node.path}: {e.strerror or e}") from e
            assert fd is not None
            w.done_with_parent(node)
            if rel:
                entries.append(TarEntry(rel + "/", 0, "d"))
                if opaque_dir(fd):
                    entries.append(TarEntry(rel + "/.wh..wh..opq", 0, "f"))
            try:
                names = sorted(os.listdir(fd), key=_bkey)
            except OSError as e:
                raise ReaderError(f"{node.path}: {e.strerror or e}") from e
            children: list[tuple[DirNode, str] | TarEntry] = []
            for name in names:
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                except OSError as e:
                    raise ReaderError(f"{node.path}/{name}: {e.strerror or e}") from e
                if st.st_dev != w.dev:
                    continue  # another filesystem mounted here: not the layer's
                child = f"{rel}/{name}" if rel else name
                mode = st.st_mode
                if stat.S_ISDIR(mode):
                    children.append(
                        (DirNode(node, name, f"{node.path}/{name}", st.st_ino, True, False), child)
                    )
                    node.pending += 1
                elif stat.S_ISREG(mode):
                    if st.st_nlink > 1 and st.st_ino in seen_inodes:
                        children.append(TarEntry(child, 0, "h"))
                    else:
                        if st.st_nlink > 1:
                            seen_inodes.add(st.st_ino)
                        children.append(TarEntry(child, st.st_size, "f"))
                elif stat.S_ISLNK(mode):
                    children.append(TarEntry(child, 0, "l"))
                elif stat.S_ISCHR(mode) and st.st_rdev == 0:
                    parent, _, base = child.rpartition("/")
                    wh = f"{parent}/.wh.{base}" if parent else f".wh.{base}"
                    children.append(TarEntry(wh, 0, "f"))
                elif stat.S_ISSOCK(mode):
                    continue  # Docker's tar writer cannot write sockets and skips them
                else:
                    children.append(TarEntry(child, 0, "o"))
            stack.extend(reversed(children))
            if node.pending == 0 or w.open > MAX_OPEN_DIRS:
                w.close(node)
    finally:
        w.close_all()
    return tuple(entries)


class LayerSource:
    """Loads layers' entries for the efficiency analysis, and keys its cache by chain."""

    def __init__(self, inv: Inventory, cache: EfficiencyCache) -> None:
        self.inv = inv
        self.cache = cache
        self.walked = 0
        self.read = 0
        cache.identities = self._identities()

    def _own_identity(self, chain: str) -> list[int | str] | None:
        layer = self.inv.layers[chain]
        facts: list[int | str] = [chain, layer.diff_id, layer.cache_id]
        try:
            st = fs.lstat(os.path.join(layer.metadata_dir, TAR_SPLIT))
            return [*facts, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        except FileNotFoundError:
            pass
        except (OSError, ReaderError):
            return None
        diff = self._diff_dir(chain)
        if diff is None:
            return None
        try:
            st = fs.lstat(diff)
        except (OSError, ReaderError):
            return None
        return [*facts, "walk", st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns]

    def _identities(self) -> dict[str, str]:
        """Chain ID → identity of it and every layer below it (none when one is unreadable)."""
        out: dict[str, str] = {}
        todo = sorted(self.inv.layers)
        # Parents first; a chain deeper than the layers it has is a loop: never finishes.
        for _ in range(len(todo) + 1):
            later: list[str] = []
            for ch in todo:
                parent = self.inv.layers[ch].parent
                if parent is not None and parent not in out:
                    if parent in self.inv.layers:
                        later.append(ch)
                    continue
                own = self._own_identity(ch)
                if own is not None:
                    out[ch] = chain_identity(out.get(parent) if parent else None, own)
            if not later or len(later) == len(todo):
                break
            todo = later
        return out

    def _diff_dir(self, chain: str) -> str | None:
        if self.inv.root.storage_driver != "overlay2" or not self.inv.driver_home:
            return None
        return os.path.join(self.inv.driver_home, self.inv.layers[chain].cache_id, "diff")

    def __call__(self, chain: str) -> LayerFiles | Skipped:
        """The entries of layer `chain` (tar-split, else its diff dir), or why not."""
        layer = self.inv.layers[chain]
        ts = os.path.join(layer.metadata_dir, TAR_SPLIT)
        try:
            entries = read_entries(ts)
            self.read += 1
            return LayerFiles(chain, entries, SOURCE_TAR_SPLIT)
        except FileNotFoundError:
            pass
        except ReaderError as e:
            return Skipped(ts, str(e).removeprefix(f"{ts}: "))
        diff = self._diff_dir(chain)
        if diff is None:
            return Skipped(
                ts, f"no {TAR_SPLIT}, and {self.inv.root.storage_driver} dirs are not diffs"
            )
        try:
            walked = walk_diff(diff)
        except FileNotFoundError:
            return Skipped(ts, f"no {TAR_SPLIT} and no diff dir {diff}")
        except (ReaderError, OSError) as e:
            reason = str(e) if isinstance(e, ReaderError) else (e.strerror or str(e))
            return Skipped(diff, f"no {TAR_SPLIT}; walking the diff dir failed: {reason}")
        self.walked += 1
        return LayerFiles(
            chain, walked, SOURCE_DIFF_WALK, f"no {TAR_SPLIT}: the diff dir was walked"
        )


@contextlib.contextmanager
def layer_source(inv: Inventory, cache: bool = True) -> Iterator[LayerSource]:
    """A :class:`LayerSource` for `inv`, with the root anchored and the cache saved at the end.

    `cache` False: nothing read or written (``--no-cache``). CacheRefused when the cache dir
    is inside the data root.
    """
    with fs.anchored(inv.root.path):
        ec = (
            effcache.EfficiencyCache.open(inv.root.path)
            if cache
            else effcache.disabled(inv.root.path)
        )
        source = LayerSource(inv, ec)
        yield source
        ec.save(present=inv.layers.keys())


__all__ = ["LayerSource", "layer_source", "walk_diff"]
