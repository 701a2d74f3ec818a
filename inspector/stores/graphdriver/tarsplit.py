"""Read a layer's ``tar-split.json.gz``: the exact tar entries ``docker save`` writes for it.

layerdb keeps, per layer, the tar-split metadata (vbatts/tar-split, docker-format.md §1) from
which Docker rebuilds the layer's tar byte for byte: gzipped JSON lines, one per segment.
Type 2 lines carry raw tar bytes (base64 ``payload``: the previous file's padding, any PAX or
GNU long-name headers, then the entry's own 512-byte ustar header); type 1 lines name a file
entry (``name``, or base64 ``name_raw`` when the name is not UTF-8; ``size``; ``payload`` =
base64 CRC-64/ISO of its bytes). So each type-1 line gives the name, the size and the content
checksum, and the last 512 bytes of the raw bytes before it give the entry's type (regular,
hard link, symlink, directory, …).

The file is read through :mod:`inspector.readers.fs` (beneath the root, no symlink followed)
and inflated in chunks: memory is bounded by the caps below, never by the file, and a gzip
bomb stops at :data:`MAX_INFLATED`. Anything malformed raises ReaderError naming the file.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import zlib
from collections.abc import Iterator

from inspector.errors import ReaderError
from inspector.model import TarEntry
from inspector.readers import fs

#: Most entries kept per layer (a real layer has at most a few hundred thousand).
MAX_ENTRIES = 2_000_000
#: Most bytes inflated per file: JSON lines of ~700 bytes per entry, far above MAX_ENTRIES'.
MAX_INFLATED = 4 * 1024**3
#: Longest JSON line: a PAX header with large xattrs stays far below.
MAX_LINE = 8 * 1024 * 1024
#: Compressed bytes read at a time.
CHUNK = 256 * 1024
#: Size of a ustar header block.
BLOCK = 512

_TYPE2_PREFIX = b'{"type":2,"payload":"'
# A file line as Go writes it, with a name that needs no JSON unescaping.
_TYPE1 = re.compile(
    rb'\{"type":1,"name":"([^"\\\x00-\x1f]*)",(?:"size":([0-9]{1,19}),)?'
    rb'"payload":(?:null|"([A-Za-z0-9+/]{11}=)"),"position":[0-9]+\}'
)
# Tar type flags (POSIX ustar, GNU): what dive's archive/tar reader makes of each.
_REGULAR = frozenset(b"0\x007")
_S_IFMT = 0o170000
_S_IFDIR = 0o040000


def _kind(header: bytes, name: str) -> str:
    """The entry's kind from its ustar header (the last 512 raw bytes before it)."""
    flag = header[156]
    if flag == ord("5"):
        return "d"
    # Go's archive/tar reads an old-style regular entry named "x/" as a directory, and
    # FileInfo().IsDir() also honours the S_IFDIR bits of the mode field.
    if flag == 0 and name.endswith("/"):
        return "d"
    mode_field = header[100:108].strip(b"\0 ")
    try:
        mode = int(mode_field, 8) if mode_field else 0
    except ValueError:
        mode = 0
    if mode & _S_IFMT == _S_IFDIR:
        return "d"
    if flag in _REGULAR:
        return "f"
    if flag == ord("1"):
        return "h"
    if flag == ord("2"):
        return "l"
    return "o"


def _lines(fd: int, shown: str, max_inflated: int, max_line: int) -> Iterator[bytes]:
    """The inflated lines of the gzip stream on `fd` (concatenated members too)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    member_open = False
    inflated = 0
    rest = b""
    pending = b""
    while True:
        if not pending:
            pending = os.read(fd, CHUNK)
            if not pending:
                break
        member_open = True
        try:
            # Bounded output per call: a gzip bomb never inflates in one piece.
            out = d.decompress(pending, 4 * CHUNK)
        except zlib.error as e:
            raise ReaderError(f"{shown}: not a valid gzip stream ({e})") from e
        pending = d.unconsumed_tail
        if d.eof:
            pending = d.unused_data + pending
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            member_open = False
        inflated += len(out)
        if inflated > max_inflated:
            raise ReaderError(f"{shown}: inflates to more than {max_inflated} bytes: not read")
        if not out:
            continue
        parts = (rest + out).split(b"\n")
        rest = parts.pop()
        if len(rest) > max_line or (parts and max(map(len, parts)) > max_line):
            raise ReaderError(f"{shown}: a line longer than {max_line} bytes: not read")
        yield from parts
    if member_open:
        raise ReaderError(f"{shown}: truncated gzip stream")
    if rest:
        yield rest


def _payload_tail(line: bytes) -> bytes | None:
    """The base64 payload of a type-2 line in Go's usual field order, else None."""
    if not line.startswith(_TYPE2_PREFIX):
        return None
    end = line.find(b'"', len(_TYPE2_PREFIX))
    if end < 0:
        return None
    return line[len(_TYPE2_PREFIX) : end]


