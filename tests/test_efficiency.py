"""The efficiency pieces without a daemon: the tar-split reader, dive's rules, the walk, the cache.

The numbers themselves are checked against dive on real images in
``tests/test_efficiency_dive.py``; here each rule of dive's that those images cannot reach
(a whiteout of a path absent below, a repeated layer) is pinned on hand-made layers, the
reader is fed real tar headers and every kind of corrupt file, and the fallback walk and the
cache are checked on directories and files made here.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import socket
import stat
import tarfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from inspector.analysis import efficiency as eff
from inspector.errors import ReaderError
from inspector.measure import effcache
from inspector.measure.layerfiles import walk_diff
from inspector.measure.sizecache import CacheRefused
from inspector.model import LayerFiles, Skipped, TarEntry
from inspector.report import efficiency as presenter
from inspector.stores.graphdriver.tarsplit import read_entries


def _header(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, mode: int = 0o644) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mode = mode
    if kind in (tarfile.LNKTYPE, tarfile.SYMTYPE):
        info.linkname = "target"
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _seg(raw: bytes) -> str:
    return json.dumps({"type": 2, "payload": base64.b64encode(raw).decode(), "position": 0})


def _file(
    name: str | None, size: int = 0, crc: bytes | None = None, raw: bytes | None = None
) -> str:
    doc: dict[str, Any] = {"type": 1, "payload": base64.b64encode(crc).decode() if crc else None}
    if raw is not None:
        doc["name_raw"] = base64.b64encode(raw).decode()
    else:
        doc["name"] = name
    if size:
        doc["size"] = size
    return json.dumps(doc)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def test_reads_names_sizes_kinds_and_checksums(tmp_path: Path) -> None:
    long_name = "deep/" + "x" * 150 + "/file.bin"  # a PAX header precedes the ustar one
    crc = (0x0123456789ABCDEF).to_bytes(8, "big")
    lines = [
        _seg(_header("etc/", tarfile.DIRTYPE, mode=0o755)),
        _file("etc/"),
        _seg(_header("etc/passwd", size=30)),
        _file("etc/passwd", 30, crc),
        _seg(b"\0" * 482 + _header("etc/link", tarfile.LNKTYPE)),  # padding, then the header
        _file("etc/link"),
        _seg(_header("bin/sh", tarfile.SYMTYPE)),
        _file("bin/sh"),
        _seg(_header(long_name, size=7)),
        _file(long_name, 7, crc),
        _seg(_header("bad\udcff", size=1)),
        _file(None, 1, raw=b"bad\xff"),
        _seg(_header("fifo", tarfile.FIFOTYPE)),
        _file("fifo"),
        _seg(b"\0" * 1024),
    ]
    entries = read_entries(str(_write(tmp_path / "ts.json.gz", lines)))
    assert entries == (
        TarEntry("etc/", 0, "d"),
        TarEntry("etc/passwd", 30, "f", 0x0123456789ABCDEF),
        TarEntry("etc/link", 0, "h"),
        TarEntry("bin/sh", 0, "l"),
        TarEntry(long_name, 7, "f", 0x0123456789ABCDEF),
        TarEntry("bad\udcff", 1, "f"),
        TarEntry("fifo", 0, "o"),
    )


def _bomb(tmp: Path) -> bytes:
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    return co.compress(b"\n" * (64 * 1024 * 1024)) + co.flush()


CORRUPT = [
    ("not gzip", lambda t: b"plain text\n", "gzip"),
    (
        "truncated",
        lambda t: gzip.compress(((_seg(_header("a")) + "\n") * 50).encode())[:-30],
        "truncated",
    ),
    ("not JSON", lambda t: gzip.compress(b"{nope\n"), "not JSON"),
    ("not an object", lambda t: gzip.compress(b"[1, 2]\n"), "not a JSON object"),
    ("unknown type", lambda t: gzip.compress(b'{"type": 7}\n'), "unknown entry type"),
    ("entry without header", lambda t: gzip.compress(_file("a").encode() + b"\n"), "no tar header"),
    (
        "bad segment base64",
        lambda t: gzip.compress(b'{"type":2,"payload":"!!!!","position":0}\n'),
        "base64",
    ),
    (
        "negative size",
        lambda t: gzip.compress((_seg(_header("a")) + "\n" + _file("a", -5)).encode()),
        "size",
    ),
    ("bomb", _bomb, "more than"),
]


@pytest.mark.parametrize(("what", "make", "reason"), CORRUPT, ids=[c[0] for c in CORRUPT])
def test_corrupt_files_are_reader_errors(tmp_path: Path, what: str, make: Any, reason: str) -> None:
    path = tmp_path / "tar-split.json.gz"
    path.write_bytes(make(tmp_path))
    with pytest.raises(ReaderError) as e:
        read_entries(str(path), max_inflated=16 * 1024 * 1024)
    assert str(e.value).startswith(f"{path}: ")
    assert reason in str(e.value)


def test_caps_and_symlinks(tmp_path: Path) -> None:
    lines = [_seg(_header("a")), _file("a"), _seg(_header("b")), _file("b")]
    path = _write(tmp_path / "ts.json.gz", lines)
    with pytest.raises(ReaderError, match="more than 1 entries"):
        read_entries(str(path), max_entries=1)
    with pytest.raises(ReaderError, match="longer than"):
        read_entries(str(path), max_line=100)
    link = tmp_path / "link.json.gz"
    link.symlink_to(path)
    with pytest.raises(ReaderError, match="symlink"):
        read_entries(str(link))
    with pytest.raises(FileNotFoundError):
        read_entries(str(tmp_path / "missing.json.gz"))


# --------------------------------------------------------------------------- dive's rules


def F(name: str, size: int = 0) -> TarEntry:
    return TarEntry(name, size, "f")


def D(name: str) -> TarEntry:
    return TarEntry(name, 0, "d")


def _run(*layers: list[TarEntry], diff_ids: list[str] | None = None) -> eff.ImageEfficiency:
    diffs = diff_ids or [f"sha256:{i:064x}" for i in range(len(layers))]
    from inspector.ids import chain_ids

    chains = chain_ids(diffs)
    by_chain = {}
    for ch, entries in zip(chains, layers, strict=False):
        by_chain.setdefault(ch, entries)

    def load(chain: str) -> LayerFiles | Skipped:
        return LayerFiles(chain, tuple(by_chain[chain]))

    return eff.Engine(load).image("sha256:" + "f" * 64, ("t:1",), diffs)


def test_overwritten_file_and_deleted_dir() -> None:
    img = _run(
        [D("a/"), F("a/big", 100), D("gone/"), D("gone/sub/"), F("gone/sub/x", 30), F("gone/y", 5)],
        [D("a/"), F("a/big", 40), F(".wh.gone")],
    )
    # /a/big: 100 + 40 wasted; the whiteout of /gone counts the 35 bytes below it, once.
    assert [(f.path, f.count, f.bytes) for f in img.inefficient_files] == [("/a/big", 2, 140)]
    assert img.wasted_bytes == 140
    assert img.efficiency_score == (40 + 30 + 5 + 35) / (140 + 30 + 5 + 35)
    assert img.size == 175 and img.user_size == 40
    assert img.user_wasted_percent == 140 / 40
    assert [(c.added, c.modified, c.removed, c.removed_bytes) for c in img.layers] == [
        (3, 0, 0, 0),
        (0, 1, 2, 35),
    ]


def test_whiteout_of_a_file_counts_zero_and_a_leaf_dir_counts_too() -> None:
    img = _run([D("etc/"), F("etc/f", 9), D("tmp/")], [D("etc/"), F("etc/.wh.f"), D("tmp/")])
    files = {f.path: (f.count, f.bytes) for f in img.inefficient_files}
    assert files == {"/etc/f": (2, 9), "/tmp": (2, 0)}
    assert img.efficiency_score == 0 / 9


def test_whiteout_of_nothing_stops_the_layer_like_dive() -> None:
    # ".wh.zzz" sorts before "b": dive stops there, never counts /b, and scores a -1.
    img = _run([F("a", 10)], [F(".wh.zzz"), F("b", 5)])
    assert img.inefficient_files == ()
    assert img.efficiency_score == (10 - 1) / 10
    assert img.size == 15


def test_opaque_dirs_are_ignored_like_dive() -> None:
    img = _run(
        [D("d/"), F("d/x", 10), F("d/y", 20)],
        [D("d/"), F("d/.wh..wh..opq"), F("d/x", 3)],
    )
    assert [(f.path, f.count, f.bytes) for f in img.inefficient_files] == [("/d/x", 2, 13)]
    # This tool's own count honours the opaque dir: d/y is hidden, d/x modified.
    assert (img.layers[1].modified, img.layers[1].removed, img.layers[1].removed_bytes) == (
        1,
        1,
        20,
    )


def test_a_repeated_layer_is_empty_for_dive() -> None:
    same = [F("x", 7)]
    d = "sha256:" + "1" * 64
    img = _run(same, [F("y", 1)], same, diff_ids=[d, "sha256:" + "2" * 64, d])
    assert img.size == 8 and img.inefficient_files == ()


def test_hostile_names_are_escaped_in_text() -> None:
    img = _run([F("evil\x1b[31m", 4)], [F("evil\x1b[31m", 4)])
    report = eff.EfficiencyReport(root="/r", images=(img,))
    text = presenter.render_text(report)
    assert "\x1b" not in text and "evil\\x1b[31m" in text
    assert "\x1b" not in presenter.render_json(report)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("20M", 20_000_000),
        ("20MB", 20_000_000),
        ("20MiB", 20 * 1024**2),
        ("1,000", 1000),
        ("1.5k", 1500),
        ("20 mb", 20_000_000),
        ("7", 7),
    ],
)
def test_sizes_read_like_dive(text: str, value: int) -> None:
    assert eff.parse_dive_bytes(text) == value


@pytest.mark.parametrize("text", ["lots", "", "-1", "20X", "1e3"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(eff.UsageError):
        eff.parse_dive_bytes(text)


def test_go_bytes_like_humanize() -> None:
    assert [presenter.go_bytes(n) for n in (0, 9, 10, 999, 1000, 3150765, 5000)] == [
        "0 B",
        "9 B",
        "10 B",
        "999 B",
        "1.0 kB",
        "3.2 MB",
        "5.0 kB",
    ]


# --------------------------------------------------------------------------- the walk


def test_walk_writes_the_entries_dockers_tar_would(tmp_path: Path) -> None:
    diff = tmp_path / "diff"
    (diff / "b" / "opq").mkdir(parents=True)
    os.setxattr(diff / "b" / "opq", "trusted.overlay.opaque", b"y")
    (diff / "b" / "opq" / "new").write_bytes(b"12345")
    (diff / "a").write_bytes(b"abc")
    os.link(diff / "a", diff / "c-link")
    (diff / "sym").symlink_to("/etc/shadow")
    os.mknod(diff / "deleted", stat.S_IFCHR | 0o600, 0)
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(diff / "sock"))
        entries = walk_diff(str(diff))
    assert entries == (
        TarEntry("a", 3, "f"),
        TarEntry("b/", 0, "d"),
        TarEntry("b/opq/", 0, "d"),
        TarEntry("b/opq/.wh..wh..opq", 0, "f"),
        TarEntry("b/opq/new", 5, "f"),
        TarEntry("c-link", 0, "h"),
        TarEntry(".wh.deleted", 0, "f"),
        TarEntry("sym", 0, "l"),
    )


# --------------------------------------------------------------------------- the cache


def test_cache_is_private_never_in_the_root_and_ignores_garbage(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(CacheRefused):
        effcache.EfficiencyCache.open(str(root), {"XDG_CACHE_HOME": str(root / "c")})
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    c = effcache.EfficiencyCache.open(str(root), env)
    c.identities = {"sha256:a": "id1"}
    c.put("layer:sha256:a", {"v": 1})
    assert c.save(present=["sha256:a"])
    path = Path(c.path or "")
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    again = effcache.EfficiencyCache.open(str(root), env)
    again.identities = {"sha256:a": "id1"}
    assert again.get("layer:sha256:a") == {"v": 1}
    again.identities = {"sha256:a": "other"}
    assert again.get("layer:sha256:a") is None
    path.write_bytes(b"\x00garbage")
    broken = effcache.EfficiencyCache.open(str(root), env)
    broken.identities = {"sha256:a": "id1"}
    assert broken.get("layer:sha256:a") is None
