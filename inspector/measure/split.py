"""One big tree walked by several walker processes: its first levels here, the rest in pieces.

A single huge tree (a volume of a million files, a big writable layer or image layer under
``--full``) would keep one walker process busy while the others idle. When the last run saw
such a tree (an image layer's entry count in the size cache, a hint for the other trees), the
parent lists its first levels breadth-first (:func:`inspector.measure.walker.split_tree`) and
hands the subdirs found there to the workers as pieces, each opened beneath its parent's
descriptor, which the forked workers inherit (the same O_NOFOLLOW|O_DIRECTORY opening and
inode check as every other step of a walk). :class:`Merge` adds the parts up into the Usage
the serial walk gives: sizes and counts add up; a multi-link inode that a part did not see
every name of is handed up with its names seen, so it is counted once for the tree, or handed
back as leaving the tree exactly when the serial walk would.
"""

from __future__ import annotations

from typing import NamedTuple

from inspector.measure.dirfd import DirNode, DirWalk
from inspector.measure.planning import Job
from inspector.measure.walker import Found, Part, Settled, sorted_skips, split_tree
from inspector.model import Skipped, Usage

#: Trees expected to hold fewer entries than this are walked whole by one process: below it
#: one process walks the tree as fast as two do in pieces (benchmarks/splitmin.py: even at
#: 25,000 entries, ~0.1 s; see benchmarks/README.md, "One big tree").
SPLIT_MIN_ENTRIES = 25_000
#: Pieces per worker wanted from one split tree: enough to even out unequal subdirs.
PIECES_PER_WORKER = 32
#: Dirs the parent lists at most to find them (before any worker starts); it also stops once
#: it has listed a piece's share of the entries (a level of a few huge dirs: those are pieces).
MAX_HEAD_DIRS = 64


class Piece(NamedTuple):
    """A subdir of a split tree, walked on its own (never pickled: workers are forked)."""

    node: DirNode
    dev: int
    mounts: frozenset[str]
    settled: Settled | None = None


def worth_splitting(cost: int, total: int, workers: int) -> bool:
    """Whether a tree expected to hold `cost` of the plan's `total` entries is split.

    Only a tree big on its own, and too big for the other trees to balance: one holding more
    than a quarter of a worker's fair share (five image layers of 32,000 files each on two
    workers would otherwise end with one worker walking the fifth alone).
    """
    return workers > 1 and cost >= SPLIT_MIN_ENTRIES and cost * 4 * workers > total


class Merge:
    """The parts of one split tree added up; :meth:`usage` once all have come in."""

    def __init__(self, parts: int) -> None:
        self.left = parts
        self.apparent = self.disk = self.files = self.payload = 0
        self.unreadable: list[Skipped] = []
        # (dev, ino) -> [bytes, nlink at first sight, names seen, apparent, payload]
        self.links: dict[tuple[int, int], list[int]] = {}

    def add(self, part: Part) -> None:
        self.left -= 1
        self.apparent += part.apparent
        self.disk += part.disk
        self.files += part.files
        self.payload += part.payload
        self.unreadable += part.unreadable
        for dev, ino, nbytes, nlink, seen, app, pay in part.links:
            cur = self.links.get((dev, ino))
            if cur is None:
                self.links[(dev, ino)] = [nbytes, nlink, seen, app, pay]
                continue
            cur[2] += seen
            if not cur[3]:
                cur[3], cur[4] = app, pay

    def usage(self) -> Usage:
        """The tree's Usage, as :func:`inspector.measure.walker.walk_tree` gives it."""
        apparent, disk, payload = self.apparent, self.disk, self.payload
        leaving: list[tuple[int, int, int]] = []
        for (dev, ino), (nbytes, nlink, seen, app, pay) in self.links.items():
            apparent += app
            payload += pay
            if seen >= nlink:
                disk += nbytes
            else:
                leaving.append((dev, ino, nbytes))
        return Usage(
            apparent,
            disk,
            self.files,
            sorted_skips(self.unreadable),
            payload,
            tuple(sorted(leaving)),
        )


class Opened(NamedTuple):
    """A tree split for the workers."""

    merge: Merge
    pieces: list[Piece]
    walk: DirWalk
    """Holds the descriptors the pieces are opened beneath (close once all are walked)."""


def open_split(job: Job, workers: int, expected: int, found: Found | None = None) -> Opened | Usage:
    """List the first levels of `job`'s tree (`expected` entries); its pieces for the
    workers, or its whole Usage when the tree held no subdir to hand out (or is not a dir).
    What the listing learns about settled dirs goes to `found`."""
    want = workers * PIECES_PER_WORKER
    budget = expected // want
    got = split_tree(
        job.path, job.sub, job.skip, job.mounts, want, MAX_HEAD_DIRS, budget, job.settled, found
    )
    if isinstance(got, Usage):
        return got
    merge = Merge(len(got.pieces) + 1)
    merge.add(got.head)
    if not got.pieces:
        return merge.usage()
    pieces = [Piece(n, got.walk.dev, job.mounts, job.settled) for n in got.pieces]
    return Opened(merge, pieces, got.walk)


__all__ = [
    "MAX_HEAD_DIRS",
    "PIECES_PER_WORKER",
    "SPLIT_MIN_ENTRIES",
    "Merge",
    "Opened",
    "Piece",
    "open_split",
    "worth_splitting",
]
