"""BuildKit's cache records in the containerd image store (Docker 29's default).

BuildKit keeps its records in ``buildkit/containerd-overlayfs/metadata_v2.db`` and their
snapshots in containerd. The shared scenario holds a real BuildKit's records (written by
Debian's dockerd 20.10, ``tests/data/bbolt``) with their snapshots and leases made through a
real containerd 1.6 the way BuildKit makes them (``containerdlab.simulate_buildkit``): the
records ``docker system df -v`` lists are the ones that daemon's ``/system/df`` listed
(``buildkit-expected.json``), with its sizes. The load and SHARED rules of this mode (BuildKit
as moby 29.7 vendors it) are checked on hand-built records too.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from containerdlab import CtrScenario

from inspector import pipeline
from inspector.analysis import dockerdf
from inspector.analysis.results import Report
from inspector.model import ContainerdData, ContentBlob, Image, ManifestRef, Snapshot
from inspector.readers.buildkit import (
    BuildCacheRecord,
    blob_chain,
    containerd_records,
    image_layer_keys,
    shared_in_containerd,
    to_model_containerd,
)
from inspector.report import json_report
from inspector.report import text as text_report

EXPECTED = Path(__file__).parent / "data" / "bbolt" / "buildkit-expected.json"


@pytest.fixture(scope="module")
def report(containerd_scenario: CtrScenario) -> Report:
    return pipeline.run(str(containerd_scenario.data_root), pipeline.Options(sizes=False))


def _micro(t: str) -> str:
    """An API time cut to the microsecond (the tool keeps microseconds), as RFC 3339 ``Z``."""
    base, _, frac = t.rstrip("Z").partition(".")
    frac = frac[:6].rstrip("0")
    return base + (f".{frac}" if frac else "") + "Z"


def test_records_are_the_ones_docker_lists(
    containerd_scenario: CtrScenario, report: Report
) -> None:
    expected = {e["ID"]: e for e in json.loads(EXPECTED.read_text())["build_cache"]}
    got = {r.id: r for r in report.inventory.buildkit.records}
    assert set(got) == set(expected)
    for rid, e in expected.items():
        r = got[rid]
        assert r.size == e["Size"], rid
        assert (r.description, r.record_type, r.usage_count) == (
            e["Description"],
            e["Type"],
            e["UsageCount"],
        )
        assert r.created == _micro(e["CreatedAt"]) and r.last_used == _micro(e["LastUsedAt"])
        assert (r.parents[0] if r.parents else "") == e["Parent"]
        # SHARED in this mode is BuildKit's own check: a record's blob chain equal to an
        # image manifest's layers. These records were never exported (no cache.blob).
        assert not r.shared
    # Each record's own snapshot is a snapshot dir of containerd's (its data_dir).
    for rid, key in containerd_scenario.buildkit.items():
        if rid in got:
            assert got[rid].snapshot == key
            assert got[rid].data_dir in report.inventory.storage_dirs


def test_image_layer_lists_are_the_manifests(
    containerd_scenario: CtrScenario, report: Report
) -> None:
    """What BuildKit's checker registers: every present manifest's whole layer list, read
    here straight from the blob files of every image record's target."""
    blobs = containerd_scenario.containerd_root / "io.containerd.content.v1.content" / "blobs"

    def doc(dgst: str) -> dict[str, Any] | None:
        path = blobs / dgst.replace(":", "/", 1)
        return json.loads(path.read_bytes()) if path.exists() else None

    want: set[str] = set()
    for _mt, target, _size in containerd_scenario.truth.targets.values():
        todo = [target]
        while todo:
            d = doc(todo.pop())
            if d is None:
                continue
            todo += [m["digest"] for m in d.get("manifests", [])]
            if d.get("layers"):
                want.add("".join(x["digest"] for x in d["layers"]))
    assert len(want) >= 5
    assert image_layer_keys(report.inventory.images.values()) == want


def test_build_cache_row_of_docker_system_df(report: Report) -> None:
    expected = json.loads(EXPECTED.read_text())["build_cache"]
    row = dockerdf.docker_df(report).build_cache
    size = sum(e["Size"] for e in expected)
    assert (row.total, row.active, row.size, row.reclaimable) == (len(expected), 0, size, size)
    assert report.totals.docker_build_cache_size == size
    doc = json.loads(json_report.render(report))
    jsonschema.validate(doc, json_report.schema())
    assert {r["id"] for r in doc["build_cache"]} == {e["ID"] for e in expected}
    assert doc["docker_df"]["build_cache"]["size"] == size
    text = text_report.render(report)
    line = next(ln for ln in text.splitlines() if ln.lstrip().startswith("Build Cache"))
    assert dockerdf.human_size(size) in line
    # Docker 29's daemon sums the row itself: a shared record stays in SIZE (the 20.10 CLI
    # left it out) and leaves RECLAIMABLE.
    bk = report.inventory.buildkit
    big = max(bk.records, key=lambda r: r.size or 0)
    marked = tuple(dataclasses.replace(r, shared=r is big) for r in bk.records)
    inv = dataclasses.replace(report.inventory, buildkit=dataclasses.replace(bk, records=marked))
    row = dockerdf.docker_df(dataclasses.replace(report, inventory=inv)).build_cache
    assert (row.size, row.reclaimable) == (size, size - (big.size or 0))
    assert big.size


