"""The efficiency cache: per-layer and per-image results of ``docker-inspector efficiency``.

A layer's entries never change, and neither does what a layer does on top of the layers
below it (its chain ID names them all), so a second run over a host reads no tar-split at
all. Beside the size cache (:mod:`inspector.measure.sizecache`), in the same directory and with
the same safety: never inside the data root (:func:`sizecache.cache_dir` refuses it), written
through :mod:`inspector.outputs` (a fresh O_EXCL temp file renamed into place, the directory
checked against the root at write time), mode 0600, a corrupt, foreign or oversized file
ignored, bounded in entries, least recently used dropped first.

Each value is stored with the identity of the chain it was computed from (see
:func:`chain_identity`): the lstat of every layer's tar-split file (or walked diff dir) below
and including the layer, and the layers' IDs. A replaced file misses.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable, Mapping
from typing import Any

from inspector import outputs
from inspector.measure import sizecache
from inspector.measure.sizecache import CacheRefused

#: Bumped whenever the meaning of a stored value changes; other versions are ignored.
FORMAT_VERSION = 1
#: Most entries kept per root (two per layer at most).
MAX_ENTRIES = 50_000
#: A cache file larger than this is ignored rather than parsed.
MAX_FILE_BYTES = 128 * 1024 * 1024

_LABEL = "the efficiency cache dir"
_HINT = (
    "; docker-inspector never writes there. Set XDG_CACHE_HOME to a directory outside the "
    "root, or use --no-cache."
)


def file_name(root: str) -> str:
    """Cache file name for a root (beside the size cache's ``sizes-<hash>.json``)."""
    return "efficiency-" + sizecache.file_name(root).removeprefix("sizes-")


def chain_identity(parent: str | None, own: Iterable[int | str]) -> str:
    """The identity of a layer on its chain: its own facts hashed with its parent's identity."""
    h = hashlib.sha256((parent or "").encode())
    for x in own:
        h.update(b"\0" + str(x).encode())
    return h.hexdigest()


class EfficiencyCache:
    """Load once, look up and store during a run, save once (see the module doc)."""

    def __init__(self, root: str, directory: str | None) -> None:
        """Use `directory` (None: remembers nothing, saves nothing)."""
        self.root = os.path.abspath(root)
        self.directory = directory
        self.path = os.path.join(directory, file_name(root)) if directory else None
        self.entries: dict[str, list[Any]] = self._load() if self.path else {}
        self.identities: Mapping[str, str] = {}
        """Key → the identity its value must have been stored with (set by the caller)."""
        self._dirty = False
        self.now = time.time()
        self.hits = 0
        self.misses = 0

    @classmethod
    def open(cls, root: str, env: Mapping[str, str] | None = None) -> EfficiencyCache:
        """The cache of `root` in the user's cache dir (CacheRefused if that is in the root)."""
        return cls(root, sizecache.cache_dir(root, env))

    def _load(self) -> dict[str, list[Any]]:
        assert self.path is not None
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return {}
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
                return {}
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        except OSError:
            return {}
        finally:
            os.close(fd)
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            return {}
        if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
            return {}
        raw = doc.get("entries")
        if doc.get("root") != self.root or not isinstance(raw, dict):
            return {}
        out: dict[str, list[Any]] = {}
        for key, value in raw.items():
            if (
                isinstance(key, str)
                and isinstance(value, list)
                and len(value) == 3
                and isinstance(value[0], str)
                and isinstance(value[2], int | float)
            ):
                out[key] = value
        return out

    def get(self, key: str) -> Any:
        """The value stored under `key` with the identity it must have now, else None."""
        ident = self.identities.get(key.split(":", 1)[-1])
        e = self.entries.get(key)
        if ident is None or e is None or e[0] != ident:
            self.misses += 1
            return None
        self.hits += 1
        if self.now - e[2] > sizecache.USED_REFRESH_SECONDS:
            e[2] = self.now
            self._dirty = True
        return e[1]

    def put(self, key: str, value: Any) -> None:
        """Remember a value computed from the layers as they are now (saved by :meth:`save`)."""
        ident = self.identities.get(key.split(":", 1)[-1])
        if ident is None or self.path is None:
            return
        self.entries[key] = [ident, value, self.now]
        self._dirty = True

    def save(self, present: Iterable[str] | None = None) -> bool:
        """Write the cache atomically if anything changed; never raises OSError.

        `present` names the chain IDs of the layers that exist now: entries of others are
        dropped. CacheRefused when the cache dir has come to lie inside the data root.
        """
        if self.directory is None or self.path is None:
            return False
        entries = self.entries
        if present is not None:
            keep = set(present)
            entries = {k: v for k, v in entries.items() if k.split(":", 1)[-1] in keep}
            self._dirty = self._dirty or len(entries) != len(self.entries)
        if not self._dirty:
            return False
        if len(entries) > MAX_ENTRIES:
            newest = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)
            entries = dict(newest[:MAX_ENTRIES])
        doc = {"version": FORMAT_VERSION, "root": self.root, "entries": entries}
        data = json.dumps(doc, separators=(",", ":")).encode()
        if len(data) > MAX_FILE_BYTES:
            return False  # it would be ignored when read: keep the old one
        try:
            outputs.write_cache(
                self.directory,
                file_name(self.root),
                data,
                [self.root],
                label=_LABEL,
                hint=_HINT,
                refused=CacheRefused,
                tmp_suffix=".json",
            )
        except OSError:
            return False
        self._dirty = False
        return True


def disabled(root: str) -> EfficiencyCache:
    """A cache that never hits and never writes (``--no-cache``)."""
    return EfficiencyCache(root, None)


__all__ = ["CacheRefused", "EfficiencyCache", "chain_identity", "disabled", "file_name"]
