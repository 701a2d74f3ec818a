"""A reproducible report of a data root, for screenshots and snapshot tests.

Allocated bytes (``st_blocks``) depend on the filesystem the root sits on: the same git
clone of ``sample_data/root`` gives other numbers on ext4, btrfs or tmpfs. Apparent sizes
do not. :func:`stable_report` measures the root and then counts every allocated size as its
apparent size, so pictures of the sample are the same on every machine. Never used for a
real inspection.
"""

from __future__ import annotations

import dataclasses

from inspector import pipeline
from inspector.analysis.results import Report
from inspector.model import Container, Inventory, Measurements, Usage
from inspector.options import Options


def _apparent(u: Usage) -> Usage:
    return dataclasses.replace(u, disk=u.apparent)


def _container(c: Container) -> Container:
    logs = tuple(dataclasses.replace(lf, disk=lf.size) for lf in c.logs)
    return dataclasses.replace(c, logs=logs)


def stabilize(inv: Inventory, meas: Measurements) -> tuple[Inventory, Measurements]:
    """Inventory and measurements with allocated bytes replaced by apparent bytes everywhere."""
    return (
        dataclasses.replace(
            inv, containers={cid: _container(c) for cid, c in inv.containers.items()}
        ),
        dataclasses.replace(meas, usage={path: _apparent(u) for path, u in meas.usage.items()}),
    )


def stable_report(root: str) -> Report:
    """Read, measure and analyse `root` with filesystem-neutral sizes (see module doc)."""
    opts = Options()
    inv = pipeline.read(root)
    meas = pipeline.measure_root(inv, opts)
    assert meas is not None
    return pipeline.analyse(*stabilize(inv, meas), opts)