def _b64(value: object, shown: str, what: str) -> bytes:
    if not isinstance(value, str | bytes):
        raise ReaderError(f"{shown}: {what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ReaderError(f"{shown}: {what} is not valid base64") from e


def _entry(doc: dict[str, object], header: bytes, shown: str) -> TarEntry:
    """A type-1 line with the raw header bytes that preceded it."""
    raw_name = doc.get("name_raw")
    if raw_name is not None:
        name = os.fsdecode(_b64(raw_name, shown, "name_raw"))
    else:
        value = doc.get("name")
        if not isinstance(value, str):
            raise ReaderError(f"{shown}: an entry without a name")
        name = value
    size = doc.get("size", 0)
    if size is None:
        size = 0
    if type(size) is not int or size < 0:
        raise ReaderError(f"{shown}: {fs_safe(name)}: size is not a non-negative integer")
    if len(header) < BLOCK:
        raise ReaderError(f"{shown}: {fs_safe(name)}: no tar header before the entry")
    crc: int | None = None
    payload = doc.get("payload")
    if payload is not None:
        raw = _b64(payload, shown, "payload")
        if len(raw) == 8:
            crc = int.from_bytes(raw, "big")
    return TarEntry(name, size, _kind(header, name), crc)


def fs_safe(name: str) -> str:
    """A name short enough for an error message (it is escaped where it is printed)."""
    return name if len(name) <= 200 else name[:200] + "…"


def read_entries(
    path: str,
    *,
    max_entries: int = MAX_ENTRIES,
    max_inflated: int = MAX_INFLATED,
    max_line: int = MAX_LINE,
) -> tuple[TarEntry, ...]:
    """Every file entry of the tar-split file at `path`, in tar order.

    FileNotFoundError when it does not exist; ReaderError (naming the file) when it is a
    symlink or not a regular file, cannot be read, is not gzip, holds a malformed line or an
    entry without its tar header, or exceeds a cap.
    """
    fd, _ = fs.open_regular(path)
    try:
        return _read(fd, path, max_entries, max_inflated, max_line)
    except OSError as e:
        raise ReaderError(f"{path}: {e.strerror or e}") from e
    finally:
        os.close(fd)


def _read(
    fd: int, shown: str, max_entries: int, max_inflated: int, max_line: int
) -> tuple[TarEntry, ...]:
    entries: list[TarEntry] = []
    # The raw bytes since the last file entry; only the last header block is needed.
    header = b""
    a2b = binascii.a2b_base64
    loads = json.loads
    match1 = _TYPE1.fullmatch
    for line in _lines(fd, shown, max_inflated, max_line):
        if not line.strip():
            continue
        fast = _payload_tail(line)
        if fast is not None:
            # Most lines are raw segments: decode their payload without a JSON parse.
            try:
                raw = a2b(fast, strict_mode=True)
            except (binascii.Error, ValueError) as e:
                raise ReaderError(f"{shown}: a segment's payload is not valid base64") from e
            header = (header + raw)[-BLOCK:] if len(raw) < BLOCK else raw[-BLOCK:]
            continue
        m = match1(line)
        if m is not None and len(header) == BLOCK:
            # A plain file line: no JSON parse either.
            try:
                name = m.group(1).decode()
            except UnicodeDecodeError:
                name = ""
            if name:
                size = int(m.group(2) or 0)
                crc = int.from_bytes(a2b(m.group(3)), "big") if m.group(3) else None
                entries.append(TarEntry(name, size, _kind(header, name), crc))
                header = b""
                if len(entries) > max_entries:
                    raise ReaderError(f"{shown}: more than {max_entries} entries: not read")
                continue
        try:
            doc = loads(line)
        except (ValueError, RecursionError) as e:
            raise ReaderError(f"{shown}: a line is not JSON") from e
        if not isinstance(doc, dict):
            raise ReaderError(f"{shown}: a line is not a JSON object")
        kind = doc.get("type")
        if kind == 2:
            raw = _b64(doc.get("payload") or "", shown, "segment payload")
            header = (header + raw)[-BLOCK:]
        elif kind == 1:
            entries.append(_entry(doc, header, shown))
            header = b""
            if len(entries) > max_entries:
                raise ReaderError(f"{shown}: more than {max_entries} entries: not read")
        else:
            raise ReaderError(f"{shown}: unknown entry type {kind!r}")
    return tuple(entries)


__all__ = ["MAX_ENTRIES", "MAX_INFLATED", "read_entries"]
