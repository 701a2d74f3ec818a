"""A reproducible report of a data root, for screenshots and snapshot tests.

Allocated bytes (``st_blocks``) depend on the filesystem the root sits on: the same git
clone of ``sample_data/root`` gives other numbers on ext4, btrfs or tmpfs. Apparent sizes
do not. :func:`stable_report` measures the root and then counts every allocated size as its
apparent size, so pictures of the sample are the same on every machine. Never used for a
real inspection.
"""

from __future__ import annotations

import dataclasses

from inspector import inventory
from inspector.analysis import analyze
from inspector.analysis.results import Report
from inspector.model import Container, Inventory, Usage


def _apparent(u: Usage) -> Usage:
    return dataclasses.replace(u, disk=u.apparent)


def _container(c: Container) -> Container:
    logs = tuple(dataclasses.replace(lf, disk=lf.size) for lf in c.logs)
    return dataclasses.replace(c, logs=logs)


def stabilize(inv: Inventory) -> Inventory:
    """The inventory with allocated bytes replaced by apparent bytes everywhere."""
    return dataclasses.replace(
        inv,
        usage={path: _apparent(u) for path, u in inv.usage.items()},
        containers={cid: _container(c) for cid, c in inv.containers.items()},
    )


def stable_report(root: str) -> Report:
    """Read, measure and analyse `root` with filesystem-neutral sizes (see module doc)."""
    return analyze(stabilize(inventory.build(root)))
