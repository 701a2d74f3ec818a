"""Read image/<driver>/layerdb: image layers, container RW mounts, removal and staging leftovers."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from inspector.errors import ReaderError
from inspector.ids import DIGEST, HEX64
from inspector.model import Layer, RemovingLayer, RWLayerRef, Skipped
from inspector.readers import fs
from inspector.readers.entrycache import EntryCache, Section

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


def _opt(d: fs.Dir, name: str, pattern: re.Pattern[str] | None, what: str) -> str | None:
    """Read an optional one-line metadata file and check it against `pattern`."""
    value = d.read_text(name)
    if value is None:
        return None
    if pattern is not None and not pattern.fullmatch(value):
        raise ReaderError(f"{d.path}/{name}: malformed {what}")
    return value


def _size(d: fs.Dir, name: str = "size") -> int | None:
    value = d.read_text(name, 64)
    if value is None:
        return None
    size = fs.parse_decimal(value)
    if size is None:
        raise ReaderError(f"{d.path}/{name}: size is not a decimal number")
    return size


def read_layer(layer_dir: str, chain_id: str, where: fs.Dir | None = None) -> Layer:
    """Read one layerdb/sha256/<hex> entry; ReaderError if it is unusable.

    FileNotFoundError when the entry itself is gone (removed while we read). `where`: the
    open sha256/ dir, to open the entry relative to it.
    """
    with fs.Dir(layer_dir, where) as d:
        diff = _opt(d, "diff", DIGEST, "diff ID")
        if diff is None:
            raise ReaderError(f"{layer_dir}: no diff file")
        cache = _opt(d, "cache-id", CACHE_ID, "cache-id")
        if cache is None:
            raise ReaderError(f"{layer_dir}: no cache-id file")
        parent = _opt(d, "parent", DIGEST, "parent chain ID")
        size = _size(d)
        has_ts = d.lstat("tar-split.json.gz") is not None
        foreign = d.lstat("descriptor.json") is not None
    return Layer(chain_id, diff, parent, cache, size, layer_dir, has_ts, foreign)


def _read_removing(path: str, parent: fs.Dir | None) -> tuple[str | None, int | None]:
    """cache-id and size of a -removing entry (FileNotFoundError when it is gone)."""
    with fs.Dir(path, parent) as d:
        return _opt(d, "cache-id", CACHE_ID, "cache-id"), _size(d)


def _read_mount(path: str, parent: fs.Dir | None) -> tuple[str | None, str | None, str | None]:
    """mount-id, init-id and parent of a layerdb/mounts entry."""
    with fs.Dir(path, parent) as d:
        return (
            _opt(d, "mount-id", MOUNT_ID, "mount-id"),
            _opt(d, "init-id", MOUNT_ID, "init-id"),
            _opt(d, "parent", DIGEST, "parent chain ID"),
        )


def _entry_problem(path: str, parent: fs.Dir | None = None) -> str | None:
    """Why a layerdb entry cannot be read as a directory ("" if it vanished, None if fine).

    An entry is lstat'ed (relative to its open parent when given) before anything inside it
    is opened, so a symlink planted in place of the entry is named as such.
    """
    try:
        st = parent.lstat(os.path.basename(path)) if parent is not None else fs.lstat(path)
        if st is None:
            return ""
    except (FileNotFoundError, NotADirectoryError):
        return ""
    except ReaderError as e:
        return str(e).removeprefix(f"{path}: ")
    except OSError as e:
        return e.strerror or str(e)
    if stat.S_ISLNK(st.st_mode):
        return "is a symlink, not followed"
    if not stat.S_ISDIR(st.st_mode):
        return "not a directory"
    return None


def _gone(path: str, parent: fs.Dir | None = None) -> bool:
    """True if `path` no longer exists: removed by a live daemon while we read it."""
    try:
        if parent is not None:
            return parent.lstat(os.path.basename(path)) is None
        return fs.lstat_or_none(path) is None
    except (OSError, ReaderError):
        return False


def read_layerdb(layerdb: str, cache: EntryCache | None = None) -> LayerDB:
    """Read every entry of a layerdb directory; problems become Skipped records.

    Entries removed by a live daemon while they are read (a layer being deleted or renamed to
    *-removing, a container's RW layer being released) are skipped silently. `cache`: layers
    and mounts whose entry dir is unchanged since a previous run are taken from it.
    """
    out = LayerDB()
    sha_dir = os.path.join(layerdb, "sha256")
    sha, names = _listing(sha_dir, out)
    try:
        _read_layers(out, sha_dir, sha, names, cache.section("layers", Layer) if cache else None)
    finally:
        if sha is not None:
            sha.close()
    mounts_dir = os.path.join(layerdb, "mounts")
    mdir, mnames = _listing(mounts_dir, out)
    try:
        _read_mounts(
            out, mounts_dir, mdir, mnames, cache.section("mounts", RWLayerRef) if cache else None
        )
    finally:
        if mdir is not None:
            mdir.close()
    tmp_dir = os.path.join(layerdb, "tmp")
    try:
        out.tmp = [os.path.join(tmp_dir, n) for n in fs.list_dir(tmp_dir)]
    except ReaderError as e:
        out.skipped.append(Skipped(tmp_dir, str(e)))
    return out


def _listing(path: str, out: LayerDB) -> tuple[fs.Dir | None, list[str]]:
    """The dir `path`, open, and its names ((None, []) when missing or unreadable)."""
    try:
        d = fs.Dir(path)
    except FileNotFoundError:
        return None, []
    except ReaderError as e:
        out.skipped.append(Skipped(path, str(e)))
        return None, []
    try:
        return d, d.names()
    except ReaderError as e:
        d.close()
        out.skipped.append(Skipped(path, str(e)))
        return None, []


def _entry_stat(parent: fs.Dir | None, name: str) -> os.stat_result | None:
    """The entry's lstat when it is a directory (the cache's key), else None."""
    if parent is None:
        return None
    try:
        st = parent.lstat(name)
    except (OSError, ReaderError):
        return None
    return st if st is not None and stat.S_ISDIR(st.st_mode) else None


def _read_layers(
    out: LayerDB,
    sha_dir: str,
    sha: fs.Dir | None,
    names: list[str],
    entries: Section[Layer] | None = None,
) -> None:
    for name in names:
        path = os.path.join(sha_dir, name)
        if HEX64.fullmatch(name):
            # With a cache, one lstat of the entry decides whether its record can be reused
            # (taken before the entry is read, so a change meanwhile shows next time).
            st = _entry_stat(sha, name) if entries is not None else None
            if st is not None and entries is not None:
                hit = entries.lookup(name, st)
                if hit is not None and hit.metadata_dir == path:
                    out.layers["sha256:" + name] = hit
                    continue
            # Opened with O_NOFOLLOW|O_DIRECTORY: a symlink or a file in place of the entry
            # fails there, and only then is it lstat'ed to say which (5,000 entries on a
            # big host: no lstat for the intact ones).
            try:
                layer = read_layer(path, "sha256:" + name, sha)
                out.layers["sha256:" + name] = layer
                if st is not None and entries is not None:
                    entries.store(name, st, layer)
            except FileNotFoundError:
                continue  # removed while we read
            except ReaderError as e:
                problem = _entry_problem(path, sha)
                if problem is not None:
                    if problem:  # else removed while we read
                        out.skipped.append(Skipped(path, f"layerdb entry {problem}"))
                elif not _gone(path, sha):
                    out.skipped.append(Skipped(path, str(e)))
            continue
        if REMOVING.fullmatch(name):
            problem = _entry_problem(path, sha)
            if problem == "":
                continue  # removed while we read
            if problem is not None:
                out.skipped.append(Skipped(path, f"layerdb entry {problem}"))
                continue
            cache: str | None = None
            size: int | None = None
            try:
                cache, size = _read_removing(path, sha)
            except (ReaderError, OSError) as e:
                if _gone(path, sha):
                    continue  # the daemon finished the removal while we read
                out.skipped.append(Skipped(path, str(e)))
            if _gone(path, sha):
                continue
            out.removing.append(RemovingLayer(name, path, cache, size))
            continue
        out.skipped.append(Skipped(path, "unexpected name in layerdb/sha256 (not a chain ID)"))


def _read_mounts(
    out: LayerDB,
    mounts_dir: str,
    mdir: fs.Dir | None,
    mnames: list[str],
    entries: Section[RWLayerRef] | None = None,
) -> None:
    for name in mnames:
        path = os.path.join(mounts_dir, name)
        st = _entry_stat(mdir, name) if entries is not None else None
        if st is not None and entries is not None:
            hit = entries.lookup(name, st)
            if hit is not None and hit.metadata_dir == path:
                out.mounts[name] = hit
                continue
        try:
            mount_id, init_id, parent = _read_mount(path, mdir)
        except FileNotFoundError:
            continue
        except (ReaderError, OSError) as e:
            # As for layers: only a failed entry is lstat'ed, to say what is in its place.
            problem = _entry_problem(path, mdir)
            if problem == "":
                continue  # released while we read
            if problem is not None:
                out.skipped.append(Skipped(path, f"layerdb mount {problem}"))
                continue
            # saveMount writes mount-id, init-id and parent one by one into the dir: a mount
            # being created can be read half-written (the inventory reads layerdb again).
            if not fs.recently_changed(path):
                out.skipped.append(Skipped(path, str(e)))
            continue
        if _gone(path, mdir):
            continue  # released while we read: its files may be half read
        out.mounts[name] = RWLayerRef(name, mount_id, init_id, parent, path)
        if st is not None and entries is not None:
            entries.store(name, st, out.mounts[name])
