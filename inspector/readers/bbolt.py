"""A small, bounds-checked, read-only reader for bbolt (etcd-io/bbolt) database files.

Docker keeps several indexes in bbolt files (``volumes/metadata.db``, ``buildkit/*.db``). The
daemon holds ``flock(LOCK_EX)`` on them for its whole life, so we never lock, never open for
writing and never mmap: the file is read once into memory with ``fs.read_bytes`` (O_NOFOLLOW,
capped) and parsed from that private copy.

Format (see docs/docker-format.md §9 and bbolt ``internal/common``): the file is an array of
pages; pages 0 and 1 are meta pages, the valid one with the larger txid names the root bucket's
root page; buckets are B+trees of branch and leaf pages, and a small bucket may be stored
*inline* in its parent's leaf value. The freelist is ignored: we only follow the tree.

The input is treated as hostile: every offset is bounds-checked, page IDs must lie below the
meta's high-water mark and inside the file, a page reached twice is a cycle, bucket nesting and
the total number of elements are capped. Every problem raises :class:`BoltError`.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterator

from inspector.errors import ReaderError
from inspector.readers.fs import read_bytes

__all__ = [
    "DEFAULT_CAP",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "BoltBucket",
    "BoltError",
    "load_bolt",
    "parse_bolt",
]

#: Default cap on the size of a database file read by :func:`load_bolt`.
DEFAULT_CAP = 512 * 1024 * 1024
#: Deepest bucket nesting accepted (the root bucket is depth 0).
MAX_DEPTH = 64
#: Most branch + leaf elements accepted in one file (bounds memory on a hostile file).
MAX_ELEMENTS = 4_000_000

_MAGIC = 0xED0CDAED
_VERSION = 2
_PAGE_HEADER = 16  # id u64, flags u16, count u16, overflow u32
_ELEMENT = 16  # both branch and leaf elements are 16 bytes
_BUCKET_HEADER = 16  # root pgid u64, sequence u64
_META_CHECKED = 56  # the checksum covers the meta body up to (not including) itself

_BRANCH_PAGE = 0x01
_LEAF_PAGE = 0x02
_META_PAGE = 0x04
_BUCKET_LEAF_FLAG = 0x01

_MIN_PAGE_SIZE = 512
_MAX_PAGE_SIZE = 1 << 20

_HEADER = struct.Struct("<QHHI")
_META = struct.Struct("<IIIIQQQQQQ")  # magic .. txid, checksum
_BRANCH_ELEM = struct.Struct("<IIQ")  # pos, ksize, pgid
_LEAF_ELEM = struct.Struct("<IIII")  # flags, pos, ksize, vsize
_U64 = struct.Struct("<Q")

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = (1 << 64) - 1

#: Attempts made by load_bolt: a live daemon may rewrite pages while we read the file.
_ATTEMPTS = 3


class BoltError(ReaderError):
    """A bbolt file is truncated, corrupt, hostile, or changed while being read."""


class BoltBucket:
    """One bbolt bucket: ``bytes`` keys mapped to ``bytes`` values or nested buckets.

    Keys keep bbolt's order (ascending bytewise). Values may be empty (``b""``). A key maps to
    either a value or a sub-bucket, never both. Use :meth:`get` for either kind, :meth:`value`
    and :meth:`bucket` when only one kind is acceptable, :meth:`values` / :meth:`buckets` for
    the two kinds separately.
    """

    __slots__ = ("_items",)

    def __init__(self, items: dict[bytes, bytes | BoltBucket] | None = None) -> None:
        self._items: dict[bytes, bytes | BoltBucket] = {} if items is None else items

    def get(self, key: bytes) -> bytes | BoltBucket | None:
        """The value or sub-bucket under ``key``, or None."""
        return self._items.get(key)

    def value(self, key: bytes) -> bytes | None:
        """The plain value under ``key``; None if missing or if ``key`` is a sub-bucket."""
        v = self._items.get(key)
        return v if isinstance(v, bytes) else None

    def bucket(self, key: bytes) -> BoltBucket | None:
        """The sub-bucket under ``key``; None if missing or if ``key`` is a plain value."""
        v = self._items.get(key)
        return v if isinstance(v, BoltBucket) else None

    def buckets(self) -> dict[bytes, BoltBucket]:
        """Sub-buckets only, name -> bucket, in key order."""
        return {k: v for k, v in self._items.items() if isinstance(v, BoltBucket)}

    def values(self) -> dict[bytes, bytes]:
        """Plain values only, key -> bytes, in key order."""
        return {k: v for k, v in self._items.items() if isinstance(v, bytes)}

    def items(self) -> list[tuple[bytes, bytes | BoltBucket]]:
        """Every entry, values and sub-buckets, in key order."""
        return list(self._items.items())

    def keys(self) -> list[bytes]:
        """Every key, in key order."""
        return list(self._items)

    def to_dict(self) -> dict[bytes, object]:
        """Plain nested dicts (sub-buckets become dicts): handy for tests and debugging."""
        out: dict[bytes, object] = {}
        stack: list[tuple[BoltBucket, dict[bytes, object]]] = [(self, out)]
        while stack:  # iterative: depth is already bounded, but recursion is never needed
            src, dst = stack.pop()
            for k, v in src._items.items():
                if isinstance(v, BoltBucket):
                    child: dict[bytes, object] = {}
                    dst[k] = child
                    stack.append((v, child))
                else:
                    dst[k] = v
        return out

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BoltBucket):
            return NotImplemented
        return self._items == other._items

    __hash__ = None  # type: ignore[assignment]  # mutable container, like dict

    def __repr__(self) -> str:
        return f"BoltBucket({self._items!r})"


def _fnv1a64(data: bytes) -> int:
    h = _FNV_OFFSET
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & _MASK64
    return h


class _Meta:
    __slots__ = ("page_size", "pgid", "root", "txid")

    def __init__(self, page_size: int, root: int, pgid: int, txid: int) -> None:
        self.page_size = page_size
        self.root = root
        self.pgid = pgid
        self.txid = txid


def _read_meta(data: bytes, offset: int) -> _Meta | str:
    """The meta page at ``offset``, or a string saying why it is not valid."""
    body = offset + _PAGE_HEADER
    if offset < 0 or body + _META.size > len(data):
        return f"meta page at offset {offset} is beyond the end of the file"
    _pid, flags, _count, _overflow = _HEADER.unpack_from(data, offset)
    magic, version, page_size, _mflags, root, _seq, _freelist, pgid, txid, checksum = (
        _META.unpack_from(data, body)
    )
    if magic != _MAGIC:
        return f"meta page at offset {offset}: bad magic {magic:#x}"
    if version != _VERSION:
        return f"meta page at offset {offset}: unsupported version {version}"
    if checksum != _fnv1a64(data[body : body + _META_CHECKED]):
        return f"meta page at offset {offset}: checksum mismatch"
    if not flags & _META_PAGE:
        return f"meta page at offset {offset}: page flags {flags:#x} lack the meta flag"
    if page_size < _MIN_PAGE_SIZE or page_size > _MAX_PAGE_SIZE or page_size & (page_size - 1):
        return f"meta page at offset {offset}: implausible page size {page_size}"
    return _Meta(page_size, root, pgid, txid)


def _pick_meta(data: bytes) -> _Meta:
    """Choose the meta bbolt itself would use: the valid one with the larger txid."""
    if len(data) < _PAGE_HEADER + _META.size:
        raise BoltError(f"file too short for a bbolt database ({len(data)} bytes)")
    meta0 = _read_meta(data, 0)
    candidates: list[_Meta] = []
    if isinstance(meta0, _Meta):
        candidates.append(meta0)
        meta1 = _read_meta(data, meta0.page_size)
        # meta 1 must agree on the page size, or page offsets would mean different things.
        if isinstance(meta1, _Meta) and meta1.page_size == meta0.page_size:
            candidates.append(meta1)
    else:
        # Like bbolt's getPageSizeFromSecondMeta: meta 0 is unusable, so find the page size
        # by probing for a valid meta 1 at 1 KiB * 2^i.
        off = 1024
        while off <= _MAX_PAGE_SIZE and off + _PAGE_HEADER + _META.size <= len(data):
            meta1 = _read_meta(data, off)
            if isinstance(meta1, _Meta) and meta1.page_size == off:
                candidates.append(meta1)
                break
            off <<= 1
        if not candidates:
            raise BoltError(f"no valid meta page ({meta0}; no valid second meta page found)")
    best = max(candidates, key=lambda m: m.txid)
    if best.pgid < 2 or best.pgid * best.page_size > len(data):
        # A consistent file is always at least high-water-mark pages long (bbolt grows the
        # file before it writes the meta that refers to new pages).
        raise BoltError(
            f"meta (txid {best.txid}) claims {best.pgid} pages of {best.page_size} bytes, "
            f"but the file has {len(data)} bytes"
        )
    return best


class _Parser:
    """One parse of one file: shared limits and the set of pages already visited."""

    def __init__(self, data: bytes, meta: _Meta, max_elements: int, max_depth: int) -> None:
        self.data = data
        self.meta = meta
        self.max_elements = max_elements
        self.max_depth = max_depth
        self.elements = 0
        # A page belongs to exactly one place in the tree, so reaching one twice, in the same
        # bucket or another, means a cycle or a crafted file (and would multiply the work).
        self.visited: set[int] = set()

    def count(self, n: int) -> None:
        self.elements += n
        if self.elements > self.max_elements:
            raise BoltError(f"more than {self.max_elements} elements: refusing to continue")

    def page(self, pgid: int, where: str) -> tuple[int, int, int, int]:
        """Bounds-check page ``pgid``; return (offset, end, flags, count)."""
        meta = self.meta
        if pgid < 2 or pgid >= meta.pgid:
            raise BoltError(f"{where}: page id {pgid} outside 2..{meta.pgid - 1}")
        if pgid in self.visited:
            raise BoltError(f"{where}: page {pgid} reached twice (cycle or shared page)")
        off = pgid * meta.page_size
        if off + _PAGE_HEADER > len(self.data):
            raise BoltError(f"{where}: page {pgid} is beyond the end of the file")
        pid, flags, count, overflow = _HEADER.unpack_from(self.data, off)
        if pid != pgid:
            raise BoltError(f"{where}: page {pgid} has id {pid} in its header")
        if pgid + 1 + overflow > meta.pgid:
            raise BoltError(f"{where}: page {pgid} overflows past the high-water mark")
        end = off + (1 + overflow) * meta.page_size
        if end > len(self.data):
            raise BoltError(f"{where}: page {pgid} (+{overflow} overflow) ends past the file")
        # Overflow pages are part of this page: no other tree page may start inside them.
        # Each page ID is marked at most once per parse, so this stays linear in the file.
        span = range(pgid, pgid + 1 + overflow)
        if not self.visited.isdisjoint(span):
            raise BoltError(f"{where}: page {pgid} (+{overflow} overflow) overlaps another")
        self.visited.update(span)
        return off, end, flags, count

    def walk_bucket(
        self, bucket: BoltBucket, root: int, inline: bytes | None, depth: int, name: str
    ) -> list[tuple[BoltBucket, int, bytes | None, int, str]]:
        """Fill ``bucket`` from its tree; return the sub-buckets still to be walked."""
        items = bucket._items
        label = f"bucket {name!r}" if name else "root bucket"
        pending: list[tuple[BoltBucket, int, bytes | None, int, str]] = []
        last: bytes | None = None

        def add(key: bytes, flags: int, value: bytes, where: str) -> None:
            nonlocal last
            # Keys are strictly ascending within a bucket; anything else is corruption (or a
            # page rewritten under us by a live daemon, which load_bolt's retry handles).
            if last is not None and key <= last:
                raise BoltError(f"{where}: keys out of order or duplicated")
            last = key
            if not flags & _BUCKET_LEAF_FLAG:
                items[key] = value
                return
            if inline is not None:
                raise BoltError(f"{where}: an inline bucket contains a sub-bucket")
            shown = key.decode("utf-8", errors="backslashreplace")
            child_name = f"{name}/{shown}" if name else shown
            if depth + 1 > self.max_depth:
                raise BoltError(f"{where}: buckets nested deeper than {self.max_depth}")
            if len(value) < _BUCKET_HEADER:
                raise BoltError(f"{where}: bucket value for {child_name} is {len(value)} bytes")
            (child_root,) = _U64.unpack_from(value, 0)
            child = BoltBucket()
            items[key] = child
            if child_root == 0:
                pending.append((child, 0, value[_BUCKET_HEADER:], depth + 1, child_name))
            else:
                pending.append((child, child_root, None, depth + 1, child_name))

        if inline is not None:
            where = f"inline {label}"
            if len(inline) < _PAGE_HEADER:
                raise BoltError(f"{where}: {len(inline)} bytes, shorter than a page header")
            _pid, flags, count, _overflow = _HEADER.unpack_from(inline, 0)
            if not flags & _LEAF_PAGE:
                raise BoltError(f"{where}: page flags {flags:#x}, expected a leaf")
            self.count(count)
            for key, eflags, value in self.leaf(inline, 0, len(inline), count, where):
                add(key, eflags, value, where)
            return pending

        # Depth-first, left to right, with an explicit stack: keys come out in bbolt's order.
        stack = [root]
        while stack:
            pgid = stack.pop()
            where = f"{label}, page {pgid}"
            off, end, flags, count = self.page(pgid, label)
            self.count(count)
            if flags & _BRANCH_PAGE:
                children = self.branch(off, end, count, where)
                stack.extend(reversed(children))
            elif flags & _LEAF_PAGE:
                for key, eflags, value in self.leaf(self.data, off, end, count, where):
                    add(key, eflags, value, where)
            else:
                raise BoltError(f"{where}: flags {flags:#x}, expected a branch or leaf page")
        return pending

    def branch(self, off: int, end: int, count: int, where: str) -> list[int]:
        """Child page IDs of a branch page (keys are only separators: not returned)."""
        if count == 0:
            raise BoltError(f"{where}: empty branch page")
        data = self.data
        if off + _PAGE_HEADER + count * _ELEMENT > end:
            raise BoltError(f"{where}: {count} branch elements do not fit in the page")
        children = []
        for i in range(count):
            elem = off + _PAGE_HEADER + i * _ELEMENT
            pos, ksize, child = _BRANCH_ELEM.unpack_from(data, elem)
            if elem + pos + ksize > end:
                raise BoltError(f"{where}: branch element {i} key runs past the page")
            children.append(child)
        return children

    @staticmethod
    def leaf(
        buf: bytes, off: int, end: int, count: int, where: str
    ) -> Iterator[tuple[bytes, int, bytes]]:
        """(key, flags, value) of each element of the leaf page at ``buf[off:end]``."""
        if off + _PAGE_HEADER + count * _ELEMENT > end:
            raise BoltError(f"{where}: {count} leaf elements do not fit in the page")
        for i in range(count):
            elem = off + _PAGE_HEADER + i * _ELEMENT
            flags, pos, ksize, vsize = _LEAF_ELEM.unpack_from(buf, elem)
            kstart = elem + pos
            vstart = kstart + ksize
            if vstart + vsize > end:
                raise BoltError(f"{where}: leaf element {i} key/value run past the page")
            yield bytes(buf[kstart:vstart]), flags, bytes(buf[vstart : vstart + vsize])


def parse_bolt(
    data: bytes, *, max_elements: int = MAX_ELEMENTS, max_depth: int = MAX_DEPTH
) -> BoltBucket:
    """Parse a whole bbolt file image; return its root bucket. Raises only BoltError."""
    meta = _pick_meta(data)
    parser = _Parser(data, meta, max_elements, max_depth)
    root = BoltBucket()
    # An explicit work list of buckets still to walk: no recursion, whatever the nesting.
    todo: list[tuple[BoltBucket, int, bytes | None, int, str]] = [(root, meta.root, None, 0, "")]
    while todo:
        bucket, pgid, inline, depth, name = todo.pop()
        todo.extend(parser.walk_bucket(bucket, pgid, inline, depth, name))
    return root


def load_bolt(path: str, cap: int = DEFAULT_CAP) -> BoltBucket:
    """Read and parse the bbolt file at ``path`` read-only, without locking it.

    Raises FileNotFoundError unchanged if the file is missing, and BoltError (naming the file)
    for anything else. A live daemon may commit a transaction while we copy the file, so a
    parse failure is retried a few times on a fresh copy before it is reported.
    """
    shown = os.fsdecode(path)
    error: BoltError | None = None
    for attempt in range(_ATTEMPTS):
        if attempt:
            time.sleep(0.05 * attempt)  # give a writer in mid-commit time to finish
        try:
            data = read_bytes(path, cap)
        except ReaderError as e:
            raise BoltError(str(e)) from e  # already names the file; not worth retrying
        try:
            return parse_bolt(data)
        except BoltError as e:
            error = e
    raise BoltError(f"{shown}: {error}") from error
