"""A small, bounds-checked, read-only reader for bbolt (etcd-io/bbolt) database files.

Docker keeps several indexes in bbolt files (``volumes/metadata.db``, ``buildkit/*.db``). The
daemon holds ``flock(LOCK_EX)`` on them for its whole life, so we never lock, never open for
writing and never mmap (a file truncated under a mapping would kill us with SIGBUS). A small
file (up to :data:`WHOLE_FILE_LIMIT`) is read once with ``fs.read_bytes`` and parsed from that
private copy; a bigger one is read page by page with ``os.pread`` from one descriptor opened
the same safe way, so memory follows what is kept, not the size of the file.

Format (see docs/docker-format.md §9 and bbolt ``internal/common``): the file is an array of
pages; pages 0 and 1 are meta pages, the valid one with the larger txid names the root bucket's
root page; buckets are B+trees of branch and leaf pages, and a small bucket may be stored
*inline* in its parent's leaf value. The freelist is ignored: we only follow the tree.

The input is treated as hostile: every offset is bounds-checked, page IDs must lie below the
meta's high-water mark and inside the file, a page reached twice is a cycle, bucket nesting and
the total number of elements are capped, and so are the bytes kept. A value over ``max_value``
is never read: its key and size are recorded in :attr:`BoltBucket.oversized` instead. Every
problem raises :class:`BoltError`.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterator

from inspector.errors import ReaderError
from inspector.readers import fs
from inspector.readers.fs import read_bytes

__all__ = [
    "DEFAULT_CAP",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "MAX_KEY",
    "MAX_VALUE",
    "WHOLE_FILE_LIMIT",
    "BoltBucket",
    "BoltError",
    "load_bolt",
    "parse_bolt",
]

#: Default cap on the size of a database file read by :func:`load_bolt`.
DEFAULT_CAP = 512 * 1024 * 1024
#: Files up to this size are read whole (fast); bigger ones are read page by page.
WHOLE_FILE_LIMIT = 16 * 1024 * 1024
#: Default cap on one value: a bigger one is recorded in ``BoltBucket.oversized``, not read.
MAX_VALUE = 16 * 1024 * 1024
#: bbolt's own MaxKeySize: no bbolt writer makes a longer key, so one is corruption.
MAX_KEY = 32768
#: Deepest bucket nesting accepted (the root bucket is depth 0).
MAX_DEPTH = 64
#: Most branch + leaf elements accepted in one file (bounds memory on a hostile file).
MAX_ELEMENTS = 4_000_000

#: Pages up to this span are read with one pread; a longer one (a leaf with many overflow
#: pages) is read piecewise: its element array, then only the keys and the values kept.
_PAGE_BUFFER = 1 << 20
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


class _ReadFailure(BoltError):
    """An I/O error while reading: the message names the file, and retrying will not help."""


class BoltBucket:
    """One bbolt bucket: ``bytes`` keys mapped to ``bytes`` values or nested buckets.

    Keys keep bbolt's order (ascending bytewise). Values may be empty (``b""``). A key maps to
    either a value or a sub-bucket, never both. Use :meth:`get` for either kind, :meth:`value`
    and :meth:`bucket` when only one kind is acceptable, :meth:`values` / :meth:`buckets` for
    the two kinds separately.

    ``oversized`` maps the key of each value (or inline sub-bucket) larger than the parse's
    ``max_value`` to its size in bytes. Such an entry was never read: it is not among the
    items, so ``get``/``value``/``in`` do not see it.
    """

    __slots__ = ("_items", "oversized")

    def __init__(
        self,
        items: dict[bytes, bytes | BoltBucket] | None = None,
        oversized: dict[bytes, int] | None = None,
    ) -> None:
        self._items: dict[bytes, bytes | BoltBucket] = {} if items is None else items
        self.oversized: dict[bytes, int] = {} if oversized is None else oversized

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
        return self._items == other._items and self.oversized == other.oversized

    __hash__ = None  # type: ignore[assignment]  # mutable container, like dict

    def __repr__(self) -> str:
        if self.oversized:
            return f"BoltBucket({self._items!r}, oversized={self.oversized!r})"
        return f"BoltBucket({self._items!r})"


# --- where the bytes come from ---------------------------------------------------------------


class _Source:
    """The bytes of one file image: ``size`` bytes, read by offset.

    ``read`` may return fewer bytes than asked only at the end of the data (a file that shrank
    under us); callers go through :func:`_read_exact`, which turns that into a BoltError.
    """

    __slots__ = ("size",)

    #: Reads are slices of memory: no point in buffering pages.
    in_memory = True

    def __init__(self, size: int) -> None:
        self.size = size

    def read(self, offset: int, n: int) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the source holds (a descriptor); the default holds nothing."""


