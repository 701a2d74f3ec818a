"""Tests for the BuildKit reader against files and ``/system/df`` output from a real dockerd.

tests/data/bbolt/buildkit-expected.json holds what the daemon that wrote snapshots.db and
metadata_v2.db answered to ``GET /system/df`` (see the README there), plus its images'
``rootfs.diff_ids`` and the 25-character directories under ``overlay2/``.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fuzzscale import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector.readers.bbolt import BoltBucket, parse_bolt
from inspector.readers.buildkit import (
    BuildkitState,
    build_cache_usage,
    image_chain_ids,
    parse_cache_records,
    parse_snapshots,
    read_buildkit,
    shared_record_ids,
    to_model,
)

DATA = Path(__file__).parent / "data" / "bbolt"
EXPECTED: dict[str, Any] = json.loads((DATA / "buildkit-expected.json").read_text())
DF: dict[str, dict[str, Any]] = {b["ID"]: b for b in EXPECTED["build_cache"]}


def _api_time(s: str) -> datetime:
    """Parse the API's RFC 3339 timestamps (nanoseconds) to microseconds, UTC."""
    base, _, frac = s.rstrip("Z").partition(".")
    micro = int((frac or "0").ljust(9, "0")[:6])
    return datetime.fromisoformat(base).replace(tzinfo=UTC, microsecond=micro)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A data root holding copies of the real buildkit databases."""
    bk = tmp_path / "buildkit"
    bk.mkdir()
    shutil.copy(DATA / "snapshots.db", bk / "snapshots.db")
    shutil.copy(DATA / "metadata_v2.db", bk / "metadata_v2.db")
    return tmp_path


@pytest.fixture
def state(root: Path) -> BuildkitState:
    return read_buildkit(str(root))


def test_listed_records_match_docker_df(state: BuildkitState) -> None:
    assert state.present and state.skipped == []
    listed = {r.id: r for r in state.listed_records()}
    assert set(listed) == set(DF)
    assert len(state.records) > len(listed)  # equal-mutable duplicates exist and are hidden
    for rid, rec in listed.items():
        api = DF[rid]
        assert rec.size == api["Size"], rid
        assert rec.parent == (api["Parent"] or None), rid
        assert rec.record_type == api["Type"], rid
        assert rec.description == api["Description"], rid
        assert rec.usage_count == api["UsageCount"], rid
        assert rec.created_at == _api_time(api["CreatedAt"]), rid
        assert rec.last_used_at == _api_time(api["LastUsedAt"]), rid
        assert rec.short_id == rid[:12]


def test_hidden_records_are_equal_mutable_immutables(state: BuildkitState) -> None:
    hidden = [r for r in state.records.values() if not r.listed]
    assert hidden
    for rec in hidden:
        assert rec.equal_mutable in state.records
        partner = state.records[rec.equal_mutable]
        assert partner.listed and partner.mutable
        # df shows the mutable partner with the hidden immutable record's size
        assert partner.size == rec.size


def test_shared_matches_docker_df(state: BuildkitState) -> None:
    chains = image_chain_ids(EXPECTED["image_diff_ids"].values())
    shared = shared_record_ids(state, chains)
    assert shared == {rid for rid, b in DF.items() if b["Shared"]}
    assert shared and shared != set(DF)  # both kinds exist in the fixture
    # Without images nothing is shared; with a deleted image's chain missing, less is.
    assert shared_record_ids(state, frozenset()) == frozenset()


def test_usage_matches_cli_arithmetic(state: BuildkitState) -> None:
    shared = shared_record_ids(state, image_chain_ids(EXPECTED["image_diff_ids"].values()))
    usage = build_cache_usage(state, shared)
    unshared = sum(b["Size"] for b in DF.values() if not b["Shared"])
    assert usage.size == unshared == usage.reclaimable
    assert usage.total_count == len(DF) and usage.active_count == 0
    # The daemon's BuilderSize counts everything; the 20.10 CLI shows only the unshared part.
    assert EXPECTED["builder_size"] == sum(b["Size"] for b in DF.values()) > usage.size


def test_graph_dirs_are_the_overlay2_dirs(state: BuildkitState) -> None:
    assert state.graph_dirs == set(EXPECTED["buildkit_graph_dirs"])
    assert state.graph_dirs < state.bucket_names
    # Committed names point at directories; sha256: buckets are image layers, not dirs.
    for snap in state.snapshots.values():
        if snap.committed:
            assert snap.committed in state.graph_dirs and snap.key not in state.graph_dirs
        if snap.key.startswith("sha256:"):
            assert snap.key not in state.graph_dirs


def test_snapshot_fields(state: BuildkitState) -> None:
    kinds = {
        (s.parent is not None, s.committed is not None, s.chain_id is not None, s.is_committed)
        for s in state.snapshots.values()
    }
    assert (True, False, False, True) in kinds  # committed active key
    assert (True, False, False, False) in kinds  # mutable (context, cache mount)
    assert (False, True, True, False) in kinds  # exported committed name
    sized = [s for s in state.snapshots.values() if s.size is not None]
    assert sized and all(s.size is not None and s.size >= 0 for s in sized)


def test_to_model(root: Path) -> None:
    info, skipped = to_model(str(root), EXPECTED["image_diff_ids"].values())
    assert skipped == [] and info.present and info.readable
    assert {r.id: r.shared for r in info.records} == {i: b["Shared"] for i, b in DF.items()}
    assert {r.id: r.size for r in info.records} == {i: b["Size"] for i, b in DF.items()}
    assert not any(r.in_use for r in info.records)
    assert info.snapshot_keys == read_buildkit(str(root)).bucket_names
    assert info.chain_ids and all(c.startswith("sha256:") for c in info.chain_ids)
    # Without images nothing is shared.
    assert not any(r.shared for r in to_model(str(root))[0].records)
    (root / "buildkit" / "snapshots.db").write_bytes(b"junk")
    info, skipped = to_model(str(root))
    assert not info.readable and [s.path for s in skipped] == [
        str(root / "buildkit" / "snapshots.db")
    ]


def test_image_chain_ids_formula() -> None:
    # The base image of the fixture has one layer: ChainID == DiffID.
    diffs = ["sha256:" + "a" * 64, "sha256:" + "b" * 64]
    chains = image_chain_ids([diffs])
    assert diffs[0] in chains and len(chains) == 2
    # Known vector: chain of [a, b] = sha256("sha256:aaa… sha256:bbb…")
    import hashlib

    want = "sha256:" + hashlib.sha256(f"{diffs[0]} {diffs[1]}".encode()).hexdigest()
    assert want in chains


def test_missing_buildkit_dir(tmp_path: Path) -> None:
    st_ = read_buildkit(str(tmp_path))
    assert not st_.present and st_.records == {} and st_.snapshots == {} and st_.skipped == []


def test_buildkit_symlink_is_refused(tmp_path: Path, root: Path) -> None:
    fake = tmp_path / "fake"
    fake.mkdir()
    os.symlink(root / "buildkit", fake / "buildkit")
    st_ = read_buildkit(str(fake))
    assert not st_.present and st_.records == {}
    assert st_.skipped == [(str(fake / "buildkit"), "not a directory")]


def test_empty_buildkit_dir(tmp_path: Path) -> None:
    (tmp_path / "buildkit").mkdir()
    st_ = read_buildkit(str(tmp_path))
    assert st_.present and st_.records == {} and st_.skipped == []


def test_corrupt_metadata_is_skipped_snapshots_still_read(root: Path) -> None:
    md = root / "buildkit" / "metadata_v2.db"
    md.write_bytes(md.read_bytes()[:9000])
    st_ = read_buildkit(str(root))
    assert st_.present and st_.records == {}
    assert len(st_.snapshots) == 20
    assert len(st_.skipped) == 1
    path, reason = st_.skipped[0]
    assert path == str(md) and str(md) in reason


def test_corrupt_snapshots_records_still_read(root: Path) -> None:
    snap = root / "buildkit" / "snapshots.db"
    snap.write_bytes(b"\0" * 16384)
    st_ = read_buildkit(str(root))
    assert st_.snapshots == {} and [p for p, _ in st_.skipped] == [str(snap)]
    assert set(st_.records) >= set(DF)
    assert all(r.mutable is None for r in st_.records.values())
    # Without snapshots.db the listed set is still right (only sizes may be unknown).
    assert {r.id for r in st_.listed_records()} == set(DF)


def test_symlinked_db_is_skipped(root: Path, tmp_path: Path) -> None:
    md = root / "buildkit" / "metadata_v2.db"
    target = tmp_path / "elsewhere.db"
    md.rename(target)
    md.symlink_to(target)
    st_ = read_buildkit(str(root))
    assert st_.records == {}
    assert st_.skipped and st_.skipped[0][0] == str(md) and "symlink" in st_.skipped[0][1]


def test_bad_json_value_becomes_a_skip(root: Path) -> None:
    md = root / "buildkit" / "metadata_v2.db"
    data = md.read_bytes()
    needle = b'{"value":"local source for context"}'
    assert needle in data
    # Same length, so the bbolt structure stays valid; only these values' JSON breaks.
    md.write_bytes(data.replace(needle, b'{"value":"local source for context"x'))
    st_ = read_buildkit(str(root))
    bad = [s for s in st_.skipped if s[0].endswith("/cache.description")]
    assert bad and all("invalid JSON" in reason for _, reason in bad)
    assert len(st_.records) == 19  # the records survive; only the bad key is dropped
    assert sum(r.description == "" for r in st_.records.values()) == len(bad)


def test_missing_snapshot_hides_record() -> None:
    snaps = BoltBucket(
        {
            b"mut": BoltBucket({b"parent": b"", b"size": b"42"}),
            b"pruned": BoltBucket({b"parent": b""}),
        }
    )
    records = BoltBucket(
        {
            b"_main": BoltBucket(
                {
                    b"gone": BoltBucket({b"cache.description": b'{"value":"x"}'}),
                    b"layer": BoltBucket({b"cache.snapshot": b'{"value":"sha256:ab"}'}),
                    b"mut": BoltBucket(
                        {
                            b"cache.usageCount": b'{"value":true}',
                            b"snapshot.size": b'{"value":-1}',  # BuildKit's "unknown"
                        }
                    ),
                    b"pruned": BoltBucket({b"cache.deleted": b'{"value":true}'}),
                }
            )
        }
    )
    snapshots, skipped = parse_snapshots(snaps)
    assert skipped == []
    recs, skipped = parse_cache_records(records, snapshots)
    assert skipped == []
    assert {r.id for r in recs.values() if r.listed} == {"layer", "mut"}
    assert recs["mut"].mutable and recs["mut"].size == 42  # from snapshots.db
    assert recs["mut"].usage_count == 0  # a JSON bool is not a Go int
    assert recs["layer"].mutable is False and recs["layer"].size is None
    assert recs["pruned"].deleted and not recs["pruned"].listed


# --- property test (hypothesis): arbitrary record values never raise -------------------------

_json_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "a", "b", "sha256:x", "regular"]),
    st.lists(st.sampled_from(["a", "b", "", "c"]), max_size=3),
    st.just({}),
)
_KEYS = [
    "cache.snapshot",
    "cache.parent",
    "cache.mergeParents",
    "cache.upperDiffParent",
    "snapshot.size",
    "cache.createdAt",
    "cache.lastUsedAt",
    "cache.usageCount",
    "cache.equalMutable",
    "cache.deleted",
    "cache.recordType",
]
_raw_value = st.one_of(
    st.binary(max_size=20),
    st.builds(lambda v: json.dumps({"value": v}).encode(), _json_value),
)


@settings(
    max_examples=examples(1000),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    records=st.dictionaries(
        st.sampled_from(["a", "b", "c", "sha256:x"]),
        st.dictionaries(st.sampled_from(_KEYS), _raw_value, max_size=6),
        max_size=4,
    ),
    snap_values=st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.dictionaries(
            st.sampled_from([b"parent", b"committed", b"chainid", b"size", b"iscommitted"]),
            st.binary(max_size=25),
        ),
    ),
)
def test_fuzz_records(
    records: dict[str, dict[str, bytes]], snap_values: dict[str, dict[bytes, bytes]]
) -> None:
    main = BoltBucket(
        {
            k.encode(): BoltBucket({kk.encode(): vv for kk, vv in sorted(v.items())})
            for k, v in sorted(records.items())
        }
    )
    snaps_root = BoltBucket(
        {k.encode(): BoltBucket(dict(sorted(v.items()))) for k, v in sorted(snap_values.items())}
    )
    snapshots, _ = parse_snapshots(snaps_root)
    recs, _ = parse_cache_records(BoltBucket({b"_main": main}), snapshots)
    state = BuildkitState("x", True, snapshots, recs, [])
    shared = shared_record_ids(state, frozenset({"sha256:x", *snap_values}))
    usage = build_cache_usage(state, shared)
    listed = {r.id for r in state.listed_records()}
    assert shared <= listed and usage.total_count == len(listed)
    assert usage.size == sum(recs[i].size or 0 for i in listed - shared)


def test_real_files_parse_directly() -> None:
    snapshots, skipped = parse_snapshots(parse_bolt((DATA / "snapshots.db").read_bytes()))
    assert skipped == [] and len(snapshots) == 20
    recs, skipped = parse_cache_records(
        parse_bolt((DATA / "metadata_v2.db").read_bytes()), snapshots
    )
    assert skipped == [] and {r.id for r in recs.values() if r.listed} == set(DF)
