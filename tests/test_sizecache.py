"""The size cache: where it lives, what invalidates an entry, and that nothing breaks it.

Pure file-system tests in tmp_path (no daemon). The scan-level guarantees (a changed dir is
re-walked, --no-cache writes nothing, ...) are in test_scan.py.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from inspector.measure import sizecache
from inspector.measure.sizecache import CacheRefused, Entry, SizeCache
from inspector.model import Usage


def make_layer(base: Path, name: str = "layer") -> Path:
    d = base / name
    (d / "diff" / "etc").mkdir(parents=True)
    (d / "diff" / "etc" / "file").write_text("hello")
    (d / "link").write_text("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return d


def entry(ident: tuple[int, ...], apparent: int = 5) -> Entry:
    return Entry(ident, Usage(apparent, 8192, 4, payload=apparent))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    return r


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}


# --------------------------------------------------------------------------- identity


def test_identity_changes_when_the_dir_is_replaced_under_the_same_name(tmp_path: Path) -> None:
    layer = make_layer(tmp_path)
    before = sizecache.identity(str(layer), str(layer / "diff"), ["cache-id", 5])
    assert before is not None
    assert sizecache.identity(str(layer), str(layer / "diff"), ["cache-id", 5]) == before
    # Same name, same content, new inodes (what a restore or a re-pull does).
    copy = tmp_path / "copy"
    shutil.copytree(layer, copy)
    shutil.rmtree(layer)
    copy.rename(layer)
    after = sizecache.identity(str(layer), str(layer / "diff"), ["cache-id", 5])
    assert after is not None and after != before


def test_identity_changes_when_the_diff_dir_is_touched(tmp_path: Path) -> None:
    layer = make_layer(tmp_path)
    before = sizecache.identity(str(layer), str(layer / "diff"))
    (layer / "diff" / "new").write_text("x")  # diff/'s mtime and ctime move
    assert sizecache.identity(str(layer), str(layer / "diff")) != before


def test_identity_covers_the_recorded_facts(tmp_path: Path) -> None:
    layer = make_layer(tmp_path)
    a = sizecache.identity(str(layer), None, ["sha256:aa", 10])
    b = sizecache.identity(str(layer), None, ["sha256:aa", 11])
    assert a is not None and b is not None and a != b


def test_identity_is_none_for_missing_or_non_directories(tmp_path: Path) -> None:
    assert sizecache.identity(str(tmp_path / "nope"), None) is None
    (tmp_path / "f").write_text("x")
    assert sizecache.identity(str(tmp_path / "f"), None) is None
    os.symlink(tmp_path, tmp_path / "sym")
    assert sizecache.identity(str(tmp_path / "sym"), None) is None  # lstat: never followed


# --------------------------------------------------------------------------- location


def test_cache_dir_follows_xdg_then_home(root: Path, tmp_path: Path) -> None:
    xdg = str(tmp_path / "xdg")
    assert sizecache.cache_dir(str(root), {"XDG_CACHE_HOME": xdg}) == f"{xdg}/docker-inspector"
    home = str(tmp_path / "home")
    expected = f"{home}/.cache/docker-inspector"
    assert sizecache.cache_dir(str(root), {"HOME": home}) == expected
    # The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    got = sizecache.cache_dir(str(root), {"XDG_CACHE_HOME": "rel/dir", "HOME": home})
    assert got == expected


@pytest.mark.parametrize("var", ["XDG_CACHE_HOME", "HOME"])
def test_cache_dir_inside_the_root_is_refused(root: Path, var: str) -> None:
    env = {var: str(root / "sub")}
    with pytest.raises(CacheRefused, match="inside the data root"):
        sizecache.cache_dir(str(root), env)
    with pytest.raises(CacheRefused):
        SizeCache.open(str(root), env)
    assert os.listdir(root) == []  # nothing was created while deciding


def test_cache_dir_reaching_the_root_through_a_symlink_is_refused(
    root: Path, tmp_path: Path
) -> None:
    os.symlink(root, tmp_path / "alias")
    with pytest.raises(CacheRefused):
        sizecache.cache_dir(str(root), {"XDG_CACHE_HOME": str(tmp_path / "alias")})
    with pytest.raises(CacheRefused):  # the root itself given through a symlink
        sizecache.cache_dir(str(tmp_path / "alias"), {"XDG_CACHE_HOME": str(root)})


def test_one_file_per_root(tmp_path: Path) -> None:
    a = sizecache.file_name(str(tmp_path / "a"))
    b = sizecache.file_name(str(tmp_path / "b"))
    assert a != b and a.startswith("sizes-") and a.endswith(".json")


# --------------------------------------------------------------------------- round trip


def test_round_trip_and_identity_check(root: Path, env: dict[str, str]) -> None:
    c = SizeCache.open(str(root), env)
    assert c.get("x", (1, 2)) is None
    c.put("x", entry((1, 2), 42))
    assert c.save(present=["x"])
    assert c.path is not None and os.stat(c.path).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(c.path)).st_mode & 0o777 == 0o700
    again = SizeCache.open(str(root), env)
    hit = again.get("x", (1, 2))
    assert hit is not None and hit.usage.apparent == 42
    assert again.get("x", (1, 3)) is None  # any identity change is a miss
    assert again.get("x", None) is None
    assert not [n for n in os.listdir(os.path.dirname(c.path)) if n.startswith(".tmp-")]


def test_nothing_is_written_when_nothing_changed(root: Path, env: dict[str, str]) -> None:
    c = SizeCache.open(str(root), env)
    c.put("x", entry((1,)))
    assert c.save(present=["x"])
    assert c.path is not None
    before = os.stat(c.path)
    warm = SizeCache.open(str(root), env)
    assert warm.get("x", (1,)) is not None
    assert not warm.save(present=["x"])
    after = os.stat(c.path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_entries_of_dirs_that_are_gone_are_dropped(root: Path, env: dict[str, str]) -> None:
    c = SizeCache.open(str(root), env)
    c.put("old", entry((1,)))
    c.put("new", entry((2,)))
    c.save(present=["old", "new"])
    c2 = SizeCache.open(str(root), env)
    c2.save(present=["new"])
    assert set(SizeCache.open(str(root), env).entries) == {"new"}


def test_entries_beyond_the_cap_are_dropped_oldest_first(
    root: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sizecache, "MAX_ENTRIES", 3)
    for k in range(5):
        c = SizeCache.open(str(root), env)
        c.now = 1000.0 + k  # each run a bit later
        c.put(f"e{k}", entry((k,)))
        c.save()
    assert set(SizeCache.open(str(root), env).entries) == {"e2", "e3", "e4"}


def test_old_root_files_beyond_the_cap_are_removed(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sizecache, "MAX_ROOT_FILES", 2)
    paths = []
    for k in range(4):
        c = SizeCache.open(str(tmp_path / f"root{k}"), env)
        c.put("x", entry((k,)))
        c.save()
        assert c.path is not None
        os.utime(c.path, (1000 + k, 1000 + k))
        paths.append(c.path)
    c = SizeCache.open(str(tmp_path / "root9"), env)
    c.put("x", entry((9,)))
    c.save()
    left = sorted(os.listdir(os.path.dirname(paths[0])))
    assert len(left) == 2 and os.path.basename(paths[3]) in left


def test_disabled_cache_reads_and_writes_nothing(root: Path, env: dict[str, str]) -> None:
    c = sizecache.disabled(str(root))
    c.put("x", entry((1,)))
    assert not c.enabled and not c.save()
    assert not os.path.exists(env["XDG_CACHE_HOME"])


def test_a_dir_with_too_many_outside_links_is_not_cached(root: Path, env: dict[str, str]) -> None:
    c = SizeCache.open(str(root), env)
    links = tuple((1, i, 4096) for i in range(sizecache.MAX_LINKS_PER_ENTRY + 1))
    c.put("x", Entry((1,), Usage(0, 0, 1, links=links)))
    assert "x" not in c.entries


# --------------------------------------------------------------------------- corruption


def _write_cache(root: Path, env: dict[str, str], data: bytes) -> str:
    path = os.path.join(env["XDG_CACHE_HOME"], "docker-inspector", sizecache.file_name(str(root)))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def _valid(data_root: Path, **changes: object) -> bytes:
    doc: dict[str, object] = {
        "version": sizecache.FORMAT_VERSION,
        "root": str(data_root),
        "entries": {"x": [[1], 5, 5, 4096, 2, [], 1.0]},
    }
    doc.update(changes)
    return json.dumps(doc).encode()


CORRUPT: dict[str, Callable[[Path], bytes]] = {
    "garbage": lambda r: b"\x00\xff not json at all",
    "truncated": lambda r: _valid(r)[:-7],
    "empty": lambda r: b"",
    "a list": lambda r: b"[1, 2, 3]",
    "other version": lambda r: _valid(r, version=999),
    "other root": lambda r: _valid(r, root="/somewhere/else"),
    "entries not a dict": lambda r: _valid(r, entries=[1, 2]),
    "bad entry": lambda r: _valid(r, entries={"x": [[1], -5, "x", None, 2, [], 1.0]}),
    "bad links": lambda r: _valid(r, entries={"x": [[1], 5, 5, 1, 2, [[1, "a"]], 1.0]}),
    "bool as int": lambda r: _valid(r, entries={"x": [[True], 5, 5, 1, 2, [], 1.0]}),
    "deep nesting": lambda r: b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_a_corrupt_cache_file_is_ignored_and_replaced(
    root: Path, env: dict[str, str], kind: str
) -> None:
    path = _write_cache(root, env, CORRUPT[kind](root))
    c = SizeCache.open(str(root), env)
    assert c.get("x", (1,)) is None
    c.put("y", entry((2,)))
    assert c.save()
    assert set(SizeCache.open(str(root), env).entries) == {"y"}
    assert json.loads(Path(path).read_bytes())["version"] == sizecache.FORMAT_VERSION


def test_a_valid_file_is_read(root: Path, env: dict[str, str]) -> None:
    _write_cache(root, env, _valid(root))
    hit = SizeCache.open(str(root), env).get("x", (1,))
    assert hit is not None and hit.usage.disk == 4096


def test_a_symlink_or_dir_in_place_of_the_cache_file_is_ignored(
    root: Path, env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_bytes(_valid(root))
    path = _write_cache(root, env, b"")
    os.unlink(path)
    os.symlink(target, path)
    assert SizeCache.open(str(root), env).entries == {}  # O_NOFOLLOW: not followed
    os.unlink(path)
    os.mkdir(path)
    c = SizeCache.open(str(root), env)
    assert c.entries == {}
    c.put("x", entry((1,)))
    assert not c.save()  # cannot replace a dir: reported, not raised


def test_an_unwritable_cache_dir_is_not_an_error(root: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    c = SizeCache.open(str(root), {"XDG_CACHE_HOME": str(blocker)})
    c.put("x", entry((1,)))
    assert c.save() is False


# --------------------------------------------------------------------------- concurrency


def test_concurrent_saves_merge_instead_of_losing_entries(root: Path, env: dict[str, str]) -> None:
    a = SizeCache.open(str(root), env)
    b = SizeCache.open(str(root), env)
    a.put("from-a", entry((1,)))
    b.put("from-b", entry((2,)))
    assert a.save() and b.save()
    assert set(SizeCache.open(str(root), env).entries) == {"from-a", "from-b"}


def _hammer(root: str, env: dict[str, str], k: int) -> None:
    for i in range(25):
        c = SizeCache.open(root, env)
        c.put(f"w{k}-{i}", entry((k, i)))
        c.save()


def test_readers_never_see_a_partial_file_while_others_write(
    root: Path, env: dict[str, str]
) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_hammer, args=(str(root), env, k)) for k in range(3)]
    for p in procs:
        p.start()
    path = os.path.join(env["XDG_CACHE_HOME"], "docker-inspector", sizecache.file_name(str(root)))
    seen = 0
    while any(p.is_alive() for p in procs):
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            continue
        json.loads(data)  # os.replace: always a whole file
        seen += 1
    for p in procs:
        p.join()
        assert p.exitcode == 0
    final = SizeCache.open(str(root), env).entries
    # Without a lock a save can still overwrite one that landed a moment earlier (a later
    # cache miss, never a wrong size); merging keeps most of them.
    assert len(final) >= 25 and all(n.startswith("w") for n in final)
    leftovers = [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".tmp-")]
    assert leftovers == []