# ------------------------------------------------------------------ the rules, hand-built

D = "sha256:" + "d" * 64


def rec(rid: str, **kw: Any) -> BuildCacheRecord:
    base: dict[str, Any] = {
        "id": rid,
        "snapshot_key": rid,
        "record_type": "regular",
        "description": "",
        "parent": None,
        "parents": (),
        "size": 10,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "last_used_at": None,
        "usage_count": 0,
        "mutable": None,
        "equal_mutable": None,
        "chain_id": None,
        "deleted": False,
        "listed": True,
        "committed": True,
    }
    base.update(kw)
    if base["parent"] and not base["parents"]:
        base["parents"] = (base["parent"],)
    return BuildCacheRecord(**base)


def blob(n: int) -> str:
    return "sha256:" + f"{n:064x}"


def test_blob_chains_and_shared_follow_buildkit() -> None:
    records = {
        "a": rec("a", blob=blob(1)),
        "b": rec("b", parent="a", blob=blob(2)),
        "c": rec("c", parent="b", blob=None, committed=False),  # mutable, no blob yet
        "m": rec("m", parents=("a", "b"), merge=True, blob=None),
        "d": rec("d", parents=("a", "b"), diff=True, diff_upper="b", blob=None),
        "x": rec("x", blob=blob(9)),
    }
    assert blob_chain(records, "b") == (blob(1), blob(2))
    assert blob_chain(records, "c") == (blob(1), blob(2), "")
    assert blob_chain(records, "m") == (blob(1), blob(1), blob(2))
    assert blob_chain(records, "d") == (blob(1), blob(2))  # the upper's chain
    img = Image(
        id=D,
        config_path="",
        diff_ids=(),
        manifests=(
            ManifestRef(D, present=True, layers=(blob(1), blob(2))),
            ManifestRef(blob(7), present=False, layers=(blob(9),)),  # absent: not read
        ),
    )
    keys = image_layer_keys([img])
    assert keys == {blob(1) + blob(2)}
    shared = shared_in_containerd(records, set(records), keys)
    # b's chain is the image's whole layer list: b and its parent a; c's chain joins to the
    # same text ("" adds nothing), so c too; a alone (a prefix) would not be; x is not.
    assert shared == {"a", "b", "c", "d"}
    assert shared_in_containerd(records, {"a"}, keys) == frozenset()


def _data(tmp_path: Path, snaps: dict[str, str], blobs: tuple[str, ...] = ()) -> ContainerdData:
    return ContainerdData(
        root=str(tmp_path),
        reason="",
        snapshots={
            k: Snapshot(key=k, kind=kind, parent=None, snapshot_id=str(i + 1), size=4096)
            for i, (k, kind) in enumerate(snaps.items())
        },
        blobs={d: ContentBlob(digest=d, path="", size=1, file_size=1) for d in blobs},
    )


def test_which_records_buildkit_keeps(tmp_path: Path) -> None:
    """Deleted ones, mutable ones without their snapshot, lazy ones without their blob, and
    the children of any of those are dropped at BuildKit's start; df lists none of them."""
    from inspector.readers import buildkit

    records = {
        "keep": rec("keep"),
        "mut": rec("mut", committed=False),
        "gone": rec("gone", committed=False),
        "child": rec("child", parent="gone"),
        "del": rec("del", deleted=True),
        "lazy": rec("lazy", blob_only=True, blob=blob(5)),
        "lazyok": rec("lazyok", blob_only=True, blob=blob(6)),
        "twin": rec("twin", equal_mutable="mut"),
        "nosize": rec("nosize", size=None, snapshot_key="nosize"),
    }
    data = _data(tmp_path, {"mut": "active", "nosize": "committed"}, (blob(6),))
    loaded = buildkit._loads(records, data)
    assert {k for k, v in loaded.items() if v} == {"keep", "mut", "lazyok", "twin", "nosize"}
    rows = {r.id: r for r in containerd_records(records, data)}
    assert set(rows) == {"keep", "mut", "lazyok", "nosize"}  # the twin: df shows "mut"
    # No size in the metadata: what BuildKit would ask containerd, its recorded usage.
    assert rows["nosize"].size == 4096 and rows["keep"].size == 10
    assert rows["mut"].data_dir == "1" and rows["keep"].data_dir is None
    # Through the whole reader, on a root without buildkit/: nothing, and no error.
    info, skipped = to_model_containerd(str(tmp_path), data, [])
    assert (info.present, info.records, skipped) == (False, (), [])


def test_prune_preview_says_builder_prune_is_not_replayed(report: Report) -> None:
    """Records are listed, but what containerd frees once their leases go was not checked
    against a Docker 29: the preview says so instead of guessing."""
    from inspector.analysis import prune

    cmds = {c.command: c for c in prune.preview(report).commands}
    for c in (
        "docker builder prune",
        "docker builder prune -a",
        "docker system prune -a --volumes",
    ):
        assert not cmds[c].supported and "containerd image store" in cmds[c].what
    assert cmds["docker container prune"].supported
