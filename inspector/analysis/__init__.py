"""Analysis: pure functions from an Inventory to a Report (sizes, sharing, findings, totals)."""

from __future__ import annotations

import dataclasses

from inspector.analysis import otherstore
from inspector.analysis.containerd import reconcile as ctrd_reconcile
from inspector.analysis.findings import all_findings, inactive_reported_root
from inspector.analysis.reconcile import reconcile
from inspector.analysis.results import Kind, Report, counted, finding_order
from inspector.analysis.sizes import Sizes
from inspector.model import Inventory, Measurements
from inspector.options import Options


def analyze(
    inv: Inventory, meas: Measurements | None = None, options: Options | None = None
) -> Report:
    """Compute every number and finding the presenters show (`meas` None: not measured)."""
    opts = options or Options()
    sizes = Sizes(inv, meas)
    images = sizes.image_rows()
    layers = sizes.layer_rows()
    containers = sizes.container_rows()
    volumes = sizes.volume_rows()
    findings = all_findings(inv, sizes, images, containers, volumes, opts)
    if sizes.ctrd is not None:
        totals = ctrd_reconcile(inv, sizes.ctrd, images, containers, volumes, findings)
    else:
        totals = reconcile(inv, sizes, images, containers, volumes, findings)
    whole = inactive_reported_root(inv, totals.categories, sizes.meas)
    if whole is not None:
        # The root reported is unused as a whole: its bytes hold every finding inside it.
        findings = sorted([*findings, whole], key=finding_order)
        kept = counted(findings, inv.root.path)
        reclaim = sum(f.bytes for f in kept if f.reclaimable and f.kind != Kind.UNREADABLE)
        totals = dataclasses.replace(totals, reclaimable=reclaim)
    return Report(
        inventory=inv,
        images=tuple(images),
        layers=tuple(layers),
        containers=tuple(containers),
        volumes=tuple(volumes),
        findings=tuple(findings),
        totals=totals,
        measurements=meas,
        options={"large_log_bytes": opts.large_log_bytes, "large_rw_bytes": opts.large_rw_bytes},
        other_images=otherstore.image_rows(inv),
    )


__all__ = ["Options", "Report", "analyze"]
