"""The audit as Prometheus metrics, for node_exporter's textfile collector.

Every series carries a `root` label, so that audits of several data roots can each write a
file into the same textfile directory without clashing. Names follow Prometheus conventions:
`docker_inspector_` prefix, base units (`_bytes`, `_seconds`, `_ratio`), gauges only (every
value is a fresh measurement of the root, not a counter of this process).

Label values come from a hostile root (tags, container and volume names): the client library
escapes quotes, backslashes and newlines, but a valid label can still carry terminal escapes
or be megabytes long, so each value is also passed through textsafe.clean() and capped.

The file is written through inspector.outputs: a fresh temporary file beside it (a hidden
name not ending in .prom, so the collector skips it), then rename(2), so the collector never
reads half a file; its directory is checked against the data root at that moment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from inspector.analysis.dockerdf import docker_df
from inspector.analysis.results import AuditResult, Kind
from inspector.ids import short
from inspector.textsafe import clean

PREFIX = "docker_inspector_"
#: Longest label value written; longer ones keep a prefix and a hash (still unique).
LABEL_MAX = 128


def label(text: str, limit: int = LABEL_MAX) -> str:
    """A safe, bounded label value: clean()ed, and shortened with a hash suffix if long."""
    value = clean(text)
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]
    return value[: limit - len(digest) - 1] + "~" + digest


class _Family:
    """A gauge family that drops a repeated label set (possible only with hostile names
    shortened to the same prefix+hash, or colliding short IDs): Prometheus rejects a file
    with duplicate series, which would lose every metric."""

    def __init__(self, name: str, doc: str, labels: Sequence[str]) -> None:
        self.metric = GaugeMetricFamily(PREFIX + name, doc, labels=list(labels))
        self._seen: set[tuple[str, ...]] = set()

    def add(self, values: Sequence[str], value: float) -> None:
        key = tuple(values)
        if key in self._seen:
            return
        self._seen.add(key)
        self.metric.add_metric(list(key), value)


class AuditCollector(Collector):
    """Yields the metrics of one audit result."""

    def __init__(self, result: AuditResult) -> None:
        self.result = result

    def collect(self) -> Iterator[Metric]:
        """All families, in a fixed order."""
        r = self.result
        report = r.report
        t = report.totals
        root = label(report.inventory.root.path, 256)

        def fam(name: str, doc: str, labels: Sequence[str] = ()) -> _Family:
            return _Family(name, doc, ["root", *labels])

        info = fam(
            "root_info",
            "The data root inspected: storage driver and image store (value 1).",
            ["storage_driver", "image_store"],
        )
        info.add(
            [root, label(report.inventory.root.storage_driver or ""),
             report.inventory.root.image_store.value],
            1,
        )  # fmt: skip
        yield info.metric

        apparent = fam(
            "category_apparent_bytes",
            "Apparent bytes under the root by category (st_size, as Docker counts sizes).",
            ["category"],
        )
        disk = fam(
            "category_disk_bytes",
            "Allocated bytes under the root by category (st_blocks * 512).",
            ["category"],
        )
        for c in t.categories:
            apparent.add([root, c.name], c.apparent)
            disk.add([root, c.name], c.disk)
        yield apparent.metric
        yield disk.metric

        total = fam("root_disk_bytes", "Allocated bytes under the root (all categories).")
        total.add([root], t.disk_total)
        yield total.metric

        df = fam(
            "docker_df_bytes",
            "SIZE as docker system df prints it (the docker CLI's computation), by type; "
            "logs are not in docker system df.",
            ["type"],
        )
        df_reclaim = fam(
            "docker_df_reclaimable_bytes",
            "RECLAIMABLE as docker system df prints it (the docker CLI's computation), by type.",
            ["type"],
        )
        # The report's "Docker's view" cells; an unknown cell is left out, never written as 0.
        for key, _, cell in docker_df(report).rows():
            if cell.size is not None:
                df.add([root, key], cell.size)
            if cell.reclaimable is not None:
                df_reclaim.add([root, key], cell.reclaimable)
        df.add([root, "logs"], t.log_size)
        yield df.metric
        yield df_reclaim.metric

        reclaim = fam("reclaimable_bytes", "Bytes the findings say can be freed.")
        reclaim.add([root], t.reclaimable)
        yield reclaim.metric

        if t.containerd:
            # The containerd image store keeps every layer twice: compressed, unpacked.
            ctrd = t.containerd
            content = fam(
                "containerd_content_bytes",
                "Bytes of the containerd content store's blobs with a record (compressed "
                "layers, manifests, configs).",
            )
            content.add([root], ctrd.get("content_bytes", 0))
            snaps = fam(
                "containerd_snapshot_bytes",
                "containerd's usage of its snapshots (unpacked layers, containers' writable "
                "layers), by what they are.",
                ["kind"],
            )
            snaps.add([root, "all"], ctrd.get("snapshot_bytes", 0))
            snaps.add([root, "image"], ctrd.get("image_snapshot_bytes", 0))
            twice = fam(
                "containerd_stored_twice_bytes",
                "Image layers kept both as a compressed blob and as an unpacked snapshot: the "
                "bytes of each copy.",
                ["copy"],
            )
            twice.add([root, "compressed"], ctrd.get("stored_twice_compressed_bytes", 0))
            twice.add([root, "unpacked"], ctrd.get("stored_twice_unpacked_bytes", 0))
            yield content.metric
            yield snaps.metric
            yield twice.metric

        if r.fs is not None:
            fs = fam(
                "filesystem_used_ratio",
                "Used fraction of the filesystem holding the root (df's Use%, as 0..1).",
            )
            fs.add([root], r.fs.percent / 100.0)
            yield fs.metric

        isize = fam("image_size_bytes", "Image size as docker images shows it.", ["id", "tag"])
        iuniq = fam(
            "image_unique_bytes",
            "Bytes of an image's layers that no other image uses.",
            ["id", "tag"],
        )
        for row in report.images:
            if not row.listed:
                continue
            tag = sorted(row.image.tags)[0] if row.image.tags else "<none>"
            labels = [root, short(row.image.id), label(tag)]
            isize.add(labels, row.size)
            iuniq.add(labels, row.unique_size)
        yield isize.metric
        yield iuniq.metric

        cw = fam(
            "container_writable_bytes",
            "Bytes of a container's writable layer (docker ps --size, SizeRw).",
            ["id", "name"],
        )
        cl = fam("container_log_bytes", "Bytes of a container's log files.", ["id", "name"])
        for crow in report.containers:
            labels = [root, crow.container.id[:12], label(crow.container.name)]
            if crow.size_rw is not None:
                cw.add(labels, crow.size_rw)
            cl.add(labels, crow.log_size)
        yield cw.metric
        yield cl.metric

        vb = fam("volume_bytes", "Bytes of a volume's data (docker system df -v).", ["volume"])
        for vrow in report.volumes:
            if vrow.size is not None:
                vb.add([root, label(vrow.volume.name)], vrow.size)
        yield vb.metric

        fc = fam("findings", "Number of findings by kind.", ["kind"])
        fb = fam("finding_bytes", "Bytes held by findings, by kind.", ["kind"])
        for kind in Kind:
            found = [f for f in r.findings if f.kind is kind]
            fc.add([root, kind.value], len(found))
            fb.add([root, kind.value], sum(f.bytes for f in found))
        yield fc.metric
        yield fb.metric

        th = fam(
            "threshold_crossed",
            "1 when a configured threshold (or --fail-on kind) is crossed, else 0.",
            ["threshold"],
        )
        for check in r.checks:
            if check.configured:
                th.add([root, check.name], 1 if check.crossed else 0)
        yield th.metric

        yield from self._growth(root)

        dur = fam("scan_duration_seconds", "Seconds the offline scan took.")
        dur.add([root], r.scan_seconds)
        yield dur.metric
        last = fam("last_run_timestamp_seconds", "Unix time the audit finished.")
        last.add([root], r.finished_at)
        yield last.metric

    def _growth(self, root: str) -> Iterable[Metric]:
        g = self.result.growth
        if g is None:
            return
        interval = _Family(
            "growth_interval_seconds", "Seconds since the previous run (growth period).", ["root"]
        )
        interval.add([root], g.interval)
        yield interval.metric
        tot = _Family(
            "root_disk_growth_bytes",
            "Change of the allocated bytes under the root since the previous run.",
            ["root"],
        )
        tot.add([root], g.total_disk)
        yield tot.metric
        cat = _Family(
            "category_disk_growth_bytes",
            "Change of allocated bytes by category since the previous run.",
            ["root", "category"],
        )
        for name, (_, d) in g.categories.items():
            cat.add([root, name], d)
        yield cat.metric
        cg = _Family(
            "container_growth_bytes",
            "Change of a container's writable-layer plus log bytes since the previous run.",
            ["root", "id", "name"],
        )
        for o in g.containers:
            cg.add([root, o.id[:12], label(o.name)], o.growth)
        yield cg.metric
        vg = _Family(
            "volume_growth_bytes",
            "Change of a volume's bytes since the previous run.",
            ["root", "volume"],
        )
        for o in g.volumes:
            vg.add([root, label(o.name)], o.growth)
        yield vg.metric


def registry(result: AuditResult) -> CollectorRegistry:
    """A private registry holding only this audit's metrics (no process/platform ones)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(AuditCollector(result))
    return reg


def render(result: AuditResult) -> str:
    """The metrics in the text exposition format (what the textfile holds)."""
    # generate_latest returns strict UTF-8, so write() encoding this again gives the same bytes.
    return generate_latest(registry(result)).decode("utf-8")


def write(path: str, result: AuditResult, roots: Sequence[str]) -> None:
    """Write the textfile atomically (temp file in the same directory, then rename).

    OSError when it cannot be written; OutputRefused when its directory is, now, inside
    one of `roots`.
    """
    from inspector import outputs

    outputs.write_file(
        path,
        render(result).encode("utf-8"),
        roots,
        label="--prometheus",
        hint="; write it elsewhere (e.g. node_exporter's textfile directory)",
    )


__all__ = ["AuditCollector", "label", "registry", "render", "write"]
