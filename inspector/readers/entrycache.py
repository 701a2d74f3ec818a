"""A per-root cache of parsed metadata entries, reused while an entry's directory is unchanged.

Reading the metadata of a big host is ~25,000 small files (5,000 layerdb entries of four to
six files each, 7,000 overlay2 dirs with ``link`` and ``lower``, 1,000 layerdb mounts): about
four system calls and some parsing per file, most of stage 1 (benchmarks/README.md). Yet
these entries are written once and then left alone by the daemon:

- ``layerdb/sha256/<chain>/`` is written in ``layerdb/tmp/`` and renamed into place whole;
- ``layerdb/mounts/<id>/`` gets its files when the container is created;
- ``overlay2/<id>/`` gets ``link`` and ``lower`` when the layer is created; what changes later
  (``merged/`` and ``work/`` at mount time, ``committed``) adds or removes an entry.

Each of those writes changes the entry dir's own mtime or ctime, so an entry's record is kept
with the dir's identity when it was read (device, inode, mode, size, mtime and ctime in ns,
from the lstat the readers take anyway) and reused, without opening anything in it, while a
new lstat gives the same identity. A dir replaced, renamed, or given or losing an entry reads
again. What the identity cannot see is a file inside the dir rewritten in place, which the
daemon never does (a person editing ``size`` with an editor that writes in place might):
``--no-cache`` reads every file, and so does any run after the dir itself changes.

Racy entries: an entry whose mtime or ctime is within :data:`SETTLE_SECONDS` of the start of
the run is read but not stored (a daemon may still be writing its files; timestamps are as
coarse as the kernel's clock tick, so a later write in the same tick would not change them).

Where: beside the size cache (``$XDG_CACHE_HOME/docker-inspector/`` or
``~/.cache/docker-inspector/``), one file per data root named by a hash of its path, written
through :mod:`inspector.outputs` (created and renamed atomically, 0600, refused inside the
root, checked at write time); never inside the data root. Loading trusts nothing: a file
that is not a regular file owned by this user and private to it, too large, of another
format, or that is not a pickle of plain values (the unpickler resolves no class or function
at all: records are stored as tuples of their fields and rebuilt here) is ignored, never an
error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import stat
import time
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from inspector import outputs
from inspector.errors import ReaderError
from inspector.paths import inside
from inspector.readers import fs

#: Bumped whenever what a record means changes; files of other versions are ignored.
FORMAT_VERSION = 1
#: An entry changed less than this before the run started is not stored (see the module doc).
SETTLE_SECONDS = 2.0
#: A cache file larger than this is ignored (5,000 layers and 7,000 dirs: ~4 MB).
MAX_FILE_BYTES = 256 * 1024 * 1024
APP_DIR = "docker-inspector"
_LABEL = "the metadata cache dir"
_HINT = "; docker-inspector never writes there."

Identity = tuple[int, ...]
"""Six numbers per lstat an entry is keyed by (its dir, and files whose mode matters)."""
Kept = dict[str, tuple[Identity, tuple[Any, ...]]]
"""Entry name -> (its dir's identity when read, the record's field values)."""
Outcome = tuple[list[str], Kept]
"""The names a run took from a section and the entries it added."""
R = TypeVar("R")


def cache_home(env: Mapping[str, str] | None = None) -> str | None:
    """``$XDG_CACHE_HOME/docker-inspector`` (an absolute XDG_CACHE_HOME only, as the XDG spec
    says) or ``~/.cache/docker-inspector``; None when there is no absolute home."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        home = env.get("HOME") or os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return os.path.join(base, APP_DIR)


def identity(st: os.stat_result | None, *more: os.stat_result | None) -> Identity:
    """What changes whenever an entry dir is replaced, renamed or gains or loses an entry
    (and, for `more`, whenever such a file is rewritten or its mode or owner change); zeros
    for a file that is not there."""
    out: tuple[int, ...] = ()
    for s in (st, *more):
        out += (
            (s.st_dev, s.st_ino, s.st_mode, s.st_size, s.st_mtime_ns, s.st_ctime_ns)
            if s is not None
            else (0, 0, 0, 0, 0, 0)
        )
    return out


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


