"""A per-root cache of measured sizes of immutable directories (committed image layers).

A committed image layer never changes, so walking its tree on every run only re-proves what
the last run found. The cache keeps, per storage dir, what a walk measured together with the
identity of the dir at the time (see :func:`identity`): inode, device, ctime and mtime of the
layer dir and of its diff dir, plus the layer's cache-id, recorded size and diff ID. Replacing
either dir (a restore, a re-pull under the same ID) or adding, removing or renaming an entry
directly in it changes the identity, and such an entry is never used again. A file edited
deep inside a layer (which Docker never does) leaves the identity alone: ``report --full``
walks every layer, reports the mismatch with the recorded size and refreshes the entry.
Only dirs whose walk read everything are stored.

Where: ``$XDG_CACHE_HOME/docker-inspector/`` (an absolute XDG_CACHE_HOME only, as the XDG spec
says) or ``~/.cache/docker-inspector/``; one JSON file per data root, named by a hash of the
root's absolute path. The cache is NEVER kept inside the data root: :func:`cache_dir` refuses
such a location (the tool writes nothing under the root).

Safety: the file is written through :mod:`inspector.outputs`: the cache dir is created and
opened without following a symlink below its deepest existing ancestor, checked against the
root at write time (:class:`CacheRefused` if it has come to lie inside it), and the file is a
fresh O_EXCL temp file in it renamed into place, after merging what a concurrent run may have
saved meanwhile, so a reader always sees a complete file. A file that is unreadable, too
large, not JSON or of another version is ignored (treated as empty), never an error. Entries
beyond a cap are dropped, least recently used first, and so are cache files of roots not
inspected for a long time.
"""

import contextlib
import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from inspector import outputs
from inspector.errors import ReaderError
from inspector.measure.walker import SETTLED_FIELDS
from inspector.model import Usage
from inspector.paths import inside as _inside
from inspector.readers import entrycache, fs

#: Bumped whenever the meaning of a stored number changes; other versions are ignored.
FORMAT_VERSION = 1
#: Most entries kept per root (each ~150 bytes of JSON): far above any real layer count.
MAX_ENTRIES = 50_000
#: Most root files kept in the cache dir (oldest dropped): tests make many throw-away roots.
MAX_ROOT_FILES = 64
#: A cache file larger than this is ignored rather than parsed.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Hard links leaving a dir are remembered per entry; a dir with more is not cached.
MAX_LINKS_PER_ENTRY = 1_000
#: A hit refreshes an entry's use time (costing a write) only when it is older than this.
USED_REFRESH_SECONDS = 86400.0
#: Temp files older than this are leftovers of a killed run and may be removed.
STALE_TEMP_SECONDS = 3600.0

Identity = tuple[int, ...]
"""Numbers that change whenever a cached dir is replaced or modified at its top."""

Link = tuple[int, int, int]
"""(st_dev, st_ino, allocated bytes) of a multi-link inode whose links leave the dir."""


class CacheRefused(outputs.OutputRefused):
    """The cache location is inside the data root: the tool never writes there."""


_LABEL = "the size cache dir"
_HINT = (
    "; docker-inspector never writes there. Set XDG_CACHE_HOME to a directory outside the "
    "root, or use --no-cache."
)


class Entry(NamedTuple):
    """What one walk of an immutable dir measured, and when the dir was what it is now."""

    identity: Identity
    """The dir's identity when it was walked (see :func:`identity`)."""
    usage: Usage
    """The walk (apparent of the diff dir, disk of the whole dir; links not yet counted)."""
    used: float = 0.0
    """time.time() of the last run that used or stored it (for least-recently-used eviction)."""


def identity(
    layer_dir: str, diff_dir: str | None, extra: Iterable[int | str] = ()
) -> Identity | None:
    """The identity of an immutable dir now; None when it cannot be taken (then do not cache).

    lstat only. `extra` adds what the metadata says about the layer (cache-id, recorded size,
    diff ID), so a layerdb entry pointing at the same dir with other facts misses too.
    """
    stats: tuple[os.stat_result, ...]
    try:
        # Beneath the root: a symlink on the way is not followed. The diff dir inside the
        # layer dir is stat'ed relative to it (5,000 layers: 5,000 path resolutions fewer).
        if diff_dir is None:
            stats = (fs.lstat(layer_dir),)
        elif os.path.dirname(diff_dir) == layer_dir:
            stats = fs.lstat_with_entry(layer_dir, os.path.basename(diff_dir))
        else:
            stats = (fs.lstat(layer_dir), fs.lstat(diff_dir))
    except (OSError, ReaderError):
        return None
    return _identity_of(stats, extra)


