"""Read image/<driver>/layerdb: image layers, container RW mounts, removal and staging leftovers."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from inspector.errors import ReaderError
from inspector.model import Layer, RemovingLayer, RWLayerRef, Skipped
from inspector.readers import fs

HEX64 = re.compile(r"[0-9a-f]{64}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
#: IDs the daemon accepts in mounts/ (plus BuildKit's 25-char base-36 keys during builds).
MOUNT_ID = re.compile(r"[0-9a-f]{64}(-init)?|[0-9a-z]{25}")
#: cache-id: 64 hex (graphdriver) or 25 base-36 (BuildKit).
CACHE_ID = re.compile(r"[0-9a-f]{64}|[0-9a-z]{25}")
REMOVING = re.compile(r"([0-9a-f]{64})-[0-9a-f]{64}-removing")


@dataclass
class LayerDB:
    """What layerdb holds."""

    layers: dict[str, Layer] = field(default_factory=dict)
    mounts: dict[str, RWLayerRef] = field(default_factory=dict)
    removing: list[RemovingLayer] = field(default_factory=list)
    tmp: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _opt(path: str, pattern: re.Pattern[str] | None, what: str) -> str | None:
    """Read an optional one-line metadata file and check it against `pattern`."""
    value = fs.read_optional_text(path)
    if value is None:
        return None
    if pattern is not None and not pattern.fullmatch(value):
        raise ReaderError(f"{path}: malformed {what}")
    return value


def _size(path: str) -> int | None:
    value = fs.read_optional_text(path, 64)
    if value is None:
        return None
    if not value.isdigit():
        raise ReaderError(f"{path}: size is not a decimal number")
    return int(value)


def read_layer(layer_dir: str, chain_id: str) -> Layer:
    """Read one layerdb/sha256/<hex> entry; ReaderError if it is unusable."""
    diff = _opt(os.path.join(layer_dir, "diff"), DIGEST, "diff ID")
    if diff is None:
        raise ReaderError(f"{layer_dir}: no diff file")
    cache = _opt(os.path.join(layer_dir, "cache-id"), CACHE_ID, "cache-id")
    if cache is None:
        raise ReaderError(f"{layer_dir}: no cache-id file")
    parent = _opt(os.path.join(layer_dir, "parent"), DIGEST, "parent chain ID")
    size = _size(os.path.join(layer_dir, "size"))
    has_ts = fs.lstat_or_none(os.path.join(layer_dir, "tar-split.json.gz")) is not None
    foreign = fs.lstat_or_none(os.path.join(layer_dir, "descriptor.json")) is not None
    return Layer(chain_id, diff, parent, cache, size, layer_dir, has_ts, foreign)


def _entry_problem(path: str) -> str | None:
    """Why a layerdb entry cannot be read as a directory ("" if it vanished, None if fine).

    An entry is lstat'ed before anything inside it is opened: O_NOFOLLOW guards only the last
    component of a path, so a symlink planted in place of the entry itself would otherwise be
    followed out of the root.
    """
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return ""
    except OSError as e:
        return e.strerror or str(e)
    if stat.S_ISLNK(st.st_mode):
        return "is a symlink, not followed"
    if not stat.S_ISDIR(st.st_mode):
        return "not a directory"
    return None


def _gone(path: str) -> bool:
    """True if `path` no longer exists: removed by a live daemon while we read it."""
    return fs.lstat_or_none(path) is None


def read_layerdb(layerdb: str) -> LayerDB:
    """Read every entry of a layerdb directory; problems become Skipped records.

    Entries removed by a live daemon while they are read (a layer being deleted or renamed to
    *-removing, a container's RW layer being released) are skipped silently.
    """
    out = LayerDB()
    sha_dir = os.path.join(layerdb, "sha256")
    try:
        names = fs.list_dir(sha_dir)
    except ReaderError as e:
        out.skipped.append(Skipped(sha_dir, str(e)))
        names = []
    for name in names:
        path = os.path.join(sha_dir, name)
        if HEX64.fullmatch(name) or REMOVING.fullmatch(name):
            problem = _entry_problem(path)
            if problem == "":
                continue  # removed while we read
            if problem is not None:
                out.skipped.append(Skipped(path, f"layerdb entry {problem}"))
                continue
        if HEX64.fullmatch(name):
            try:
                out.layers["sha256:" + name] = read_layer(path, "sha256:" + name)
            except FileNotFoundError:
                continue  # removed while we read
            except ReaderError as e:
                if not _gone(path):
                    out.skipped.append(Skipped(path, str(e)))
            continue
        if REMOVING.fullmatch(name):
            cache: str | None = None
            size: int | None = None
            try:
                cache = _opt(os.path.join(path, "cache-id"), CACHE_ID, "cache-id")
                size = _size(os.path.join(path, "size"))
            except (ReaderError, FileNotFoundError) as e:
                if _gone(path):
                    continue  # the daemon finished the removal while we read
                out.skipped.append(Skipped(path, str(e)))
            if _gone(path):
                continue
            out.removing.append(RemovingLayer(name, path, cache, size))
            continue
        out.skipped.append(Skipped(path, "unexpected name in layerdb/sha256 (not a chain ID)"))

    mounts_dir = os.path.join(layerdb, "mounts")
    try:
        mnames = fs.list_dir(mounts_dir)
    except ReaderError as e:
        out.skipped.append(Skipped(mounts_dir, str(e)))
        mnames = []
    for name in mnames:
        path = os.path.join(mounts_dir, name)
        problem = _entry_problem(path)
        if problem == "":
            continue  # released while we read
        if problem is not None:
            out.skipped.append(Skipped(path, f"layerdb mount {problem}"))
            continue
        try:
            mount_id = _opt(os.path.join(path, "mount-id"), MOUNT_ID, "mount-id")
            init_id = _opt(os.path.join(path, "init-id"), MOUNT_ID, "init-id")
            parent = _opt(os.path.join(path, "parent"), DIGEST, "parent chain ID")
        except FileNotFoundError:
            continue
        except ReaderError as e:
            # saveMount writes mount-id, init-id and parent one by one into the dir: a mount
            # being created can be read half-written (the inventory reads layerdb again).
            if not fs.recently_changed(path):
                out.skipped.append(Skipped(path, str(e)))
            continue
        if _gone(path):
            continue  # released while we read: its files may be half read
        out.mounts[name] = RWLayerRef(name, mount_id, init_id, parent, path)

    tmp_dir = os.path.join(layerdb, "tmp")
    try:
        out.tmp = [os.path.join(tmp_dir, n) for n in fs.list_dir(tmp_dir)]
    except ReaderError as e:
        out.skipped.append(Skipped(tmp_dir, str(e)))
    return out