class Section(Generic[R]):
    """The cached records of one kind of entry (layerdb layers, mounts, overlay2 dirs, ...).

    A record is kept as the tuple of its fields' values; `nested` names the fields holding a
    tuple of records of another dataclass (an image's history), kept as tuples of tuples.
    Anything else must be plain values (str, int, float, bool, None, tuple, dict): saving
    refuses the rest, and loading resolves no class.
    """

    def __init__(
        self, cls: type[R], stored: Kept, nested: Mapping[str, type] | None = None
    ) -> None:
        self.cls = cls
        self.names = _fields(cls)
        self._nested = [
            (self.names.index(f), sub, _fields(sub)) for f, sub in (nested or {}).items()
        ]
        self._stored = stored
        self.schema = _schema(cls, nested)
        self.hits: list[str] = []
        self.fresh: Kept = {}
        self.settled_before = 0

    def __len__(self) -> int:
        return len(self._stored)

    def lookup(self, name: str, st: os.stat_result, *more: os.stat_result | None) -> R | None:
        """The record kept for `name` if its dir (and the files in `more`) still have the
        identity they had when it was read."""
        kept = self._stored.get(name)
        if kept is None or kept[0] != identity(st, *more):
            return None
        try:
            if self._nested:
                values = list(kept[1])
                for i, sub, _ in self._nested:
                    values[i] = tuple([sub(*v) for v in values[i]])
                record = self.cls(*values)
            else:
                record = self.cls(*kept[1])
        except (TypeError, IndexError):  # a file of this format with other fields: read it
            return None
        self.hits.append(name)
        return record

    def lookup_all(self, st: os.stat_result) -> dict[str, R] | None:
        """Every kept record, if all were stored under the identity `st` gives: a section
        holding the entries of one dir whose entries never change in place (symlinks, in
        ``overlay2/l/``), keyed by that dir (None: read it)."""
        ident = identity(st)
        if not self._stored or any(kept[0] != ident for kept in self._stored.values()):
            return None
        out: dict[str, R] = {}
        for name in self._stored:
            record = self.lookup(name, st)
            if record is None:
                return None
            out[name] = record
        return out

    def store(self, name: str, st: os.stat_result, record: R, *more: os.stat_result | None) -> None:
        """Keep `record`, read after `st` (and `more`) were taken, unless any changed too
        recently."""
        for x in (st, *more):
            if x is not None and max(x.st_mtime_ns, x.st_ctime_ns) >= self.settled_before:
                return
        values = [getattr(record, n) for n in self.names]
        for i, _, names in self._nested:
            values[i] = tuple([tuple([getattr(v, n) for n in names]) for v in values[i]])
        self.fresh[name] = (identity(st, *more), tuple(values))

    def outcome(self) -> Outcome:
        """What this run used and added (a forked reader sends it to its parent)."""
        return self.hits, self.fresh

    def absorb(self, outcome: Outcome) -> None:
        """Take in what the same section used and added in a forked child."""
        hits, fresh = outcome
        if hits is not self.hits:
            self.hits.extend(hits)
        self.fresh.update(fresh)

    def kept(self) -> Kept:
        """What the next run can use: the entries seen this run (others are gone)."""
        out = {n: self._stored[n] for n in self.hits if n in self._stored}
        out.update(self.fresh)
        return out

    def changed(self) -> bool:
        return bool(self.fresh) or len(self.hits) != len(self._stored)


class _PlainPickler(pickle.Pickler):
    """Plain values only: a record holding anything else is a bug, and nothing is saved."""

    def reducer_override(self, obj: Any) -> Any:
        # Called for every object the pickler does not handle natively (not for str, int,
        # float, bytes, tuple, list, dict, set, None, bools).
        raise pickle.PicklingError(f"{type(obj).__qualname__} in the metadata cache")


