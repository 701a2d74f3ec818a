"""Tests for the read-only bbolt reader and the volumes/metadata.db reader.

Real files in tests/data/bbolt/ were written by dockerd 20.10 (see the README there); synthetic
files are built by the tiny writer below so each structure and each corruption is exact.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import mmap
import os
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fuzzscale import examples, stride
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector.errors import ReaderError
from inspector.readers import bbolt as bbolt_mod
from inspector.readers.bbolt import BoltBucket, BoltError, load_bolt, parse_bolt
from inspector.readers.volumes_db import parse_volume_metadata, read_volume_metadata

DATA = Path(__file__).parent / "data" / "bbolt"
REAL_FILES = ["volumes-small.db", "volumes-many.db", "snapshots.db", "metadata_v2.db"]
PS = 4096


def real(name: str) -> bytes:
    return (DATA / name).read_bytes()


# --- a tiny bbolt writer for synthetic files -----------------------------------------------


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & (2**64 - 1)
    return h


def meta_page(pid: int, page_size: int, root: int, pgid: int, txid: int) -> bytes:
    body = struct.pack("<IIIIQQQQQ", 0xED0CDAED, 2, page_size, 0, root, 0, 2, pgid, txid)
    body += struct.pack("<Q", fnv1a64(body))
    return struct.pack("<QHHI", pid, 0x04, 0, 0) + body


def leaf_body(entries: list[tuple[int, bytes, bytes]], pid: int = 0, overflow: int = 0) -> bytes:
    """A leaf page (header + elements + data), unpadded. entries: (flags, key, value)."""
    n = len(entries)
    elems = b""
    data = b""
    for i, (flags, key, value) in enumerate(entries):
        pos = (n - i) * 16 + len(data)  # relative to this element
        elems += struct.pack("<IIII", flags, pos, len(key), len(value))
        data += key + value
    return struct.pack("<QHHI", pid, 0x02, n, overflow) + elems + data


def branch_body(children: list[tuple[bytes, int]], pid: int) -> bytes:
    n = len(children)
    elems = b""
    data = b""
    for i, (key, child) in enumerate(children):
        elems += struct.pack("<IIQ", (n - i) * 16 + len(data), len(key), child)
        data += key
    return struct.pack("<QHHI", pid, 0x01, n, 0) + elems + data


def inline_bucket(entries: list[tuple[int, bytes, bytes]]) -> bytes:
    return struct.pack("<QQ", 0, 0) + leaf_body(entries)


def page_bucket(root: int) -> bytes:
    return struct.pack("<QQ", root, 0)


def build_db(
    pages: dict[int, bytes],
    root: int = 3,
    page_size: int = PS,
    txids: tuple[int, int] = (1, 2),
    roots: tuple[int, int] | None = None,
) -> bytes:
    """Assemble a file: metas at 0/1, a freelist page at 2, ``pages`` (may span overflow)."""
    npages = max([2, *(pid + (len(body) - 1) // page_size for pid, body in pages.items())]) + 1
    buf = bytearray(npages * page_size)
    r0, r1 = roots or (root, root)
    buf[0:page_size] = meta_page(0, page_size, r0, npages, txids[0]).ljust(page_size, b"\0")
    m1 = meta_page(1, page_size, r1, npages, txids[1])
    buf[page_size : 2 * page_size] = m1.ljust(page_size, b"\0")
    buf[2 * page_size : 2 * page_size + 16] = struct.pack("<QHHI", 2, 0x10, 0, 0)
    for pid, body in pages.items():
        buf[pid * page_size : pid * page_size + len(body)] = body
    return bytes(buf)


def simple_db() -> bytes:
    """Root -> bucket b"a" (page 4: two leaves under a branch) and inline bucket b"b"."""
    return build_db(
        {
            3: leaf_body(
                [(1, b"a", page_bucket(4)), (1, b"b", inline_bucket([(0, b"k", b"v")]))], 3
            ),
            4: branch_body([(b"k1", 5), (b"k3", 6)], 4),
            5: leaf_body([(0, b"k1", b"one"), (0, b"k2", b"")], 5),
            6: leaf_body([(0, b"k3", b"three")], 6),
        }
    )


# --- real files ----------------------------------------------------------------------------


def test_real_volumes_small_inline_bucket() -> None:
    root = parse_bolt(real("volumes-small.db"))
    assert root.keys() == [b"volumes"]
    vols = root.bucket(b"volumes")
    assert vols is not None
    assert len(vols) == 4
    assert [k for k in vols if len(k) != 64] == [b"v1", b"v2", b"v3"]
    assert vols.value(b"v2") == (
        b'{"Name":"v2","Driver":"local","Labels":{"a":"b","team":"infra"},"Options":{}}'
    )


def test_real_volumes_many_branch_and_overflow_pages() -> None:
    data = real("volumes-many.db")
    # The file really has a branch page and overflow pages (else this test proves little).
    flags = {struct.unpack_from("<QHHI", data, i * PS)[1:4:2] for i in range(len(data) // PS)}
    assert any(f & 1 for f, _ in flags) and any(ov > 0 for _, ov in flags)
    vols = parse_bolt(data).bucket(b"volumes")
    assert vols is not None
    keys = vols.keys()
    assert len(keys) == 306
    assert keys == sorted(keys)
    assert sum(k.startswith(b"vol-") for k in keys) == 300
    big = vols.value(b"bigvol")
    assert big is not None and len(big) > PS and b"x" * 9000 in big


def test_real_buildkit_files_structure() -> None:
    snaps = parse_bolt(real("snapshots.db"))
    assert len(snaps.buckets()) == len(snaps) == 20
    assert not snaps.values()
    md = parse_bolt(real("metadata_v2.db"))
    assert md.keys() == [b"_external", b"_index", b"_main"]
    main = md.bucket(b"_main")
    assert main is not None and len(main) == 19  # 13 listed by df + 6 hidden
    for rec in main.buckets().values():
        assert rec.value(b"cache.createdAt") is not None


@pytest.mark.parametrize("name", REAL_FILES)
def test_load_bolt_equals_parse(name: str) -> None:
    loaded = load_bolt(str(DATA / name))
    assert loaded == parse_bolt(real(name))
    assert loaded.to_dict() == parse_bolt(real(name)).to_dict()


# --- synthetic structure -------------------------------------------------------------------


def test_synthetic_nested_branch_inline() -> None:
    root = parse_bolt(simple_db())
    assert root.to_dict() == {
        b"a": {b"k1": b"one", b"k2": b"", b"k3": b"three"},
        b"b": {b"k": b"v"},
    }
    a = root.bucket(b"a")
    assert a is not None and a.keys() == [b"k1", b"k2", b"k3"]
    assert root.value(b"a") is None and root.bucket(b"missing") is None
    assert root.get(b"b") == BoltBucket({b"k": b"v"})
    assert list(root.buckets()) == [b"a", b"b"] and root.values() == {}


def test_overflow_page_value() -> None:
    value = bytes(range(256)) * 40  # 10 KiB: needs two overflow pages
    body = leaf_body([(0, b"big", value)], 3, overflow=2)
    root = parse_bolt(build_db({3: body}))
    assert root.value(b"big") == value
    # Same page without the overflow count: the value runs past the page.
    short = leaf_body([(0, b"big", value)], 3, overflow=0)
    with pytest.raises(BoltError, match="run past the page"):
        parse_bolt(build_db({3: short}))


def test_newer_meta_wins() -> None:
    pages = {3: leaf_body([(0, b"old", b"1")], 3), 4: leaf_body([(0, b"new", b"2")], 4)}
    assert parse_bolt(build_db(pages, txids=(5, 6), roots=(3, 4))).keys() == [b"new"]
    assert parse_bolt(build_db(pages, txids=(7, 6), roots=(3, 4))).keys() == [b"old"]


def test_corrupt_meta0_falls_back_by_probing_page_size() -> None:
    for page_size in (1024, 4096, 16384):
        db = bytearray(build_db({3: leaf_body([(0, b"k", b"v")], 3)}, page_size=page_size))
        db[16 + 30] ^= 0xFF  # breaks meta 0's checksum
        assert parse_bolt(bytes(db)).to_dict() == {b"k": b"v"}
        db[page_size + 16 + 30] ^= 0xFF  # and meta 1's
        with pytest.raises(BoltError, match="no valid meta"):
            parse_bolt(bytes(db))


def test_empty_root_and_empty_inline_bucket() -> None:
    db = build_db({3: leaf_body([(1, b"e", inline_bucket([]))], 3)})
    assert parse_bolt(db).to_dict() == {b"e": {}}
    assert parse_bolt(build_db({3: leaf_body([], 3)})).to_dict() == {}


HOSTILE: list[tuple[str, bytes, str]] = [
    (
        "cycle",
        build_db({3: branch_body([(b"a", 3)], 3)}),
        "reached twice",
    ),
    (
        "page shared by two buckets",
        build_db(
            {
                3: leaf_body([(1, b"a", page_bucket(4)), (1, b"b", page_bucket(4))], 3),
                4: leaf_body([(0, b"k", b"v")], 4),
            }
        ),
        "reached twice",
    ),
    (
        "page starts inside another's overflow",
        build_db(
            {
                3: branch_body([(b"a", 6), (b"b", 5)], 3),
                5: leaf_body([(0, b"b", b"")], 5, overflow=1),
                6: leaf_body([(0, b"a", b"")], 6),
            }
        ),
        "overlaps another",
    ),
    ("child id past high-water mark", build_db({3: branch_body([(b"a", 99)], 3)}), "outside"),
    ("child is a meta page", build_db({3: branch_body([(b"a", 1)], 3)}), "outside"),
    (
        "header id mismatch",
        build_db({3: leaf_body([(0, b"k", b"v")], 7)}),
        "has id 7",
    ),
    (
        "too many elements for page",
        build_db({3: struct.pack("<QHHI", 3, 2, 300, 0)}),
        "do not fit",
    ),
    (
        "key out of bounds",
        build_db({3: struct.pack("<QHHI", 3, 2, 1, 0) + struct.pack("<IIII", 0, 4000, 200, 0)}),
        "run past the page",
    ),
    (
        "huge vsize",
        build_db({3: struct.pack("<QHHI", 3, 2, 1, 0) + struct.pack("<IIII", 0, 16, 1, 2**32 - 1)}),
        "run past the page",
    ),
    (
        "overflow past end",
        build_db({3: struct.pack("<QHHI", 3, 2, 0, 2**31)}),
        "overflows past",
    ),
    (
        "unsorted keys",
        build_db({3: leaf_body([(0, b"b", b""), (0, b"a", b"")], 3)}),
        "out of order",
    ),
    (
        "duplicate keys across leaves",
        build_db(
            {
                3: branch_body([(b"a", 4), (b"a", 5)], 3),
                4: leaf_body([(0, b"a", b"1")], 4),
                5: leaf_body([(0, b"a", b"2")], 5),
            }
        ),
        "out of order",
    ),
    (
        "inline bucket holding a bucket",
        build_db({3: leaf_body([(1, b"i", inline_bucket([(1, b"j", inline_bucket([]))]))], 3)}),
        "contains a sub-bucket",
    ),
    ("short bucket value", build_db({3: leaf_body([(1, b"b", b"tiny")], 3)}), "is 4 bytes"),
    (
        "inline page not a leaf",
        build_db({3: leaf_body([(1, b"b", struct.pack("<QQQHHI", 0, 0, 0, 1, 0, 0))], 3)}),
        "expected a leaf",
    ),
    ("empty branch", build_db({3: branch_body([], 3)}), "empty branch"),
    (
        "freelist page as root",
        build_db({3: struct.pack("<QHHI", 3, 0x10, 0, 0)}),
        "expected a branch or leaf",
    ),
    ("empty file", b"", "too short"),
    ("zeros", b"\0" * 3 * PS, "no valid meta"),
]


@pytest.mark.parametrize(("why", "data", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_structures_raise_bolt_error(why: str, data: bytes, message: str) -> None:
    with pytest.raises(BoltError, match=message):
        parse_bolt(data)


def test_nesting_depth_limit() -> None:
    def chain(depth: int) -> bytes:
        # Page 3 is the root; page 4+i holds bucket level i+1, each with one sub-bucket.
        pages = {3: leaf_body([(1, b"n", page_bucket(4))], 3)}
        for i in range(depth):
            pid = 4 + i
            last = i == depth - 1
            pages[pid] = leaf_body(
                [(0, b"end", b"")] if last else [(1, b"n", page_bucket(pid + 1))], pid
            )
        return build_db(pages)

    parse_bolt(chain(64))  # 64 levels below the root: exactly at the limit
    with pytest.raises(BoltError, match="nested deeper than 64"):
        parse_bolt(chain(65))
    with pytest.raises(BoltError, match="nested deeper than 3"):
        parse_bolt(chain(10), max_depth=3)


def test_element_limit() -> None:
    entries = [(0, b"k%03d" % i, b"") for i in range(100)]
    db = build_db({3: leaf_body(entries, 3)})
    assert len(parse_bolt(db)) == 100
    with pytest.raises(BoltError, match="more than 99 elements"):
        parse_bolt(db, max_elements=99)


def test_meta_claims_more_pages_than_file() -> None:
    db = simple_db()
    with pytest.raises(BoltError, match="claims 7 pages"):
        parse_bolt(db[: 6 * PS])


# --- truncation and bit flips on real files ------------------------------------------------


def _hwm(data: bytes) -> int:
    """Bytes covered by the high-water mark of the meta bbolt would pick."""
    metas = [struct.unpack_from("<QQ", data, off + 16 + 40) for off in (0, PS)]  # pgid, txid
    pgid, _txid = max(metas, key=lambda m: m[1])
    return int(pgid) * PS


@pytest.mark.parametrize("name", REAL_FILES)
def test_truncation_everywhere(name: str) -> None:
    data = real(name)
    full = parse_bolt(data)
    hwm = _hwm(data)
    cuts = sorted({*range(0, 200, 7), *range(0, len(data), 509), hwm - 1, hwm, len(data) - 1})
    for cut in cuts:
        if cut < hwm:
            with pytest.raises(BoltError):
                parse_bolt(data[:cut])
        else:  # pages past the high-water mark are unused: cutting them changes nothing
            assert parse_bolt(data[:cut]) == full


@pytest.mark.parametrize("name", REAL_FILES)
def test_byte_flips_only_bolt_error(name: str) -> None:
    data = real(name)
    hwm = _hwm(data)
    raised = 0
    # Every 23rd byte of the first pages (metas, freelist, root), a scaled sample beyond.
    for off in sorted({*range(0, min(hwm, 4 * PS), 23), *range(0, hwm, stride(23))}):
        mutated = bytearray(data)
        mutated[off] ^= 0xA5
        try:
            parse_bolt(bytes(mutated))
        except BoltError:
            raised += 1
    assert raised > 0  # flips in headers and metas must be noticed


def test_flip_in_meta_of_newest_falls_back_to_older() -> None:
    data = bytearray(real("snapshots.db"))
    newest = max((0, PS), key=lambda off: struct.unpack_from("<Q", data, off + 16 + 48)[0])
    data[newest + 16 + 8] ^= 1  # page size field: checksum no longer matches
    root = parse_bolt(bytes(data))  # the older meta's tree is still intact in this file
    assert len(root) > 0


# --- load_bolt: read-only, no locks, retries ------------------------------------------------


def test_load_bolt_never_opens_for_writing_or_locks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[int] = []
    real_open = os.open

    def spy_open(path: str, flags: int, *args: int) -> int:
        seen.append(flags)
        return real_open(path, flags, *args)

    def no_lock(*_a: object, **_k: object) -> None:
        raise AssertionError("must never lock")

    target = tmp_path / "m.db"
    target.write_bytes(real("snapshots.db"))
    before = target.stat()
    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(fcntl, "flock", no_lock)
    monkeypatch.setattr(fcntl, "lockf", no_lock)
    load_bolt(str(target))
    assert seen and all(f & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC) == 0 for f in seen)
    assert all(f & os.O_NOFOLLOW for f in seen)
    after = target.stat()
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)


def test_load_bolt_retries_a_torn_read(monkeypatch: pytest.MonkeyPatch) -> None:
    good = real("snapshots.db")
    reads = iter([good[:5000], good[:100], good])
    calls: list[str] = []

    def fake_read(path: str, cap: int) -> bytes:
        calls.append(path)
        return next(reads)

    monkeypatch.setattr(bbolt_mod, "read_bytes", fake_read)
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    assert load_bolt("/x/snapshots.db") == parse_bolt(good)
    assert len(calls) == 3


def test_load_bolt_gives_up_after_three_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake_read(path: str, cap: int) -> bytes:
        calls.append(path)
        return b"\0" * 8192

    monkeypatch.setattr(bbolt_mod, "read_bytes", fake_read)
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    with pytest.raises(BoltError, match=r"^/x/bad\.db: no valid meta"):
        load_bolt("/x/bad.db")
    assert len(calls) == 3


def test_load_bolt_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_bolt(str(tmp_path / "missing.db"))
    target = tmp_path / "real.db"
    target.write_bytes(real("volumes-small.db"))
    link = tmp_path / "link.db"
    link.symlink_to(target)
    with pytest.raises(BoltError, match="symlink"):
        load_bolt(str(link))
    with pytest.raises(BoltError, match="cap"):
        load_bolt(str(target), cap=1000)
    with pytest.raises(BoltError, match="not a regular file"):
        load_bolt(str(tmp_path))
    assert issubclass(BoltError, ReaderError)


# --- volumes/metadata.db ---------------------------------------------------------------------


def test_volume_metadata_small() -> None:
    vols, skipped = read_volume_metadata(str(DATA / "volumes-small.db"))
    assert skipped == []
    assert set(vols) - {"v1", "v2", "v3"} == {next(n for n in vols if len(n) == 64)}
    assert vols["v1"].driver == "local" and vols["v1"].labels == {} and vols["v1"].options == {}
    assert vols["v2"].labels == {"a": "b", "team": "infra"}
    assert vols["v3"].options == {"device": "tmpfs", "o": "size=1m", "type": "tmpfs"}
    anon = next(v for v in vols.values() if len(v.name) == 64)
    assert anon.labels == {} and anon.options == {}  # stored as null


def test_volume_metadata_many() -> None:
    vols, skipped = read_volume_metadata(str(DATA / "volumes-many.db"))
    assert skipped == [] and len(vols) == 306
    assert vols["vol-0123"].labels == {"idx": "123", "purpose": "branch-page-test"}
    assert vols["uni"].labels == {"com.example.ünïcode": "✓"}
    assert vols["bigvol"].labels["big"] == "x" * 9000
    assert list(vols) == sorted(vols, key=lambda n: n.encode())


def test_volume_metadata_bad_entries_are_skipped() -> None:
    db = build_db(
        {
            3: leaf_body([(1, b"volumes", page_bucket(4))], 3),
            4: leaf_body(
                [
                    (0, b"bad", b'{"Name":'),
                    (0, b"empty", b""),
                    (0, b"labels", b'{"Driver":"local","Labels":{"a":1}}'),
                    (0, b"list", b"[]"),
                    (1, b"nested", inline_bucket([])),
                    (0, b"ok", b'{"Name":"ok","Driver":null}'),
                    (0, b"\xffodd", b'{"Name":"x","Driver":"local","Labels":null,"Options":null}'),
                ],
                4,
            ),
        }
    )
    vols, skipped = parse_volume_metadata(parse_bolt(db))
    assert list(vols) == ["ok", "\udcffodd"]
    assert vols["ok"].driver == ""
    reasons = dict(skipped)
    assert set(reasons) == {"bad", "labels", "list", "nested"}
    assert "invalid JSON" in reasons["bad"] and "Labels['a']" in reasons["labels"]
    assert parse_volume_metadata(BoltBucket()) == ({}, [])


# --- property tests (hypothesis): 4 x 2500 examples in a full run (tests/fuzzscale.py) -------

_FUZZ = settings(
    max_examples=examples(2500),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
_SMALL_REAL = [real(n) for n in ("volumes-small.db", "snapshots.db", "metadata_v2.db")]


def _fix_checksums(buf: bytearray) -> None:
    """Re-sign both metas so mutations inside them reach the tree walk."""
    for off in (0, PS):
        body = off + 16
        buf[body + 56 : body + 64] = struct.pack("<Q", fnv1a64(bytes(buf[body : body + 56])))


@_FUZZ
@given(
    which=st.integers(0, len(_SMALL_REAL) - 1),
    edits=st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), min_size=1, max_size=8),
    resign=st.booleans(),
)
def test_fuzz_mutated_real_files(which: int, edits: list[tuple[int, int]], resign: bool) -> None:
    data = _SMALL_REAL[which]
    hwm = _hwm(data)
    buf = bytearray(data)
    for off, byte in edits:
        buf[off % hwm] = byte
    if resign:
        _fix_checksums(buf)
    try:
        result = parse_bolt(bytes(buf), max_elements=100_000)
    except BoltError as e:
        assert str(e)
    else:
        assert isinstance(result, BoltBucket)


_entry = st.tuples(st.integers(0, 3), st.binary(max_size=12), st.binary(max_size=40))


@_FUZZ
@given(
    leaf=st.lists(_entry, max_size=12),
    junk=st.binary(max_size=64),
    count=st.integers(0, 0xFFFF),
    use_count=st.booleans(),
)
def test_fuzz_synthetic_pages(
    leaf: list[tuple[int, bytes, bytes]], junk: bytes, count: int, use_count: bool
) -> None:
    body = bytearray(leaf_body(leaf, 3) + junk)
    if use_count:
        body[10:12] = struct.pack("<H", count)
    with contextlib.suppress(BoltError):
        parse_bolt(build_db({3: bytes(body[:PS])}))


@_FUZZ
@given(data=st.binary(min_size=0, max_size=3 * PS))
def test_fuzz_random_bytes(data: bytes) -> None:
    with contextlib.suppress(BoltError):
        parse_bolt(data)
    # Random bytes behind valid metas exercise the tree walk, not just the meta check.
    with contextlib.suppress(BoltError):
        parse_bolt(build_db({3: data[:PS]}))


@_FUZZ
@given(
    entries=st.dictionaries(
        st.binary(max_size=10),
        st.one_of(
            st.binary(max_size=60),
            st.builds(
                bytes.__add__,
                st.sampled_from([b'{"Name":"a","Driver":', b'{"Labels":{"k":', b"{", b"["]),
                st.sampled_from([b'"local"}', b"null}", b"1}", b'"v"}}', b"", b"]"]),
            ),
            st.builds(
                lambda lab, opt: (
                    '{"Driver":"local","Labels":' + lab + ',"Options":' + opt + "}"
                ).encode(),
                st.sampled_from(["null", "{}", '{"a":"b"}', '{"a":null}', "[]", '"s"']),
                st.sampled_from(["null", "{}", '{"o":"x"}', "7"]),
            ),
        ),
        max_size=6,
    )
)
def test_fuzz_volume_entries(entries: dict[bytes, bytes]) -> None:
    root = BoltBucket({b"volumes": BoltBucket(dict(sorted(entries.items())))})
    vols, skipped = parse_volume_metadata(root)
    assert len(vols) + len(skipped) == sum(1 for v in entries.values() if v)
    for meta in vols.values():
        assert all(isinstance(v, str) for v in (*meta.labels.values(), *meta.options.values()))


# --- bounded memory: pread path, oversized values, limits (issue 17, finding 6) ---------------


def tree_entries(node: dict[bytes, object]) -> list[tuple[int, bytes, bytes]]:
    """(flags, key, value) of a bucket without sub-buckets: what an inline bucket holds."""
    return [(0, k, v) for k, v in sorted(node.items()) if isinstance(v, bytes)]


def is_inline(node: dict[bytes, object], page_size: int = PS) -> bool:
    """Whether tree_db stores this sub-bucket inline (bbolt's rule: no sub-buckets, small)."""
    if not all(isinstance(v, bytes) for v in node.values()):
        return False
    return len(inline_bucket(tree_entries(node))) <= page_size // 4


def tree_db(tree: dict[bytes, object], per_leaf: int = 8, page_size: int = PS) -> bytes:
    """A whole file for a nested dict (bytes values, dict sub-buckets).

    Buckets are written children first; a bucket of more than ``per_leaf`` entries gets a
    branch page over several leaves, a big value an overflowing leaf, a small bucket without
    sub-buckets goes inline.
    """
    pages: dict[int, bytes] = {}
    next_pid = 3

    def put(make: Callable[[int, int], bytes]) -> int:
        nonlocal next_pid
        pid = next_pid
        overflow = (len(make(pid, 0)) - 1) // page_size
        pages[pid] = make(pid, overflow)
        next_pid += 1 + overflow
        return pid

    roots: dict[int, int] = {}
    stack: list[tuple[dict[bytes, object], bool]] = [(tree, False)]
    while stack:
        node, ready = stack.pop()
        if not ready:
            stack.append((node, True))
            for v in node.values():
                if isinstance(v, dict) and not is_inline(v, page_size):
                    stack.append((v, False))
            continue
        entries: list[tuple[int, bytes, bytes]] = []
        for k in sorted(node):
            v = node[k]
            if isinstance(v, bytes):
                entries.append((0, k, v))
            else:
                assert isinstance(v, dict)
                if is_inline(v, page_size):
                    entries.append((1, k, inline_bucket(tree_entries(v))))
                else:
                    entries.append((1, k, page_bucket(roots[id(v)])))
        chunks = [entries[i : i + per_leaf] for i in range(0, len(entries), per_leaf)] or [[]]
        leaves = [put(lambda pid, ov, c=c: leaf_body(c, pid, ov)) for c in chunks]
        if len(leaves) == 1:
            roots[id(node)] = leaves[0]
        else:
            seps = [(c[0][1], pid) for c, pid in zip(chunks, leaves, strict=True)]
            roots[id(node)] = put(lambda pid, _ov, seps=seps: branch_body(seps, pid))
    return build_db(pages, root=roots[id(tree)], page_size=page_size)


def expected_bucket(tree: dict[bytes, object], max_value: int, page_size: int = PS) -> BoltBucket:
    """What a parse with ``max_value`` must give for ``tree_db(tree)``."""
    out = BoltBucket()
    stack: list[tuple[dict[bytes, object], BoltBucket]] = [(tree, out)]
    while stack:
        node, bucket = stack.pop()
        for k in sorted(node):
            v = node[k]
            if isinstance(v, bytes):
                if len(v) > max_value:
                    bucket.oversized[k] = len(v)
                else:
                    bucket._items[k] = v
                continue
            assert isinstance(v, dict)
            size = len(inline_bucket(tree_entries(v)))
            if is_inline(v, page_size) and size > max_value:
                bucket.oversized[k] = size
                continue
            child = BoltBucket()
            bucket._items[k] = child
            stack.append((v, child))
    return out


@contextlib.contextmanager
def file_source(data: bytes) -> Iterator[bbolt_mod._Source]:
    """The pread source over an in-memory file (memfd) holding ``data``."""
    fd = os.memfd_create("bolt-test")
    src = bbolt_mod._FileSource(fd, len(data), "memfd:bolt-test")
    try:
        with open(fd, "wb", closefd=False) as f:
            f.write(data)
        yield src
    finally:
        src.close()


def outcome(parse: Callable[[], BoltBucket]) -> tuple[str, object]:
    try:
        return "ok", parse()
    except BoltError as e:
        return "error", str(e)


def both_paths(
    data: bytes, max_value: int = bbolt_mod.MAX_VALUE, page_buffer: int = bbolt_mod._PAGE_BUFFER
) -> tuple[tuple[str, object], tuple[str, object]]:
    """(whole-image parse, pread parse) of the same bytes, each a result or an error message."""
    whole = outcome(lambda: parse_bolt(data, max_value=max_value))
    with file_source(data) as src:
        pread = outcome(lambda: bbolt_mod._parse(src, max_value=max_value, page_buffer=page_buffer))
    return whole, pread


class PreadCounter:
    """Spy on os.pread: bytes actually read."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes = 0
        self.calls = 0
        real_pread = os.pread

        def spy(fd: int, n: int, offset: int) -> bytes:
            data = real_pread(fd, n, offset)
            self.bytes += len(data)
            self.calls += 1
            return data

        monkeypatch.setattr(os, "pread", spy)


def write_sparse_db(path: Path, pages: dict[int, bytes], npages: int) -> None:
    """Metas + freelist + ``pages`` at their offsets; the rest of npages pages left as a hole."""
    with open(path, "wb") as f:
        f.write(meta_page(0, PS, 3, npages, 1).ljust(PS, b"\0"))
        f.write(meta_page(1, PS, 3, npages, 2).ljust(PS, b"\0"))
        f.write(struct.pack("<QHHI", 2, 0x10, 0, 0))
        for pid, body in pages.items():
            f.seek(pid * PS)
            f.write(body)
        f.truncate(npages * PS)


def test_oversized_values_are_recorded_not_kept() -> None:
    tree: dict[bytes, object] = {
        b"big": b"B" * 5000,
        b"edge": b"E" * 100,
        b"inl": {b"x": b"y" * 200},  # inline: 16 + 16 + 16 + 1 + 200 bytes
        b"sub": {b"deep": {b"v": b"z" * 2000}, b"small": b"s"},  # both stored as pages
        b"tiny": b"t",
    }
    root = parse_bolt(tree_db(tree), max_value=100)
    assert root.oversized == {b"big": 5000, b"inl": 249}
    assert b"big" not in root and root.value(b"big") is None and root.get(b"inl") is None
    assert root.values() == {b"edge": b"E" * 100, b"tiny": b"t"}
    sub = root.bucket(b"sub")
    assert sub is not None and sub.oversized == {}
    deep = sub.bucket(b"deep")
    assert deep is not None and deep.oversized == {b"v": 2000} and len(deep) == 0
    assert root == expected_bucket(tree, 100)
    # Whatever is left out, the rest is what a parse without the cap gives.
    full = parse_bolt(tree_db(tree))
    assert full.to_dict() == tree and full.oversized == {}
    assert full != root
    assert "oversized" in repr(root)


def test_oversized_value_is_never_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A 1 GiB value in a sparse file: reading it (or the file) would show in the pread count.
    huge = 1 << 30
    n = 2
    elems = struct.pack("<IIII", 0, 2 * 16, 1, 5)  # "a" -> "small"
    elems += struct.pack("<IIII", 0, 16 + 6, 3, huge)  # "big" -> 1 GiB, never written
    head = struct.pack("<QHHI", 3, 0x02, n, 0) + elems + b"asmall" + b"big"
    overflow = (len(head) + huge - 1) // PS
    head = head[:12] + struct.pack("<I", overflow) + head[16:]
    target = tmp_path / "sparse.db"
    write_sparse_db(target, {3: head}, 3 + 1 + overflow)
    assert target.stat().st_size > huge and target.stat().st_blocks * 512 < 1 << 20
    counter = PreadCounter(monkeypatch)
    maps: list[object] = []
    monkeypatch.setattr(mmap, "mmap", lambda *a, **k: maps.append(a))
    root = load_bolt(str(target), cap=2 << 30, max_value=1 << 20)
    assert root.to_dict() == {b"a": b"small"}
    assert root.oversized == {b"big": huge}
    assert 0 < counter.bytes < 64 * 1024 and not maps


def test_huge_leaf_page_with_overflow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    values = {
        b"a": b"x" * 10,
        b"b": bytes(range(256)) * 8192,  # 2 MiB
        b"c": b"",
        b"d": b"d" * 3_000_000,
        b"e": b"e" * 100,
    }
    data = tree_db(values)
    # One leaf page spanning ~5 MiB: over the page buffer, so the pread path reads it piecewise.
    _pid, flags, count, overflow = struct.unpack_from("<QHHI", data, 3 * PS)
    assert flags == 0x02 and count == 5 and (1 + overflow) * PS > 4 * bbolt_mod._PAGE_BUFFER
    target = tmp_path / "huge-leaf.db"
    target.write_bytes(data)
    assert parse_bolt(data).to_dict() == values
    capped = parse_bolt(data, max_value=1 << 20)
    assert capped.oversized == {b"b": 2 << 20, b"d": 3_000_000}
    assert capped.values() == {b"a": b"x" * 10, b"c": b"", b"e": b"e" * 100}

    counter = PreadCounter(monkeypatch)
    assert load_bolt(str(target), max_value=1 << 20, whole_file_limit=0) == capped
    assert counter.bytes < 64 * 1024  # metas, headers, elements, keys, the small values
    counter.bytes = 0
    assert load_bolt(str(target), whole_file_limit=0).to_dict() == values
    assert counter.bytes < len(data)


@pytest.mark.parametrize("max_value", [bbolt_mod.MAX_VALUE, 64])
@pytest.mark.parametrize("name", REAL_FILES)
def test_pread_path_equals_whole_file_real(name: str, max_value: int) -> None:
    data = real(name)
    whole = parse_bolt(data, max_value=max_value)
    assert load_bolt(str(DATA / name), max_value=max_value) == whole
    assert load_bolt(str(DATA / name), max_value=max_value, whole_file_limit=0) == whole
    for page_buffer in (0, PS, bbolt_mod._PAGE_BUFFER):
        assert both_paths(data, max_value, page_buffer) == (("ok", whole), ("ok", whole))
    if name == "volumes-many.db" and max_value == 64:
        vols = whole.bucket(b"volumes")
        assert vols is not None and vols.oversized[b"bigvol"] > PS


@pytest.mark.parametrize("name", REAL_FILES)
def test_pread_path_truncation_and_flips_match(name: str) -> None:
    data = real(name)
    hwm = _hwm(data)
    for cut in sorted({*range(0, len(data), stride(1021)), hwm - 1, hwm}):
        whole, pread = both_paths(data[:cut], page_buffer=0)
        assert whole == pread
    for off in range(0, hwm, stride(97)):
        mutated = bytearray(data)
        mutated[off] ^= 0x5A
        whole, pread = both_paths(bytes(mutated), max_value=200, page_buffer=0)
        assert whole == pread


def test_pread_path_never_writes_locks_or_maps(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[int] = []
    real_open = os.open

    def spy_open(path: str, flags: int, *args: int) -> int:
        seen.append(flags)
        return real_open(path, flags, *args)

    def forbidden(*_a: object, **_k: object) -> None:
        raise AssertionError("must never lock or map")

    target = tmp_path / "m.db"
    target.write_bytes(real("metadata_v2.db"))
    before = target.stat()
    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(fcntl, "flock", forbidden)
    monkeypatch.setattr(fcntl, "lockf", forbidden)
    monkeypatch.setattr(mmap, "mmap", forbidden)
    counter = PreadCounter(monkeypatch)
    fds_before = set(os.listdir("/proc/self/fd"))
    assert load_bolt(str(target), whole_file_limit=0) == parse_bolt(real("metadata_v2.db"))
    assert counter.calls > 0
    assert seen and all(f & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC) == 0 for f in seen)
    assert all(f & os.O_NOFOLLOW and f & os.O_NONBLOCK for f in seen)
    assert set(os.listdir("/proc/self/fd")) <= fds_before  # the descriptor was closed
    after = target.stat()
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)


def test_pread_path_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_bolt(str(tmp_path / "missing.db"), whole_file_limit=0)
    target = tmp_path / "real.db"
    target.write_bytes(real("volumes-many.db"))
    link = tmp_path / "link.db"
    link.symlink_to(target)
    with pytest.raises(BoltError, match="symlink"):
        load_bolt(str(link), whole_file_limit=0)
    with pytest.raises(BoltError, match=r"over the 1000-byte cap"):
        load_bolt(str(target), cap=1000, whole_file_limit=0)
    with pytest.raises(BoltError, match="not a regular file"):
        load_bolt(str(tmp_path), whole_file_limit=0)
    os.mkfifo(tmp_path / "fifo.db")
    with pytest.raises(BoltError, match="not a regular file"):
        load_bolt(str(tmp_path / "fifo.db"), whole_file_limit=0)
    # Above the whole-file limit but under the cap: the pread path, not an error.
    assert load_bolt(str(target), whole_file_limit=1000) == parse_bolt(real("volumes-many.db"))


def test_pread_path_file_shrinking_under_us(tmp_path: Path) -> None:
    data = real("volumes-many.db")
    target = tmp_path / "shrinks.db"
    target.write_bytes(data)
    fd = os.open(target, os.O_RDONLY)
    src = bbolt_mod._FileSource(fd, len(data), str(target))
    try:
        os.truncate(target, 3 * PS)  # after the "fstat": the source still believes the old size
        with pytest.raises(BoltError, match="shrank while being read"):
            bbolt_mod._parse(src)
    finally:
        src.close()


def test_pread_read_error_is_bolt_error_naming_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = tmp_path / "eio.db"
    target.write_bytes(real("volumes-many.db"))
    calls: list[int] = []

    def eio(fd: int, n: int, offset: int) -> bytes:
        calls.append(offset)
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "pread", eio)
    with pytest.raises(BoltError, match=r"eio\.db: Input/output error$"):
        load_bolt(str(target), whole_file_limit=0)
    assert len(calls) == 1  # an I/O error is not retried


def test_overlapping_elements_hit_the_kept_bytes_budget() -> None:
    # 100 elements whose 1-byte keys are consecutive bytes and whose values all run over the
    # same 2,000 bytes: a one-page file that would otherwise materialise 200 KB.
    n = 100
    base = 16 + n * 16
    elems = b"".join(struct.pack("<IIII", 0, base + i - (16 + i * 16), 1, 2000) for i in range(n))
    body = struct.pack("<QHHI", 3, 0x02, n, 0) + elems + bytes(range(1, n + 1))
    body = body.ljust(base + n + 2000, b"v")
    assert len(body) <= PS
    db = build_db({3: body})
    message = (
        "root bucket, page 3: keys and values add up to more than twice the file's 16384 bytes"
    )
    with pytest.raises(BoltError, match=message):
        parse_bolt(db)
    whole, pread = both_paths(db, page_buffer=0)
    assert whole == pread == ("error", message + ": elements overlap")
    # Under the value cap the values are not kept, so the same page is fine.
    assert parse_bolt(db, max_value=100).oversized == {bytes([i + 1]): 2000 for i in range(n)}


def test_key_over_bbolt_maximum_is_corruption() -> None:
    key = b"k" * (bbolt_mod.MAX_KEY + 1)
    db = tree_db({key: b"v"})
    with pytest.raises(BoltError, match="over bbolt's 32768-byte maximum"):
        parse_bolt(db)
    assert parse_bolt(tree_db({key[:-1]: b"v"})).keys() == [key[:-1]]


def test_page_inside_a_long_overflow_is_caught() -> None:
    # A leaf with ~2,400 overflow pages, then a page starting inside them: still caught.
    big = b"x" * (10 << 20)
    body = leaf_body([(0, b"a", big)], 4, overflow=(len(big) + 64) // PS)
    npages_leaf = 1 + (len(big) + 64) // PS
    inside = 4 + npages_leaf // 2
    pages = {
        3: branch_body([(b"a", 4), (b"b", inside)], 3),
        4: body,
        inside: leaf_body([(0, b"b", b"")], inside),
    }
    db = bytearray(build_db(pages))
    # The inner page's header was overwritten by the big value: put it back over the value.
    db[inside * PS : inside * PS + 16 + 16 + 1] = leaf_body([(0, b"b", b"")], inside)
    whole, pread = both_paths(bytes(db), max_value=1 << 20, page_buffer=0)
    assert (
        whole
        == pread
        == ("error", f"root bucket: page {inside} reached twice (cycle or shared page)")
    )


# --- volumes/metadata.db: caps on what is kept -------------------------------------------------


def _vol(labels: dict[str, str] | None = None, options: dict[str, str] | None = None) -> bytes:
    return json.dumps({"Driver": "local", "Labels": labels, "Options": options}).encode()


def test_volume_metadata_truncates_labels_and_options() -> None:
    labels = {f"l{i:04d}": str(i) for i in reversed(range(1000))}
    options = {f"o{i:03d}": "x" for i in range(257)}
    long_key, long_value = "k" * 20000, "v" * 20000
    entries = {
        b"many": _vol(labels, options),
        b"long": _vol({long_key: "short", "plain": long_value, "ok": "1"}, {"o": long_value}),
        b"fine": _vol({f"l{i}": "x" for i in range(256)}, {f"o{i}": "x" for i in range(256)}),
        b"drv": json.dumps({"Driver": "d" * 20000}).encode(),
    }
    vols, skipped = parse_volume_metadata(BoltBucket({b"volumes": BoltBucket(entries)}))
    assert list(vols) == ["many", "long", "fine", "drv"]
    many = vols["many"]
    assert list(many.labels) == [f"l{i:04d}" for i in range(256)]  # the first, in key order
    assert many.labels["l0255"] == "255" and len(many.options) == 256
    assert "o256" not in many.options
    long = vols["long"]
    assert long.labels == {"k" * 16384: "short", "plain": "v" * 16384, "ok": "1"}
    assert long.options == {"o": "v" * 16384}
    assert len(vols["fine"].labels) == len(vols["fine"].options) == 256
    assert vols["drv"].driver == "d" * 16384
    assert skipped == []  # cut, not skipped: each volume says what was cut
    assert many.truncated == (
        "1,000 labels; only the first 256 are kept",
        "257 options; only the first 256 are kept",
    )
    assert long.truncated == (
        "2 of the labels had a key or value over 16384 characters: cut to 16384",
        "1 of the options had a key or value over 16384 characters: cut to 16384",
    )
    assert vols["drv"].truncated == ("Driver of 20,000 characters: cut to 16384",)
    assert vols["fine"].truncated == ()


def test_volume_metadata_oversized_value_is_a_skip(tmp_path: Path) -> None:
    big = _vol({"a": "x" * (2 << 20)})
    db = tree_db({b"volumes": {b"a-ok": _vol({"k": "v"}), b"big": big, b"zz": _vol()}})
    root = parse_bolt(db, max_value=1 << 20)
    vols, skipped = parse_volume_metadata(root, max_value=1 << 20)
    reason = f"value of {len(big):,} bytes, over the 1,048,576-byte cap: not read"
    assert list(vols) == ["a-ok", "zz"] and skipped == [("big", reason)]
    target = tmp_path / "metadata.db"
    target.write_bytes(db)
    assert read_volume_metadata(str(target)) == (vols, skipped)
    # With a cap above the value it is read, and cut like any other long label.
    vols, skipped = read_volume_metadata(str(target), max_value=4 << 20)
    assert vols["big"].labels == {"a": "x" * 16384} and skipped == []
    assert vols["big"].truncated  # said on the volume, not as a skip


def test_read_volumes_reports_oversized_metadata_as_skipped(tmp_path: Path) -> None:
    from inspector.readers.volumes import read_volumes

    vdir = tmp_path / "volumes"
    for name in ("big", "ok"):
        (vdir / name / "_data").mkdir(parents=True)
    big = _vol({"a": "x" * (2 << 20)})
    db = tree_db({b"volumes": {b"big": big, b"ok": _vol({"team": "infra"})}})
    (vdir / "metadata.db").write_bytes(db)
    area = read_volumes(str(vdir))
    assert area.volumes["ok"].labels == {"team": "infra"}
    assert area.volumes["big"].has_dir and not area.volumes["big"].in_metadata
    db_path = str(vdir / "metadata.db")
    assert [(s.path, s.reason) for s in area.skipped] == [
        (f"{db_path}:big", f"value of {len(big):,} bytes, over the 1,048,576-byte cap: not read")
    ]


# --- property tests: the pread path and the whole-image path agree -----------------------------

_PREAD_FUZZ = settings(
    max_examples=examples(400),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
_tree_value = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda n, b: bytes([b]) * n, st.integers(0, 3 * PS), st.integers(0, 255)),
)
_trees = st.dictionaries(
    st.binary(max_size=8),
    st.recursive(
        _tree_value,
        lambda kids: st.dictionaries(st.binary(max_size=8), kids, max_size=6),
        max_leaves=12,
    ),
    max_size=8,
)
_max_values = st.sampled_from([0, 8, 40, 1000, PS, bbolt_mod.MAX_VALUE])
_page_buffers = st.sampled_from([0, PS, bbolt_mod._PAGE_BUFFER])


@_PREAD_FUZZ
@given(tree=_trees, per_leaf=st.integers(1, 8), max_value=_max_values, page_buffer=_page_buffers)
def test_fuzz_tree_round_trip_both_paths(
    tree: dict[bytes, object], per_leaf: int, max_value: int, page_buffer: int
) -> None:
    data = tree_db(tree, per_leaf)
    assert parse_bolt(data).to_dict() == tree
    want = expected_bucket(tree, max_value)
    assert both_paths(data, max_value, page_buffer) == (("ok", want), ("ok", want))


@_PREAD_FUZZ
@given(
    tree=_trees,
    edits=st.lists(
        st.tuples(st.integers(0, 2**20), st.integers(0, 127), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    ),
    resign=st.booleans(),
    max_value=_max_values,
    page_buffer=_page_buffers,
)
def test_fuzz_mutated_trees_both_paths_agree(
    tree: dict[bytes, object],
    edits: list[tuple[int, int, int]],
    resign: bool,
    max_value: int,
    page_buffer: int,
) -> None:
    buf = bytearray(tree_db(tree, 3))
    for page, off, byte in edits:
        # Mostly padding otherwise: aim at page headers, elements and the first keys.
        buf[(page % (len(buf) // PS)) * PS + off] = byte
    if resign:
        _fix_checksums(buf)
    whole, pread = both_paths(bytes(buf), max_value, page_buffer)
    assert whole == pread