def identities(
    parent: str, names: Iterable[str], entry: str, extra: Mapping[str, Iterable[int | str]]
) -> dict[str, Identity | None]:
    """:func:`identity` of many dirs of one parent, each with its `entry` (``diff``): the
    parent is opened once (fs.lstat_dirs_with_entry). `extra` by name."""
    names = list(names)
    try:
        stats = fs.lstat_dirs_with_entry(parent, names, entry)
    except (OSError, ReaderError):
        return dict.fromkeys(names)
    return {
        n: None if got is None else _identity_of(got, extra.get(n, ())) for n, got in stats.items()
    }


def _identity_of(stats: tuple[os.stat_result, ...], extra: Iterable[int | str]) -> Identity | None:
    out: list[int] = []
    for st in stats:
        if not stat.S_ISDIR(st.st_mode):
            return None
        out += [st.st_dev, st.st_ino, st.st_ctime_ns, st.st_mtime_ns]
    if len(stats) == 1:
        out += [0, 0, 0, 0]
    facts = list(extra)
    if facts:
        # The facts enter as one stable integer digest (JSON keeps ints exactly): one hash
        # per layer, whatever the number of facts. repr keeps 5 and "5" apart.
        digest = hashlib.sha256(repr(facts).encode()).digest()
        out.append(int.from_bytes(digest[:8], "big"))
    return tuple(out)


def cache_dir(root: str, env: Mapping[str, str] | None = None) -> str | None:
    """The cache directory to use for `root`; None when there is no home to put it in.

    Raises CacheRefused when it would be inside the data root (e.g. XDG_CACHE_HOME or HOME
    pointing into it): the read-only guarantee wins over speed.
    """
    path = entrycache.cache_home(env)
    if path is None:
        return None
    if _inside(path, root):
        raise CacheRefused(f"{_LABEL} {path} is inside the data root {root}{_HINT}")
    return path


def file_name(root: str) -> str:
    """Cache file name for a root: a hash of its absolute path (one file per root)."""
    digest = hashlib.sha256(os.fsencode(os.path.abspath(root))).hexdigest()[:32]
    return f"sizes-{digest}.json"


def _ints(values: list[object], bools: bool) -> bool:
    """Whether every value is an int. Without a loop in Python when the file holds no JSON
    `true` or `false` (`bools` False): a sum of ints is an int; a float makes it a float,
    anything else raises."""
    if bools:
        return all(type(x) is int for x in values)
    try:
        return type(sum(values)) is int  # type: ignore[arg-type]
    except TypeError:
        return False


def _entry_from_json(raw: object, bools: bool = True) -> Entry | None:
    """Decode one stored entry; None when it is malformed in any way (`bools`: whether the
    file may hold a JSON boolean, see :func:`_ints`)."""
    if type(raw) is not list or len(raw) != 7:
        return None
    ident, apparent, payload, disk, files, links, used = raw
    if type(ident) is not list or not _ints(ident, bools):
        return None
    counts = [apparent, payload, disk, files]
    if not _ints(counts, bools) or min(counts) < 0:
        return None
    if not isinstance(used, int | float) or isinstance(used, bool):
        return None
    if not isinstance(links, list) or len(links) > MAX_LINKS_PER_ENTRY:
        return None
    parsed: list[Link] = []
    for link in links:
        if not (isinstance(link, list) and len(link) == 3 and all(type(x) is int for x in link)):
            return None
        parsed.append((link[0], link[1], link[2]))
    usage = Usage(apparent, disk, files, payload=payload, links=tuple(parsed))
    return Entry(tuple(ident), usage, float(used))


def _entry_to_json(e: Entry) -> list[object]:
    u = e.usage
    return [
        list(e.identity),
        u.apparent,
        u.payload,
        u.disk,
        u.files,
        [list(x) for x in u.links],
        e.used,
    ]


Signature = tuple[int, int, int, int]
"""(st_dev, st_ino, st_size, st_mtime_ns) of a cache file: tells whether another run wrote it."""


class _Loaded(NamedTuple):
    entries: dict[str, Entry]
    hints: dict[str, int]
    signature: Signature | None
    dirs: dict[str, list[int]] = {}


_EMPTY = _Loaded({}, {}, None)

#: Most settled-dir records kept (see walker.Settled; one per layerdb entry and image).
MAX_DIRS = 100_000


def _dirs_from_json(raw: object, bools: bool = True) -> dict[str, list[int]]:
    """Settled dirs' records (relative path -> walker.SETTLED_FIELDS ints); malformed ones
    are dropped."""
    if not isinstance(raw, dict) or len(raw) > MAX_DIRS:
        return {}
    out: dict[str, list[int]] = {}
    for rel, rec in raw.items():
        if (
            type(rel) is str
            and type(rec) is list
            and len(rec) == SETTLED_FIELDS
            and _ints(rec, bools)
            and min(rec[4:]) >= 0
        ):
            out[rel] = rec
    return out