class _PlainUnpickler(pickle.Unpickler):
    """Plain values only: any class or function reference in the file is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in the metadata cache")


class EntryCache:
    """The cache of one data root; :meth:`disabled` does nothing (``--no-cache``)."""

    def __init__(
        self,
        root: str,
        directory: str | None,
        sections: dict[str, Any],
        started: float,
    ) -> None:
        self.root = root
        self.directory = directory
        self._loaded = sections
        self._sections: dict[str, Section[Any]] = {}
        self.started = started

    @classmethod
    def disabled(cls, root: str) -> EntryCache:
        return cls(root, None, {}, time.time())

    @classmethod
    def open(cls, root: str, env: Mapping[str, str] | None = None) -> EntryCache:
        """Load the cache of `root` (empty when absent, unusable, or its dir is in the root)."""
        started = time.time()
        home = cache_home(env)
        if home is None or inside(home, root):
            return cls(root, None, {}, started)
        sections = _load(os.path.join(home, file_name(root)), root)
        return cls(root, home, sections, started)

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def section(
        self, kind: str, cls: type[R], nested: Mapping[str, type] | None = None
    ) -> Section[R] | None:
        """The section for `kind` (None when the cache is off); see :class:`Section`."""
        if not self.enabled:
            return None
        sec = self._sections.get(kind)
        if sec is None:
            schema = _schema(cls, nested)
            stored = (
                self._loaded.get(kind, {}) if schema == self._loaded.get(f"{kind}:schema") else {}
            )
            sec = Section(cls, stored, nested)
            sec.settled_before = int((self.started - SETTLE_SECONDS) * 1e9)
            self._sections[kind] = sec
        return sec

    def save(self) -> bool:
        """Write the cache when anything changed; never raises (a cache only saves time)."""
        if self.directory is None or not any(s.changed() for s in self._sections.values()):
            return False
        doc: dict[str, Any] = {"format": FORMAT_VERSION, "root": os.path.abspath(self.root)}
        for kind, sec in self._sections.items():
            doc[kind] = sec.kept()
            doc[f"{kind}:schema"] = sec.schema
        try:
            buf = io.BytesIO()
            _PlainPickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(doc)
            outputs.write_cache(
                self.directory,
                file_name(self.root),
                buf.getvalue(),
                [self.root],
                label=_LABEL,
                hint=_HINT,
                tmp_suffix=".pickle",
            )
        except (OSError, outputs.OutputRefused, pickle.PicklingError):
            return False
        return True


def _schema(cls: type, nested: Mapping[str, type] | None = None) -> tuple[Any, ...]:
    """What a section's stored tuples mean: field names, and those of nested records."""
    subs = tuple(sorted((f, sub.__qualname__, _fields(sub)) for f, sub in (nested or {}).items()))
    return (cls.__qualname__, _fields(cls), subs)


def file_name(root: str) -> str:
    """Cache file name for a root: a hash of its absolute path (one file per root)."""
    digest = hashlib.sha256(os.fsencode(os.path.abspath(root))).hexdigest()[:32]
    return f"entries-{digest}.pickle"


def _load(path: str, root: str) -> dict[str, Any]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return {}
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return {}
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        os.close(fd)
        return {}
    try:
        data = fs.read_fd(fd, path, MAX_FILE_BYTES)  # capped; closes it
    except ReaderError:
        return {}
    try:
        doc = _PlainUnpickler(io.BytesIO(data)).load()
    except Exception:  # noqa: BLE001 - any damage to the file means: no cache
        return {}
    if (
        not isinstance(doc, dict)
        or doc.get("format") != FORMAT_VERSION
        or doc.get("root") != os.path.abspath(root)
    ):
        return {}
    return _valid(doc)


def _valid(doc: dict[str, Any]) -> dict[str, Any]:
    """The sections of a loaded file whose shape is right (others are dropped)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if not isinstance(key, str) or key in ("format", "root"):
            continue
        if key.endswith(":schema"):
            out[key] = value
            continue
        if isinstance(value, dict) and all(_entry_ok(k, v) for k, v in value.items()):
            out[key] = value
    return out


def _entry_ok(name: object, kept: object) -> bool:
    return (
        isinstance(name, str)
        and isinstance(kept, tuple)
        and len(kept) == 2
        and isinstance(kept[0], tuple)
        and len(kept[0]) % 6 == 0
        and isinstance(kept[1], tuple)
    )


__all__ = ["EntryCache", "Kept", "Outcome", "Section", "cache_home", "file_name", "identity"]
