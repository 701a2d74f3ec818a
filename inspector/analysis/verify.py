"""Verify (``report --full``): each image layer's recorded size against its walked diff dir.

Docker records a layer's size once, when it registers the layer, and how it measures depends
on who made the layer (shared/docker-format.md §4 "How sizes are computed"):

- overlay2, native diff: ``ApplyDiff`` returns ``directory.Size(diff)``: st_size of every
  non-directory with size > 0, each inode once; a symlink counts its target's length.
- overlay2 with naive diff (``Native Overlay Diff: false``) and vfs: ``ApplyDiff`` returns
  the sum of the tar headers' ``Size`` fields: regular files' bytes; hard links (after the
  first name) and symlinks add 0.
- layers made by BuildKit (25-character base-36 cache-id): ``ChecksumForGraphID`` records the
  sum of the tar payload sizes: again regular files once, hard links and symlinks 0.

Which of the two overlay2 ways a daemon used is not written anywhere under the root, so an
overlay2 layer with a graphdriver cache-id matches if either number does. A vfs layer dir
with a parent holds a full copy of the parent too, so only base vfs layers can be compared.
Only a layer whose walked numbers fit none of the rules that can apply is reported; the
finding says which rule was applied and what each number was. Pure: no I/O here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from typing import Protocol

from inspector.analysis.results import Finding, Kind, Report, Severity, finding_order
from inspector.analysis.sizes import Sizes, diff_path, storage_path
from inspector.ids import BUILDKIT_ID
from inspector.model import Inventory, Layer

NATIVE = (
    "native overlay diff: Docker records directory.Size(diff) (every non-directory's st_size "
    "once per inode, symlinks counting their target's length)"
)
NAIVE = (
    "naive diff: Docker records the sum of the layer tar's header sizes (regular files once "
    "per inode; hard links and symlinks add 0)"
)
BUILDKIT = (
    "layer made by BuildKit (25-character base-36 cache-id): Docker records the sum of the tar "
    "payload sizes (ChecksumForGraphID; regular files once per inode, hard links and symlinks "
    "add 0)"
)
VFS = (
    "vfs base layer: the vfs driver applies layers with the naive diff, which records the sum "
    "of the layer tar's header sizes (regular files once per inode; hard links and symlinks "
    "add 0)"
)


class WalkedDiff(Protocol):
    """What a walk of a layer's diff dir found (``scan.DiffWalk`` has this shape)."""

    @property
    def apparent(self) -> int:
        """directory.Size of the diff dir."""

    @property
    def payload(self) -> int:
        """Regular files' st_size, each inode once."""

    @property
    def complete(self) -> bool:
        """False when part of the tree could not be read."""


def rules_for(driver: str | None, layer: Layer) -> list[tuple[str, str]] | None:
    """(rule text, which walked number it predicts) pairs that may apply; None: not comparable."""
    if driver == "overlay2":
        if BUILDKIT_ID.fullmatch(layer.cache_id):
            return [(BUILDKIT, "payload")]
        return [(NATIVE, "apparent"), (NAIVE, "payload")]
    if driver == "vfs" and layer.parent is None:
        return [(VFS, "payload")]
    return None


def _images_text(sizes: Sizes, chain_id: str) -> str:
    users = sizes.layer_images.get(chain_id, [])
    if not users:
        return "no image uses it"
    shown = ", ".join(u.removeprefix("sha256:")[:12] for u in users[:5])
    more = f" and {len(users) - 5} more" if len(users) > 5 else ""
    return f"images using it: {shown}{more}"


def size_mismatches(
    inv: Inventory, walks: Mapping[str, WalkedDiff], sizes: Sizes | None = None
) -> list[Finding]:
    """A SIZE_MISMATCH finding per walked image layer whose recorded size fits no rule.

    `walks` maps cache-id → walk of that layer's dir (``Measurements.layer_walks``).
    Layers with no recorded size, no walk, an incomplete walk, a foreign descriptor, or no
    applicable rule are not judged (other findings cover unreadable or missing data).
    """
    sizes = sizes if sizes is not None else Sizes(inv)
    driver = inv.root.storage_driver
    out: list[Finding] = []
    for ch in sorted(inv.layers):
        layer = inv.layers[ch]
        walk = walks.get(layer.cache_id)
        if layer.size is None or walk is None or not walk.complete or layer.foreign:
            continue
        rules = rules_for(driver, layer)
        if rules is None:
            continue
        numbers = {"apparent": walk.apparent, "payload": walk.payload}
        if any(numbers[which] == layer.size for _, which in rules):
            continue
        where = diff_path(inv, layer.cache_id) or ""
        sdir = storage_path(inv, layer.cache_id)
        usage = sizes.meas.usage.get(sdir) if sdir else None
        applied = "; or ".join(
            f"{text} = {numbers[which]} bytes walked"
            + f" ({numbers[which] - layer.size:+d} vs recorded)"
            for text, which in rules
        )
        out.append(
            Finding(
                Kind.SIZE_MISMATCH,
                Severity.ERROR,
                where,
                walk.apparent,
                usage.disk if usage is not None else 0,
                f"layer {ch} (cache-id {layer.cache_id}): layerdb records size {layer.size} "
                f"({os.path.join(layer.metadata_dir, 'size')}), but its walked diff dir fits no "
                f"rule for how Docker measured it. Rule applied: {applied}. Its diff holds "
                f"{walk.apparent} bytes by directory.Size and {walk.payload} bytes in regular "
                f"files; {_images_text(sizes, ch)}. Image layers never change after they are "
                "registered, so files in it were changed, added or lost since (disk corruption, "
                "an interrupted restore, or a manual edit under the data root).",
                "Containers and builds using this layer see the changed files, and docker save or "
                "push would produce a layer whose digest differs from its DiffID. Remove the "
                "images that use it (docker image rm …) and pull or build them again; check the "
                "filesystem (fsck) if nobody edited the data root.",
                object_id=ch,
                reclaimable=False,
            )
        )
    return out


def with_findings(report: Report, extra: Iterable[Finding]) -> Report:
    """The report with `extra` findings merged in, in the report's finding order."""
    more = list(extra)
    if not more:
        return report
    findings = sorted([*report.findings, *more], key=finding_order)
    return dataclasses.replace(report, findings=tuple(findings))


__all__ = ["WalkedDiff", "rules_for", "size_mismatches", "with_findings"]
