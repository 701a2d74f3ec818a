"""Analysis: pure functions from an Inventory to a Report (sizes, sharing, findings, totals)."""

from __future__ import annotations

from inspector.analysis.findings import all_findings
from inspector.analysis.reconcile import reconcile
from inspector.analysis.results import Report
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
    totals = reconcile(inv, sizes, images, containers, volumes, findings)
    return Report(
        inventory=inv,
        images=tuple(images),
        layers=tuple(layers),
        containers=tuple(containers),
        volumes=tuple(volumes),
        findings=tuple(findings),
        totals=totals,
        measurements=meas,
        options={"large_log_bytes": opts.large_log_bytes},
    )


__all__ = ["Options", "Report", "analyze"]