def _load(path: str, root: str, dir_fd: int | None = None) -> _Loaded:
    """Entries of a cache file; empty for a missing, unreadable, oversized or corrupt file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return _EMPTY
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
            return _EMPTY
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError:
        return _EMPTY
    finally:
        os.close(fd)
    signature = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return _Loaded({}, {}, signature)
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
        return _Loaded({}, {}, signature)
    # A hash collision (or a copied file) must not lend one root's sizes to another.
    raw = doc.get("entries")
    if doc.get("root") != os.path.abspath(root) or not isinstance(raw, dict):
        return _Loaded({}, {}, signature)
    # Only a file holding a JSON boolean needs the per-value type check (see _ints).
    bools = b"true" in data or b"false" in data
    out: dict[str, Entry] = {}
    for name, value in raw.items():
        e = _entry_from_json(value, bools)
        if isinstance(name, str) and e is not None:
            out[name] = e
    hints_raw = doc.get("hints")
    hints: dict[str, int] = {}
    if isinstance(hints_raw, dict):
        hints = {k: v for k, v in hints_raw.items() if isinstance(k, str) and type(v) is int}
    return _Loaded(out, hints, signature, _dirs_from_json(doc.get("dirs"), bools))


def _signature(path: str, dir_fd: int | None = None) -> Signature | None:
    try:
        st = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class SizeCache:
    """The cache of one data root: load once, look up and store during a scan, save once."""

    def __init__(self, root: str, directory: str | None) -> None:
        """Use `directory` (None: a cache that remembers nothing and saves nothing)."""
        self.root = os.path.abspath(root)
        self.directory = directory
        self.path = os.path.join(directory, file_name(root)) if directory else None
        loaded = _load(self.path, self.root) if self.path else _EMPTY
        self.entries: dict[str, Entry] = dict(loaded.entries)
        self.hints: dict[str, int] = dict(loaded.hints)
        """Small numbers about the last run (e.g. entries walked outside image layers)."""
        self.dirs: dict[str, list[int]] = dict(loaded.dirs)
        """Settled dirs' records by path relative to the root (see walker.Settled)."""
        self._signature = loaded.signature
        self._mine: set[str] = set()
        self._dirty = False
        self.now = time.time()
        self.hits = 0
        self.misses = 0

    @classmethod
    def open(cls, root: str, env: Mapping[str, str] | None = None) -> "SizeCache":
        """The cache of `root` in the user's cache dir (CacheRefused if that is in the root)."""
        return cls(root, cache_dir(root, env))

    @property
    def enabled(self) -> bool:
        """Whether this cache has a file to load from and save to."""
        return self.path is not None

    def get(self, name: str, ident: Identity | None) -> Entry | None:
        """The entry for storage dir `name` if it was stored with exactly `ident`."""
        e = self.entries.get(name)
        if e is None or ident is None or e.identity != ident:
            self.misses += 1
            return None
        self.hits += 1
        if self.now - e.used > USED_REFRESH_SECONDS:
            # Refreshing the use time costs a write: do it only when it is getting old.
            e = e._replace(used=self.now)
            self.entries[name] = e
            self._mine.add(name)
            self._dirty = True
        return e

    def put(self, name: str, entry: Entry) -> None:
        """Remember a new measurement (saved by :meth:`save`)."""
        if len(entry.usage.links) > MAX_LINKS_PER_ENTRY or not entry.usage.complete:
            return
        self.entries[name] = entry._replace(used=self.now)
        self._mine.add(name)
        self._dirty = True

    def settled_known(self) -> dict[str, list[int]]:
        """The settled dirs' records by absolute path (what walker.Settled.known wants)."""
        base = self.root.rstrip("/") + "/"
        return {base + rel: rec for rel, rec in self.dirs.items()}

    def settle(self, records: Iterable[tuple[str, list[int]]], used: Iterable[str]) -> None:
        """Keep the settled dirs a scan used and the ones it learned; forget the rest (their
        dirs are gone or changed)."""
        base = self.root.rstrip("/") + "/"
        cut = len(base)
        new = {p[cut:]: self.dirs[p[cut:]] for p in used if p[cut:] in self.dirs}
        for path, rec in records:
            if path.startswith(base):
                new[path[cut:]] = rec
        if len(new) > MAX_DIRS:
            return
        if new != self.dirs:
            self.dirs = new
            self._dirty = True

    def hint(self, key: str, value: int) -> None:
        """Remember a number for the next run (written with other changes, or if it moved a lot)."""
        old = self.hints.get(key)
        self.hints[key] = value
        if old is None or abs(value - old) > max(old, 1000) // 2:
            self._dirty = True

    def hint_group(self, prefix: str, values: Mapping[str, int]) -> None:
        """Replace every hint whose key starts with `prefix` by `values` (keys with it)."""
        stale = [k for k in self.hints if k.startswith(prefix) and k not in values]
        for k in stale:
            del self.hints[k]
            self._dirty = True
        for k, v in values.items():
            self.hint(k, v)

    def save(self, present: Iterable[str] | None = None) -> bool:
        """Write the cache atomically if anything changed; False when nothing was written.

        Never raises OSError; raises CacheRefused when the cache dir has come to lie inside
        the root since :func:`cache_dir` checked it. `present` names the storage dirs that
        exist now: entries of other names are dropped (their dirs are gone, and IDs are
        random, so they would never hit again).
        """
        if self.directory is None or self.path is None:
            return False
        keep = set(present) if present is not None else None
        if keep is not None and any(n not in keep for n in self.entries):
            self._dirty = True
        if not self._dirty:
            return False
        try:
            dir_fd = outputs.make_dirs(
                self.directory, [self.root], label=_LABEL, hint=_HINT, refused=CacheRefused
            )
        except OSError:
            return False
        try:
            return self._save_at(dir_fd, keep)
        finally:
            os.close(dir_fd)

    def _save_at(self, dir_fd: int, keep: set[str] | None) -> bool:
        """:meth:`save` in the checked cache dir open as `dir_fd`."""
        assert self.directory is not None
        name = file_name(self.root)
        merged = dict(self.entries)
        if _signature(name, dir_fd) != self._signature:
            # Another run saved since we loaded: keep its newer entries (ours win on a tie).
            other = _load(name, self.root, dir_fd).entries
            for n, e in other.items():
                mine = merged.get(n)
                if mine is None or (n not in self._mine and e.used > mine.used):
                    merged[n] = e
        if keep is not None:
            merged = {n: e for n, e in merged.items() if n in keep}
        if len(merged) > MAX_ENTRIES:
            newest = sorted(merged.items(), key=lambda kv: kv[1].used, reverse=True)[:MAX_ENTRIES]
            merged = dict(newest)
        doc = {
            "version": FORMAT_VERSION,
            "root": self.root,
            "hints": self.hints,
            "entries": {n: _entry_to_json(e) for n, e in sorted(merged.items())},
            "dirs": self.dirs,
        }
        data = json.dumps(doc, separators=(",", ":")).encode()
        try:
            # ".tmp-…": the prefix _tidy() recognises as a killed run's leftover.
            outputs.write_at(
                dir_fd,
                name,
                data,
                [self.root],
                label=_LABEL,
                shown=self.directory,
                mode=outputs.PRIVATE_MODE,
                hint=_HINT,
                refused=CacheRefused,
                tmp_prefix=".tmp-",
                tmp_suffix=".json",
            )
        except OSError:
            return False
        self.entries = merged
        self._signature = _signature(name, dir_fd)
        self._dirty = False
        self._tidy(dir_fd)
        return True

    def _tidy(self, dir_fd: int) -> None:
        """Drop the oldest root files beyond MAX_ROOT_FILES and temp files of killed runs.

        Relative to the checked cache dir's descriptor, so that nothing is ever removed
        elsewhere through a dir swapped meanwhile.
        """
        try:
            with os.scandir(dir_fd) as it:
                found = [(e.name, e.stat(follow_symlinks=False)) for e in it]
        except OSError:
            return
        now = time.time()
        mine = file_name(self.root)
        # Per root: this cache's file and the metadata cache's (inspector.readers.entrycache).
        kinds: dict[tuple[str, str], list[tuple[float, str]]] = {
            ("sizes-", ".json"): [],
            ("entries-", ".pickle"): [],
        }
        for name, st in found:
            if not stat.S_ISREG(st.st_mode):
                continue
            if name.startswith(".tmp-") and now - st.st_mtime > STALE_TEMP_SECONDS:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=dir_fd)
                continue
            for (prefix, suffix), roots in kinds.items():
                if name.startswith(prefix) and name.endswith(suffix):
                    roots.append((st.st_mtime, name))
        keep = {mine, entrycache.file_name(self.root)}
        for roots in kinds.values():
            roots.sort(reverse=True)
            for _, name in roots[MAX_ROOT_FILES:]:
                if name not in keep:
                    with contextlib.suppress(OSError):
                        os.unlink(name, dir_fd=dir_fd)


def disabled(root: str) -> SizeCache:
    """A cache that never hits and never writes (``--no-cache``)."""
    return SizeCache(root, None)
