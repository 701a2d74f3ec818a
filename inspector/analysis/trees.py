"""The trees of Docker data found under the root as given, with what each holds on disk.

Pure: inspector.trees decided which tree the daemon uses (RootInfo.trees); the measure stage
walked each part of the others whole. The findings, the reconciliation and every presenter
take their numbers from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.model import Inventory, Measurements, Tree, TreeKind, Usage


@dataclass(frozen=True, slots=True)
class TreeRow:
    """A tree and its bytes."""

    tree: Tree
    reported: bool
    """It is the tree this report describes (its numbers are the report's)."""
    usage: Usage | None
    """Bytes of its parts as walked; None for the tree reported (see the totals), a live tree,
    or when nothing was measured."""


def inactive(inv: Inventory) -> list[Tree]:
    """The trees the daemon does not use that hold data measured on their own."""
    return [t for t in inv.root.trees if not t.live and t.parts]


def inactive_paths(inv: Inventory) -> set[str]:
    """Every path measured as a part of a tree the daemon does not use."""
    return {p for t in inactive(inv) for p in t.parts}


def usage(tree: Tree, meas: Measurements | None) -> Usage | None:
    """What the parts of `tree` hold, as walked (None when they were not walked)."""
    if meas is None or not meas.usage or not tree.parts:
        return None
    total = Usage()
    for p in tree.parts:
        total = total + meas.of(p)
    return total


def reported_tree(inv: Inventory) -> Tree | None:
    """The data-root tree this report describes."""
    return next(
        (t for t in inv.root.trees if t.kind is TreeKind.ROOT and t.path == inv.root.path), None
    )


def rows(inv: Inventory, meas: Measurements | None) -> list[TreeRow]:
    """Every tree, the reported root first, then the other roots, then drivers and stores."""
    order = {TreeKind.ROOT: 0, TreeKind.GRAPHDRIVER: 1, TreeKind.CONTAINERD: 2}
    out = [
        TreeRow(t, t.kind is TreeKind.ROOT and t.path == inv.root.path, usage(t, meas))
        for t in inv.root.trees
    ]
    out.sort(key=lambda r: (order[r.tree.kind], not r.reported, not r.tree.live, r.tree.path))
    return out


def interesting(inv: Inventory) -> bool:
    """Whether the trees say more than "one root, one driver, in use" (presenters show them)."""
    trees = inv.root.trees
    if any(not t.live for t in trees):
        return True
    return bool(inv.root.top) or len([t for t in trees if t.kind is TreeKind.ROOT]) > 1


__all__ = ["TreeRow", "inactive", "inactive_paths", "interesting", "reported_tree", "rows", "usage"]
