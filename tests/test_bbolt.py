"""Tests for the read-only bbolt reader and the volumes/metadata.db reader.

Real files in tests/data/bbolt/ were written by dockerd 20.10 (see the README there); synthetic
files are built by the tiny writer below so each structure and each corruption is exact.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import time
from pathlib import Path

import pytest
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
    for off in range(0, hwm, 23):
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


# --- property tests (hypothesis): 4 x 2500 examples ------------------------------------------

_FUZZ = settings(
    max_examples=2500,
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
