"""verify.size_mismatches: which rule applies to which layer (pure, hand-built inventories)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from inspector.analysis import analyze, verify
from inspector.analysis.results import Finding, Kind, Severity
from inspector.analysis.sizes import Sizes
from inspector.model import ImageStore, Inventory, Layer, Measurements, RootInfo, StorageDir, Usage

GRAPH_ID = hashlib.sha256(b"graph").hexdigest()
BK_ID = "0123456789abcdefghijklmno"  # 25 base-36 characters: BuildKit's style


@dataclass(frozen=True)
class Walk:
    apparent: int
    payload: int
    complete: bool = True


def inv_with(
    driver: str, cache_id: str, size: int | None, parent: str | None = None, foreign: bool = False
) -> Inventory:
    home = "/r/overlay2" if driver == "overlay2" else "/r/vfs/dir"
    chain = "sha256:" + hashlib.sha256(cache_id.encode()).hexdigest()
    layer = Layer(
        chain,
        "sha256:" + "d" * 64,
        parent,
        cache_id,
        size,
        f"/r/layerdb/{chain[7:]}",
        foreign=foreign,
    )
    return Inventory(
        root=RootInfo("/r", driver, ImageStore.GRAPHDRIVER, True),
        images={},
        layers={chain: layer},
        rw_layers={},
        storage_dirs={cache_id: StorageDir(cache_id, f"{home}/{cache_id}")},
        short_links={},
        containers={},
        volumes={},
        driver_home=home,
    )


def measured(inv: Inventory) -> Measurements:
    """The walk of the one layer dir, as the measure stage would record it."""
    (d,) = inv.storage_dirs.values()
    return Measurements(usage={d.path: Usage(100, 8192, 3)})


def mismatches(inv: Inventory, walks: Mapping[str, verify.WalkedDiff]) -> list[Finding]:
    return verify.size_mismatches(inv, walks, Sizes(inv, measured(inv)))


# (driver, cache-id, parent, recorded, walked apparent, walked payload, flagged, rule words)
CASES = [
    # overlay2, graphdriver ID: native diff records directory.Size ...
    ("overlay2", GRAPH_ID, None, 108, 108, 100, False, ""),
    # ... naive diff records the tar payload; the daemon's choice is not on disk: either fits.
    ("overlay2", GRAPH_ID, None, 100, 108, 100, False, ""),
    ("overlay2", GRAPH_ID, None, 120, 108, 100, True, "native overlay diff"),
    ("overlay2", GRAPH_ID, None, 99, 108, 100, True, "naive diff"),
    # BuildKit: tar payload only (hard links and symlinks add 0).
    ("overlay2", BK_ID, None, 100, 108, 100, False, ""),
    ("overlay2", BK_ID, None, 108, 108, 100, True, "made by BuildKit"),
    # vfs base layer: naive diff, tar payload.
    ("vfs", GRAPH_ID, None, 100, 108, 100, False, ""),
    ("vfs", GRAPH_ID, None, 108, 108, 100, True, "vfs base layer"),
    # vfs with a parent: the dir is a full copy of the parent too; nothing to compare.
    ("vfs", GRAPH_ID, "sha256:" + "p" * 64, 5, 108, 100, False, ""),
]


@pytest.mark.parametrize(
    ("driver", "cache_id", "parent", "recorded", "apparent", "payload", "flagged", "rule"), CASES
)
def test_rules(
    driver: str,
    cache_id: str,
    parent: str | None,
    recorded: int,
    apparent: int,
    payload: int,
    flagged: bool,
    rule: str,
) -> None:
    inv = inv_with(driver, cache_id, recorded, parent)
    found = mismatches(inv, {cache_id: Walk(apparent, payload)})
    assert bool(found) == flagged
    if flagged:
        (f,) = found
        assert f.kind is Kind.SIZE_MISMATCH and f.severity is Severity.ERROR
        assert rule in f.detail and f"records size {recorded}" in f.detail
        assert f"{apparent} bytes by directory.Size and {payload} bytes in regular files" in (
            f.detail
        )
        assert not f.reclaimable and f.object_id in inv.layers
        assert f.bytes == apparent and f.disk_usage == 8192


@pytest.mark.parametrize(
    "why",
    ["incomplete walk", "no walk", "no recorded size", "foreign layer", "other driver"],
)
def test_layers_that_cannot_be_judged_are_not_flagged(why: str) -> None:
    size = None if why == "no recorded size" else 5
    driver = "btrfs" if why == "other driver" else "overlay2"
    inv = inv_with(driver, GRAPH_ID, size, foreign=why == "foreign layer")
    walks = {} if why == "no walk" else {GRAPH_ID: Walk(100, 90, why != "incomplete walk")}
    assert mismatches(inv, walks) == []


def test_with_findings_keeps_the_report_order() -> None:
    inv = inv_with("overlay2", GRAPH_ID, 1)
    report = analyze(inv, measured(inv))
    extra = mismatches(inv, {GRAPH_ID: Walk(100, 90)})
    merged = verify.with_findings(report, extra)
    kinds = [f.kind for f in merged.findings]
    assert len(kinds) == len(report.findings) + 1 and Kind.DANGLING_LAYER in kinds
    # all_findings' order: reclaimable bytes first, then by severity.
    assert kinds.index(Kind.SIZE_MISMATCH) > kinds.index(Kind.DANGLING_LAYER)
    assert verify.with_findings(report, []) is report
