"""Scanning a containerd store while containerd makes and removes snapshots: no false alarm.

A copy of the containerd scenario runs under a private containerd; one thread makes
snapshots under leases (prepare, write, commit) and removes them again (the snapshot, then
its lease: containerd's collector then deletes its dir), as fast as it can; the main thread
scans the live root again and again. No scan may report an orphan, a lost snapshot or an
unreadable path, and every scan gives the scenario's objects the numbers a scan of the
stopped root gives.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from containerdlab import CtrScenario, PrivateContainerd, top_chain
from dockerlab import copy_tree

from inspector import pipeline
from inspector.analysis.results import Kind, Report

SCANS = 12
#: How long a churn snapshot lives: older than the live slack (2 s) when it is removed, so
#: that its removal is judged (a half-removed snapshot must not look like an orphan).
KEEP_SECONDS = 2.5
#: Kinds a live scan must never report: the churn's objects are healthy, mid-change.
FALSE_ALARMS = {
    Kind.ORPHAN_SNAPSHOT,
    Kind.ORPHAN_CONTENT,
    Kind.MISSING_SNAPSHOT,
    Kind.INCOMPLETE_DOWNLOAD,
    Kind.UNREADABLE,
}


def scan(root: Path) -> Report:
    return pipeline.run(str(root), pipeline.Options(cache=False))


def facts(report: Report) -> dict[str, Any]:
    return {
        "images": {r.image.id: (r.size, r.content_size, r.unpacked_size) for r in report.images},
        "containers": {r.container.id: r.size_rw for r in report.containers},
        "layers": {r.layer.chain_id: r.disk_usage for r in report.layers},
    }


class Churn(threading.Thread):
    """Make and remove snapshots under leases until told to stop."""

    def __init__(self, lab: PrivateContainerd, chain: str, keep: float = KEEP_SECONDS) -> None:
        super().__init__(daemon=True)
        self.lab = lab
        self.chain = chain
        self.keep = keep
        self.halt = threading.Event()
        self.error: BaseException | None = None
        self.made = 0

    def run(self) -> None:
        g = self.lab.grpc
        live: list[tuple[float, str]] = []
        try:
            while not self.halt.is_set():
                key = f"churn-{self.made}"
                g.lease_create(key)
                upper = Path(g.prepare(f"{key}-a", self.chain, lease=key)[0].upper)
                (upper / "data.bin").write_bytes(os.urandom(8192))
                g.commit(key, f"{key}-a", lease=key)
                live.append((time.monotonic(), key))
                self.made += 1
                while live and time.monotonic() - live[0][0] > self.keep:
                    old = live.pop(0)[1]
                    g.remove(old)
                    g.lease_delete(old)
        except BaseException as e:  # reported by the test
            self.error = e


def test_scans_of_a_live_containerd_raise_no_false_alarm(
    containerd_scenario: CtrScenario, tmp_path: Path
) -> None:
    sc = containerd_scenario
    root = tmp_path / "root"
    copy_tree(sc.data_root, root)
    croot = root / "containerd" / "daemon"
    stopped = facts(scan(root))
    chain = top_chain(croot, sc.manifests["busybox:base"])
    lab = PrivateContainerd(tmp_path / "lab", croot)
    with lab:
        churn = Churn(lab, chain)
        churn.start()
        try:
            deadline = time.monotonic() + 10
            while churn.made < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            for _ in range(SCANS):
                report = scan(root)
                bad = [
                    (f.kind, f.path, f.detail) for f in report.findings if f.kind in FALSE_ALARMS
                ]
                assert not bad, bad
                assert facts(report) == stopped
        finally:
            churn.halt.set()
            churn.join(30)
    assert churn.error is None, churn.error
    assert churn.made > SCANS