class _BytesSource(_Source):
    """A file image already in memory (the whole-file path, tests, inline buckets)."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        super().__init__(len(data))
        self._data = data

    def read(self, offset: int, n: int) -> bytes:
        return self._data[offset : offset + n]


class _FileSource(_Source):
    """A file read on demand with pread: only the pages (and values) the parse needs."""

    __slots__ = ("_fd", "_shown")

    in_memory = False

    def __init__(self, fd: int, size: int, shown: str) -> None:
        super().__init__(size)
        self._fd = fd
        self._shown = shown

    @classmethod
    def open(cls, path: str, cap: int) -> _FileSource:
        """Open ``path`` as ``fs.read_bytes`` does; the same errors, the same messages."""
        fd, st = fs.open_regular(path, cap)
        return cls(fd, st.st_size, os.fsdecode(path))

    def read(self, offset: int, n: int) -> bytes:
        chunks: list[bytes] = []
        got = 0
        while got < n:
            try:
                chunk = os.pread(self._fd, n - got, offset + got)
            except OSError as e:
                raise _ReadFailure(f"{self._shown}: {e.strerror or e}") from e
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _read_exact(source: _Source, offset: int, n: int) -> bytes:
    data = source.read(offset, n)
    if len(data) != n:
        # Offsets were checked against the size seen when the file was opened: a short read
        # means it shrank since (load_bolt retries on a fresh open).
        raise BoltError(f"file shrank while being read ({n} bytes at offset {offset} asked)")
    return data


class _View:
    """The bytes of one page, by file offset: one buffered read, or reads on demand."""

    __slots__ = ("_base", "_buf", "_source")

    def __init__(self, source: _Source, off: int, end: int, buffer_limit: int) -> None:
        self._source = source
        self._base = off
        self._buf: bytes | None = None
        if not source.in_memory and end - off <= buffer_limit:
            # One pread per ordinary page instead of one per key and value.
            self._buf = _read_exact(source, off, end - off)

    def get(self, offset: int, n: int) -> bytes:
        if self._buf is None:
            return _read_exact(self._source, offset, n)
        start = offset - self._base
        return self._buf[start : start + n]


# --- meta pages --------------------------------------------------------------------------------


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


def _read_meta(source: _Source, offset: int) -> _Meta | str:
    """The meta page at ``offset``, or a string saying why it is not valid."""
    body = offset + _PAGE_HEADER
    if offset < 0 or body + _META.size > source.size:
        return f"meta page at offset {offset} is beyond the end of the file"
    data = _read_exact(source, offset, _PAGE_HEADER + _META.size)
    _pid, flags, _count, _overflow = _HEADER.unpack_from(data, 0)
    magic, version, page_size, _mflags, root, _seq, _freelist, pgid, txid, checksum = (
        _META.unpack_from(data, _PAGE_HEADER)
    )
    if magic != _MAGIC:
        return f"meta page at offset {offset}: bad magic {magic:#x}"
    if version != _VERSION:
        return f"meta page at offset {offset}: unsupported version {version}"
    if checksum != _fnv1a64(data[_PAGE_HEADER : _PAGE_HEADER + _META_CHECKED]):
        return f"meta page at offset {offset}: checksum mismatch"
    if not flags & _META_PAGE:
        return f"meta page at offset {offset}: page flags {flags:#x} lack the meta flag"
    if page_size < _MIN_PAGE_SIZE or page_size > _MAX_PAGE_SIZE or page_size & (page_size - 1):
        return f"meta page at offset {offset}: implausible page size {page_size}"
    return _Meta(page_size, root, pgid, txid)


def _pick_meta(source: _Source) -> _Meta:
    """Choose the meta bbolt itself would use: the valid one with the larger txid."""
    size = source.size
    if size < _PAGE_HEADER + _META.size:
        raise BoltError(f"file too short for a bbolt database ({size} bytes)")
    meta0 = _read_meta(source, 0)
    candidates: list[_Meta] = []
    if isinstance(meta0, _Meta):
        candidates.append(meta0)
        meta1 = _read_meta(source, meta0.page_size)
        # meta 1 must agree on the page size, or page offsets would mean different things.
        if isinstance(meta1, _Meta) and meta1.page_size == meta0.page_size:
            candidates.append(meta1)
    else:
        # Like bbolt's getPageSizeFromSecondMeta: meta 0 is unusable, so find the page size
        # by probing for a valid meta 1 at 1 KiB * 2^i.
        off = 1024
        while off <= _MAX_PAGE_SIZE and off + _PAGE_HEADER + _META.size <= size:
            meta1 = _read_meta(source, off)
            if isinstance(meta1, _Meta) and meta1.page_size == off:
                candidates.append(meta1)
                break
            off <<= 1
        if not candidates:
            raise BoltError(f"no valid meta page ({meta0}; no valid second meta page found)")
    best = max(candidates, key=lambda m: m.txid)
    if best.pgid < 2 or best.pgid * best.page_size > size:
        # A consistent file is always at least high-water-mark pages long (bbolt grows the
        # file before it writes the meta that refers to new pages).
        raise BoltError(
            f"meta (txid {best.txid}) claims {best.pgid} pages of {best.page_size} bytes, "
            f"but the file has {size} bytes"
        )
    return best


# --- the tree walk -------------------------------------------------------------------------------

#: A bucket still to walk: (bucket to fill, root page or 0, inline page or None, depth, name).
_Pending = tuple[BoltBucket, int, bytes | None, int, str]


class _Parser:
    """One parse of one file: shared limits and the pages already visited."""

    def __init__(
        self,
        source: _Source,
        meta: _Meta,
        max_elements: int,
        max_depth: int,
        max_value: int,
        page_buffer: int,
    ) -> None:
        self.source = source
        self.meta = meta
        self.max_elements = max_elements
        self.max_depth = max_depth
        self.max_value = max_value
        self.page_buffer = page_buffer
        self.elements = 0
        # A page belongs to exactly one place in the tree, so reaching one twice, in the same
        # bucket or another, means a cycle or a crafted file (and would multiply the work).
        # One byte per page below the high-water mark (which _pick_meta bounded by the file
        # size): a leaf with 100k overflow pages costs 100k bytes, not a set of 100k ints,
        # and the overlap test is one C-level find.
        self.visited = bytearray(meta.pgid)
        # Bytes of keys and values kept, plus inline buckets (held until walked, then their
        # keys and values are kept too). In a sound file no two elements share bytes, so this
        # stays under twice the file size; crafted elements that all point at one big value
        # would otherwise multiply the memory a small page costs without limit.
        self.kept = 0
        self.budget = 2 * source.size

    def count(self, n: int) -> None:
        self.elements += n
        if self.elements > self.max_elements:
            raise BoltError(f"more than {self.max_elements} elements: refusing to continue")

    def keep(self, n: int, where: str) -> None:
        self.kept += n
        if self.kept > self.budget:
            raise BoltError(
                f"{where}: keys and values add up to more than twice the file's "
                f"{self.source.size} bytes: elements overlap"
            )

    def page(self, pgid: int, where: str) -> tuple[int, int, int, int]:
        """Bounds-check page ``pgid``; return (offset, end, flags, count)."""
        meta = self.meta
        if pgid < 2 or pgid >= meta.pgid:
            raise BoltError(f"{where}: page id {pgid} outside 2..{meta.pgid - 1}")
        if self.visited[pgid]:
            raise BoltError(f"{where}: page {pgid} reached twice (cycle or shared page)")
        off = pgid * meta.page_size
        if off + _PAGE_HEADER > self.source.size:
            raise BoltError(f"{where}: page {pgid} is beyond the end of the file")
        pid, flags, count, overflow = _HEADER.unpack(_read_exact(self.source, off, _PAGE_HEADER))
        if pid != pgid:
            raise BoltError(f"{where}: page {pgid} has id {pid} in its header")
        if pgid + 1 + overflow > meta.pgid:
            raise BoltError(f"{where}: page {pgid} overflows past the high-water mark")
        end = off + (1 + overflow) * meta.page_size
        if end > self.source.size:
            raise BoltError(f"{where}: page {pgid} (+{overflow} overflow) ends past the file")
        # Overflow pages are part of this page: no other tree page may start inside them.
        # Each page is marked at most once per parse, so this stays linear in the file.
        stop = pgid + 1 + overflow
        if self.visited.find(1, pgid, stop) != -1:
            raise BoltError(f"{where}: page {pgid} (+{overflow} overflow) overlaps another")
        self.visited[pgid:stop] = b"\x01" * (stop - pgid)
        return off, end, flags, count

    def walk_bucket(
        self, bucket: BoltBucket, root: int, inline: bytes | None, depth: int, name: str
    ) -> list[_Pending]:
        """Fill ``bucket`` from its tree; return the sub-buckets still to be walked."""
        items = bucket._items
        label = f"bucket {name!r}" if name else "root bucket"
        pending: list[_Pending] = []
        last: bytes | None = None

        def add(view: _View, key: bytes, flags: int, vpos: int, vsize: int, where: str) -> None:
            nonlocal last
            # Keys are strictly ascending within a bucket; anything else is corruption (or a
            # page rewritten under us by a live daemon, which load_bolt's retry handles).
            if last is not None and key <= last:
                raise BoltError(f"{where}: keys out of order or duplicated")
            last = key
            self.keep(len(key), where)
            if not flags & _BUCKET_LEAF_FLAG:
                if vsize > self.max_value:
                    bucket.oversized[key] = vsize
                    return
                self.keep(vsize, where)
                items[key] = view.get(vpos, vsize)
                return
            if inline is not None:
                raise BoltError(f"{where}: an inline bucket contains a sub-bucket")
            shown = key.decode("utf-8", errors="backslashreplace")
            child_name = f"{name}/{shown}" if name else shown
            if depth + 1 > self.max_depth:
                raise BoltError(f"{where}: buckets nested deeper than {self.max_depth}")
            if vsize < _BUCKET_HEADER:
                raise BoltError(f"{where}: bucket value for {child_name} is {vsize} bytes")
            (child_root,) = _U64.unpack(view.get(vpos, _U64.size))
            if child_root == 0:
                if vsize > self.max_value:
                    bucket.oversized[key] = vsize
                    return
                self.keep(vsize, where)
                child = BoltBucket()
                items[key] = child
                page = view.get(vpos + _BUCKET_HEADER, vsize - _BUCKET_HEADER)
                pending.append((child, 0, page, depth + 1, child_name))
            else:
                child = BoltBucket()
                items[key] = child
                pending.append((child, child_root, None, depth + 1, child_name))

        if inline is not None:
            where = f"inline {label}"
            if len(inline) < _PAGE_HEADER:
                raise BoltError(f"{where}: {len(inline)} bytes, shorter than a page header")
            _pid, flags, count, _overflow = _HEADER.unpack_from(inline, 0)
            if not flags & _LEAF_PAGE:
                raise BoltError(f"{where}: page flags {flags:#x}, expected a leaf")
            self.count(count)
            view = _View(_BytesSource(inline), 0, len(inline), self.page_buffer)
            for key, eflags, vpos, vsize in self.leaf(view, 0, len(inline), count, where):
                add(view, key, eflags, vpos, vsize, where)
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
                view = _View(self.source, off, end, self.page_buffer)
                for key, eflags, vpos, vsize in self.leaf(view, off, end, count, where):
                    add(view, key, eflags, vpos, vsize, where)
            else:
                raise BoltError(f"{where}: flags {flags:#x}, expected a branch or leaf page")
        return pending

    def branch(self, off: int, end: int, count: int, where: str) -> list[int]:
        """Child page IDs of a branch page (keys are only separators: never read)."""
        if count == 0:
            raise BoltError(f"{where}: empty branch page")
        if off + _PAGE_HEADER + count * _ELEMENT > end:
            raise BoltError(f"{where}: {count} branch elements do not fit in the page")
        elems = _read_exact(self.source, off + _PAGE_HEADER, count * _ELEMENT)
        children = []
        for i in range(count):
            elem = off + _PAGE_HEADER + i * _ELEMENT
            pos, ksize, child = _BRANCH_ELEM.unpack_from(elems, i * _ELEMENT)
            if elem + pos + ksize > end:
                raise BoltError(f"{where}: branch element {i} key runs past the page")
            children.append(child)
        return children

    @staticmethod
    def leaf(
        view: _View, off: int, end: int, count: int, where: str
    ) -> Iterator[tuple[bytes, int, int, int]]:
        """(key, flags, value offset, value size) of each element of the leaf at off..end.

        Values are not read here: the caller decides whether one is small enough to read.
        """
        if off + _PAGE_HEADER + count * _ELEMENT > end:
            raise BoltError(f"{where}: {count} leaf elements do not fit in the page")
        elems = view.get(off + _PAGE_HEADER, count * _ELEMENT)
        for i in range(count):
            elem = off + _PAGE_HEADER + i * _ELEMENT
            flags, pos, ksize, vsize = _LEAF_ELEM.unpack_from(elems, i * _ELEMENT)
            kstart = elem + pos
            vstart = kstart + ksize
            if vstart + vsize > end:
                raise BoltError(f"{where}: leaf element {i} key/value run past the page")
            if ksize > MAX_KEY:
                raise BoltError(
                    f"{where}: leaf element {i} key of {ksize} bytes, over bbolt's "
                    f"{MAX_KEY}-byte maximum"
                )
            yield view.get(kstart, ksize), flags, vstart, vsize


def _parse(
    source: _Source,
    max_elements: int = MAX_ELEMENTS,
    max_depth: int = MAX_DEPTH,
    max_value: int = MAX_VALUE,
    page_buffer: int = _PAGE_BUFFER,
) -> BoltBucket:
    meta = _pick_meta(source)
    parser = _Parser(source, meta, max_elements, max_depth, max_value, page_buffer)
    root = BoltBucket()
    # An explicit work list of buckets still to walk: no recursion, whatever the nesting.
    todo: list[_Pending] = [(root, meta.root, None, 0, "")]
    while todo:
        bucket, pgid, inline, depth, name = todo.pop()
        todo.extend(parser.walk_bucket(bucket, pgid, inline, depth, name))
    return root


def parse_bolt(
    data: bytes,
    *,
    max_elements: int = MAX_ELEMENTS,
    max_depth: int = MAX_DEPTH,
    max_value: int = MAX_VALUE,
) -> BoltBucket:
    """Parse a whole bbolt file image; return its root bucket. Raises only BoltError.

    Values (and inline buckets) over ``max_value`` bytes are left out of the result and
    recorded in their bucket's ``oversized``.
    """
    return _parse(_BytesSource(bytes(data)), max_elements, max_depth, max_value)


def _open_source(path: str, cap: int, whole_file_limit: int) -> _Source:
    """The whole file in memory if it is small, else a pread source; ReaderError if neither."""
    try:
        return _BytesSource(read_bytes(path, min(cap, whole_file_limit)))
    except ReaderError:
        if whole_file_limit >= cap:
            raise  # that read already applied the real cap: its error stands
    # Bigger than the whole-file limit, or unreadable: the open below tells which, with the
    # same messages as read_bytes.
    return _FileSource.open(path, cap)


def load_bolt(
    path: str,
    cap: int = DEFAULT_CAP,
    *,
    max_value: int = MAX_VALUE,
    whole_file_limit: int = WHOLE_FILE_LIMIT,
) -> BoltBucket:
    """Read and parse the bbolt file at ``path`` read-only, without locking it.

    Raises FileNotFoundError unchanged if the file is missing, and BoltError (naming the file)
    for anything else, including a file over ``cap`` bytes. A file up to ``whole_file_limit``
    bytes is read whole; a bigger one page by page, so memory follows what is kept. Values
    over ``max_value`` bytes are not read (see :attr:`BoltBucket.oversized`). A live daemon may
    commit a transaction while we read, so a parse failure is retried a few times from a fresh
    open before it is reported.
    """
    shown = os.fsdecode(path)
    error: BoltError | None = None
    for attempt in range(_ATTEMPTS):
        if attempt:
            time.sleep(0.05 * attempt)  # give a writer in mid-commit time to finish
        try:
            source = _open_source(path, cap, whole_file_limit)
        except ReaderError as e:
            raise BoltError(str(e)) from e  # already names the file; not worth retrying
        try:
            return _parse(source, max_value=max_value)
        except _ReadFailure:
            raise  # an I/O error names the file already and would only happen again
        except BoltError as e:
            error = e
        finally:
            source.close()
    raise BoltError(f"{shown}: {error}") from error
