"""``explain``: what a path, ID or name under a data root is, who uses it, what removing it frees.

Pure functions over a Report. A query is either a path under the root (the pipeline makes it
absolute and lstats it, :class:`PathProbe`), or an ID, ID prefix or name: image ID, tag or
digest reference; layer ChainID or DiffID; a storage dir name (cache ID, mount ID, BuildKit
key); an ``l/`` short link; container ID or name; volume name; build-cache record ID. Exact
matches (a whole ID, a name) win over prefixes; when several objects are left, the query is
ambiguous and they are listed (:class:`Ambiguous`); when none, :class:`NotFound`.

What removing an object's owner frees is replayed on :class:`removal.World` (the daemon's own
rules): a layer is freed only when every image and container using it goes, and not while
BuildKit's cache holds it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from inspector.analysis.dockerdf import ACTIVE_STATES
from inspector.analysis.reconcile import DESCRIPTIONS, dir_categories
from inspector.analysis.removal import World, parse_ref
from inspector.analysis.results import Finding, ImageRow, Report
from inspector.analysis.sizes import Sizes, storage_path
from inspector.analysis.trees import inactive_paths
from inspector.errors import UsageError
from inspector.ids import short
from inspector.model import BuildCacheRecord

_HEX = re.compile(r"[0-9a-f]+")
_BASE36 = re.compile(r"[0-9a-z]+")
#: overlay2's short link names: 26 characters of base32.
_SHORT_LINK = re.compile(r"[A-Z2-7]{26}")

#: Candidates named in an ambiguity error.
SHOWN_CANDIDATES = 10

#: What the top-level entries of a data root are (the rest: "other daemon state").
AREAS = {
    "image": "image and layer metadata (layerdb, imagedb, references)",
    "containers": "one dir per container: config, logs, hostname/hosts/resolv.conf",
    "volumes": "volumes (data in <name>/_data) and their metadata.db",
    "buildkit": "BuildKit's state: its cache records and snapshots (build cache)",
    "overlay2": "the overlay2 storage driver's layer dirs and l/ short links",
    "vfs": "the vfs storage driver's layer dirs (full copies)",
    "containerd": "the containerd that dockerd started itself (its state, and the containerd "
    "image store when it is used)",
    "network": "the network controller's state (local-kv.db)",
    "plugins": "managed plugins (docker plugin install)",
    "swarm": "swarm mode's state (raft, certificates)",
    "runtimes": "OCI runtimes' generated files",
    "tmp": "the daemon's temporary files",
    "trust": "content trust data",
    "rootfs": "mount points of containers' root filesystems (containerd image store)",
    "engine-id": "this daemon's ID",
}


class NotFound(UsageError):
    """Nothing under the root is what the query names."""


class Ambiguous(UsageError):
    """Several objects match the query; they are named in the message."""

    def __init__(self, query: str, candidates: Sequence[Candidate]) -> None:
        shown = "; ".join(f"{c.kind} {c.label} ({c.via})" for c in candidates[:SHOWN_CANDIDATES])
        more = (
            f"; and {len(candidates) - SHOWN_CANDIDATES} more"
            if len(candidates) > SHOWN_CANDIDATES
            else ""
        )
        super().__init__(
            f"{query} is ambiguous: {len(candidates)} objects match: {shown}{more}; give more "
            "characters or the whole ID"
        )
        self.candidates = tuple(candidates)


@dataclass(frozen=True, slots=True)
class PathProbe:
    """The path asked about, as lstat saw it (read by the pipeline, beneath the root)."""

    path: str
    exists: bool
    type: str = ""
    """file | dir | symlink | other."""
    size: int = 0
    """st_size."""
    disk: int = 0
    """st_blocks * 512."""
    error: str = ""
    """Why it could not be looked at ("" when it could)."""


@dataclass(frozen=True, slots=True, order=True)
class Candidate:
    """An object a query matches."""

    kind: str
    """image | layer | container | volume | build_cache | storage_dir."""
    key: str
    """Its ID (a volume's name, a storage dir's name)."""
    label: str = field(compare=False)
    """For people (names from the root: escape before printing)."""
    via: str = field(compare=False)
    """How the query matched it (tag, ID prefix, cache ID, short link, …)."""
    exact: bool = field(compare=False, default=False)


@dataclass(frozen=True, slots=True)
class Freeing:
    """What removing an object's owner(s) frees, replayed with the daemon's rules."""

    commands: tuple[str, ...]
    """The docker commands, in order (names quoted for a shell)."""
    reported: int
    """Docker's count of what goes: recorded layer sizes, SizeRw, volume and record sizes."""
    reported_known: bool
    disk: int | None
    """Allocated bytes of the directories that go (None: not measured)."""
    containers: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    untagged: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    build_cache: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    dirs: tuple[str, ...] = ()
    note: str = ""
    """What stays and why (child images, BuildKit's hold, no docker command), in words."""


@dataclass(frozen=True, slots=True)
class Explanation:
    """Everything ``explain`` says about one query."""

    query: str
    kind: str
    """image | layer | container | volume | build_cache | storage_dir | area | root."""
    key: str
    """The object's ID or name ("" for an area or the root)."""
    title: str
    """What it is, in one line."""
    area: str
    """The top-level entry of the root it lives under ("" for the root itself)."""
    category: str | None
    """Its reconciliation category (see the report's "Disk usage by category")."""
    path: str | None = None
    """The path asked about, when the query was a path."""
    probe: PathProbe | None = None
    within: str = ""
    """When the path is inside the object (a file in a layer), what holds it, in words."""
    facts: tuple[tuple[str, str], ...] = ()
    """(label, value) lines: IDs, paths, states."""
    images: tuple[str, ...] = ()
    """IDs of the images that use it."""
    containers: tuple[str, ...] = ()
    """IDs of the containers that use it."""
    buildkit: bool = False
    """BuildKit's cache holds it."""
    docker_size: int | None = None
    docker_size_what: str = ""
    """Which Docker number `docker_size` is (layer size, SizeRw, volume size, …)."""
    apparent: int | None = None
    """Apparent bytes as walked (Docker's rules), when walked."""
    disk: int | None = None
    """Allocated bytes (None: not measured)."""
    findings: tuple[Finding, ...] = ()
    freeing: Freeing | None = None


# ---------------------------------------------------------------------------- resolving


def resolve(report: Report, query: str) -> list[Candidate]:
    """Every object `query` names: the exact matches if any, else the prefix matches."""
    inv = report.inventory
    q = query.strip()
    if not q:
        return []
    hexq = q.removeprefix("sha256:")
    is_hex = bool(_HEX.fullmatch(hexq))
    out: list[Candidate] = []

    def add(kind: str, key: str, label: str, via: str, exact: bool) -> None:
        out.append(Candidate(kind, key, label, via, exact))

    want = parse_ref(q) if not q.startswith("sha256:") else None
    for iid, img in inv.images.items():
        label = f"{short(iid)} ({', '.join(img.tags) or '<none>'})"
        for ref in (*img.tags, *img.digests):
            if ref == q or (want is not None and parse_ref(ref).full == want.full):
                add("image", iid, label, "reference", True)
        if is_hex and iid.removeprefix("sha256:").startswith(hexq):
            add("image", iid, label, "image ID", len(hexq) == 64)
    for ch, layer in inv.layers.items():
        if is_hex and ch.removeprefix("sha256:").startswith(hexq):
            add("layer", ch, ch, "chain ID", len(hexq) == 64)
        if is_hex and layer.diff_id.removeprefix("sha256:").startswith(hexq):
            add("layer", ch, ch, "diff ID", len(hexq) == 64)
    if _BASE36.fullmatch(q) or q.endswith("-init"):
        for name in inv.storage_dirs:
            if name == q or (name.startswith(q) and not q.endswith("-init")):
                add("storage_dir", name, name, "storage dir", name == q)
    if _SHORT_LINK.fullmatch(q) and q in inv.short_links:
        target = inv.short_links[q].target_dir
        if target:
            add("storage_dir", target, target, f"short link l/{q}", True)
    name = q.removeprefix("/")
    for cid, c in inv.containers.items():
        if c.name == name:
            add("container", cid, f"{c.name} ({cid[:12]})", "container name", True)
        if is_hex and cid.startswith(q):
            add("container", cid, f"{c.name} ({cid[:12]})", "container ID", len(q) == 64)
    for vname, v in inv.volumes.items():
        if vname == q:
            add("volume", vname, vname, "volume name", True)
        elif is_hex and len(vname) == 64 and v.anonymous and vname.startswith(q):
            add("volume", vname, vname, "volume name prefix", False)
    for r in inv.buildkit.records:
        if r.id == q or (_BASE36.fullmatch(q) and r.id.startswith(q)):
            add("build_cache", r.id, r.id, "build cache ID", r.id == q)
    exact = [c for c in out if c.exact]
    chosen = exact or out
    return _dedupe(_owners(report, chosen))


def _dedupe(cands: Iterable[Candidate]) -> list[Candidate]:
    seen: dict[tuple[str, str], Candidate] = {}
    for c in cands:
        seen.setdefault((c.kind, c.key), c)
    return sorted(seen.values())


def _owners(report: Report, cands: Iterable[Candidate]) -> list[Candidate]:
    """A storage dir stands for what owns it (a layer, a container, a cache record)."""
    inv = report.inventory
    by_cache = {layer.cache_id: ch for ch, layer in inv.layers.items()}
    by_mount = {
        x: name
        for name, m in inv.rw_layers.items()
        for x in (m.mount_id, m.init_id)
        if x and name in inv.containers
    }
    by_record = {r.data_dir: r.id for r in inv.buildkit.records if r.data_dir}
    out: list[Candidate] = []
    for c in cands:
        if c.kind != "storage_dir":
            out.append(c)
        elif c.key in by_cache:
            out.append(Candidate("layer", by_cache[c.key], by_cache[c.key], c.via, c.exact))
        elif c.key in by_mount:
            cid = by_mount[c.key]
            label = f"{inv.containers[cid].name} ({cid[:12]})"
            out.append(Candidate("container", cid, label, c.via, c.exact))
        elif c.key in by_record:
            rid = by_record[c.key]
            out.append(Candidate("build_cache", rid, rid, c.via, c.exact))
        else:
            out.append(c)
    return out


# ---------------------------------------------------------------------------- paths


def _rel(path: str, base: str) -> str | None:
    base = base.rstrip("/")
    if path == base:
        return ""
    if path.startswith(base + "/"):
        return path[len(base) + 1 :]
    return None


def locate(report: Report, path: str) -> tuple[Candidate | None, str, str]:
    """(the object holding `path`, its area, what `path` is within it) for a path in the root.

    The object is None when the path is an area of the root, or the root itself.
    """
    inv = report.inventory
    root = inv.root.path
    rel = _rel(path, root)
    if rel is None:
        rel_given = _rel(path, inv.root.given)
        area = (rel_given or "").split("/")[0]
        return None, area, ""
    if rel == "":
        return None, "", ""
    parts = rel.split("/")
    area = parts[0]
    home = _rel(path, inv.driver_home) if inv.driver_home else None
    if home is not None and home != "":
        hp = home.split("/")
        if hp[0] == "l":
            if len(hp) >= 2 and hp[1] in inv.short_links:
                target = inv.short_links[hp[1]].target_dir
                if target:
                    c = _owners(report, [Candidate("storage_dir", target, target, "", True)])[0]
                    return c, area, f"short link l/{hp[1]} -> ../{target}/diff"
            return None, area, ""
        c = _owners(report, [Candidate("storage_dir", hp[0], hp[0], "", True)])[0]
        return c, area, _within_dir(hp[1:])
    if area == "image" and len(parts) >= 5 and parts[2] == "layerdb":
        if parts[3] == "sha256":
            ch = "sha256:" + parts[4]
            if ch in inv.layers:
                return Candidate("layer", ch, ch, "", True), area, "its layerdb entry"
        if parts[3] == "mounts" and parts[4] in inv.containers:
            cid = parts[4]
            return (
                Candidate("container", cid, inv.containers[cid].name, "", True),
                area,
                "its writable layer's layerdb entry",
            )
    if area == "image" and len(parts) >= 6 and parts[2] == "imagedb":
        iid = "sha256:" + parts[5]
        if iid in inv.images:
            what = "its config" if parts[3] == "content" else "its imagedb metadata"
            return Candidate("image", iid, iid, "", True), area, what
    if area == "containers" and len(parts) >= 2 and parts[1] in inv.containers:
        ctr = inv.containers[parts[1]]
        inner = "/".join(parts[2:])
        if any(lf.path == path for lf in ctr.logs):
            what = "one of its log files"
        elif inner:
            what = f"{inner} in its container dir"
        else:
            what = ""
        return Candidate("container", ctr.id, ctr.name, "", True), area, what
    if area == "volumes" and len(parts) >= 2 and parts[1] in inv.volumes:
        inner = "/".join(parts[3:]) if len(parts) > 2 and parts[2] == "_data" else ""
        what = f"{inner} in its data" if inner else ""
        return Candidate("volume", parts[1], parts[1], "", True), area, what
    return None, area, ""


def _within_dir(rest: list[str]) -> str:
    if not rest:
        return ""
    if rest[0] == "diff":
        inner = "/".join(rest[1:])
        return f"/{inner} in its diff dir (its files)" if inner else "its diff dir (its files)"
    return f"{'/'.join(rest)} in its dir"


def path_category(report: Report, path: str, cats: dict[str, str]) -> str | None:
    """The reconciliation category of a path, by the rules of the report's totals."""
    inv = report.inventory
    for p in inactive_paths(inv):
        if _rel(path, p) is not None:
            return "inactive"
    rel = _rel(path, inv.root.path)
    if rel is None:
        return "inactive" if _rel(path, inv.root.given) else None
    if rel == "":
        return None
    parts = rel.split("/")
    home = _rel(path, inv.driver_home) if inv.driver_home else None
    if home == "" or (home is not None and home.split("/")[0] == "l"):
        return "metadata"
    if home is not None:
        return cats.get(home.split("/")[0], "orphans")
    area = parts[0]
    if area == "buildkit":
        return "build_cache"
    if area == "plugins" and report.inventory.containerd is None:
        return "plugins"
    if area == "image":
        if "tmp" in parts[2:4] or any(p.endswith("-removing") for p in parts):
            return "orphans"
        return "metadata"
    if area == "containers":
        if len(parts) >= 2 and parts[1] in inv.containers:
            logs = {lf.path for lf in inv.containers[parts[1]].logs}
            return "logs" if path in logs else "metadata"
        if len(parts) >= 2 and any(
            os.path.basename(s.path) == parts[1] for s in inv.container_dirs_without_config
        ):
            return "orphans"
        return "metadata"
    if area == "volumes":
        return "volumes" if len(parts) >= 2 and parts[1] in inv.volumes else "metadata"
    if inv.root.storage_driver and area == inv.root.storage_driver:
        return "metadata"
    return "other"


# ---------------------------------------------------------------------------- explaining


def explain(report: Report, query: str, probe: PathProbe | None = None) -> Explanation:
    """Explain `query` (a path when `probe` is given); NotFound / Ambiguous otherwise."""
    sizes = Sizes(report.inventory, report.measurements)
    cats = dir_categories(report.inventory, sizes)
    if probe is not None:
        return _explain_path(report, sizes, cats, query, probe)
    cands = resolve(report, query)
    if not cands:
        raise NotFound(
            f"{query}: no image, layer, container, volume, build cache record, storage dir or "
            f"short link of {report.inventory.root.path} has this ID or name"
        )
    if len(cands) > 1:
        raise Ambiguous(query, cands)
    return _explain_object(report, sizes, cands[0], query)


def _explain_path(
    report: Report, sizes: Sizes, cats: dict[str, str], query: str, probe: PathProbe
) -> Explanation:
    inv = report.inventory
    owner, area, within = locate(report, probe.path)
    category = path_category(report, probe.path, cats)
    if owner is not None:
        base = _explain_object(report, sizes, owner, query)
        return _with_path(base, probe, within, area, category)
    if probe.path.rstrip("/") == inv.root.path.rstrip("/"):
        facts = [
            (c.name, f"{c.disk} bytes on disk ({c.description})")
            for c in report.totals.categories
            if c.disk
        ]
        return Explanation(
            query=query,
            kind="root",
            key="",
            title=f"the data root ({inv.root.storage_driver or 'no'} storage driver, "
            f"{inv.root.image_store.value} image store)",
            area="",
            category=None,
            path=probe.path,
            probe=probe,
            facts=tuple(facts),
            disk=report.totals.disk_total if report.measured else None,
            findings=report.findings,
        )
    top = os.path.join(inv.root.path, area) if area else ""
    what = AREAS.get(area, "daemon state this tool does not read in detail")
    facts = [("area", f"{area}/: {what}")]
    apparent, disk, by_cat = _tree_usage(report, cats, probe.path)
    if len(by_cat) > 1:
        category = None
        for name, (_app, dsk) in sorted(by_cat.items(), key=lambda kv: -kv[1][1]):
            facts.append((f"category {name}", f"{dsk} bytes on disk"))
    elif category is not None:
        facts.append(("category", f"{category}: {DESCRIPTIONS.get(category, '')}"))
    return Explanation(
        query=query,
        kind="area",
        key="",
        title=f"{'the' if probe.path == top else 'inside the'} {area}/ area of the data root",
        area=area,
        category=category,
        path=probe.path,
        probe=probe,
        facts=tuple(facts),
        apparent=apparent,
        disk=disk,
        findings=_findings(report, set(), [probe.path], probe.path),
    )


def _tree_usage(
    report: Report, cats: dict[str, str], path: str
) -> tuple[int | None, int | None, dict[str, tuple[int, int]]]:
    """(apparent, disk, by category) of the measured trees at or under `path`.

    None when nothing there was measured on its own (`path` is then inside a tree measured as
    a whole, or nothing was measured).
    """
    meas = report.measurements
    if meas is None:
        return None, None, {}
    prefix = path.rstrip("/") + "/"
    apparent = disk = 0
    by_cat: dict[str, tuple[int, int]] = {}
    found = False
    for p, u in meas.usage.items():
        if p != path and not p.startswith(prefix):
            continue
        found = True
        apparent += u.apparent
        disk += u.disk
        cat = path_category(report, p, cats) or "other"
        a, d = by_cat.get(cat, (0, 0))
        by_cat[cat] = (a + u.apparent, d + u.disk)
    if not found:
        return None, None, {}
    return apparent, disk, by_cat


def _with_path(
    e: Explanation, probe: PathProbe, within: str, area: str, category: str | None
) -> Explanation:
    return dataclasses.replace(
        e,
        path=probe.path,
        probe=probe,
        within=within,
        area=area or e.area,
        category=category or e.category,
    )


def _explain_object(report: Report, sizes: Sizes, c: Candidate, query: str) -> Explanation:
    if c.kind == "image":
        return _image(report, sizes, c.key, query)
    if c.kind == "layer":
        return _layer(report, sizes, c.key, query)
    if c.kind == "container":
        return _container(report, c.key, query)
    if c.kind == "volume":
        return _volume(report, c.key, query)
    if c.kind == "build_cache":
        return _record(report, c.key, query)
    return _storage_dir(report, sizes, c.key, query)


def _findings(
    report: Report, ids: set[str], paths: Sequence[str], asked: str | None = None
) -> tuple[Finding, ...]:
    """Findings about the object: its IDs, its paths and what is under them."""
    out = []
    for f in report.findings:
        if f.object_id is not None and f.object_id in ids:
            out.append(f)
            continue
        if any(f.path == p or f.path.startswith(p.rstrip("/") + "/") for p in paths if p):
            out.append(f)
            continue
        if asked and f.kind.value != "build_cache" and asked.startswith(f.path.rstrip("/") + "/"):
            out.append(f)
    return tuple(out)


def _known(report: Report, value: int | None) -> int | None:
    return value if report.measured else None


def _category(report: Report, sizes: Sizes, dir_name: str | None) -> str | None:
    if not dir_name:
        return None
    return dir_categories(report.inventory, sizes).get(dir_name, "orphans")


def _tags(report: Report, iid: str) -> str:
    img = report.inventory.images.get(iid)
    if img is None:
        return short(iid)
    return f"{', '.join(img.tags) or '<none>'} ({short(iid)})"


def _q(word: str) -> str:
    return shlex.quote(word)


def _freeing(
    report: Report,
    containers: Sequence[str] = (),
    image_ids: Sequence[str] = (),
    volumes: Sequence[str] = (),
    records: Sequence[str] = (),
    check_layer: str | None = None,
) -> Freeing | None:
    """Replay removing these objects (containers first) and say what goes."""
    world = World(report)
    if not world.graphdriver and (image_ids or check_layer):
        return None
    inv = report.inventory
    cmds: list[str] = []
    conts = sorted(set(containers))
    for cid in conts:
        world.remove_container(cid)
    if conts:
        force = any(inv.containers[c].state in ACTIVE_STATES for c in conts)
        names = " ".join(_q(inv.containers[c].name or c[:12]) for c in conts)
        cmds.append(f"docker container rm {'-f ' if force else ''}{names}")
    rows = {r.image.id: r for r in report.images}
    # Children before parents: a parent with child images only loses its tags.
    imgs = sorted(set(image_ids), key=lambda i: (-len(rows[i].chain) if i in rows else 0, i))
    for iid in imgs:
        if iid not in world.refs:
            continue  # gone already: an untagged parent of an image removed before it
        refs = list(world.refs[iid])
        if refs:
            for ref in refs:
                world.delete_by_ref(iid, ref)
            cmds.append("docker image rm " + " ".join(_q(r.familiar) for r in refs))
        else:
            world.delete_by_id(iid)
            cmds.append(f"docker image rm {short(iid)}")
    vols = sorted(set(volumes))
    for v in vols:
        world.remove_volume(v, next((r for r in report.volumes if r.volume.name == v), None))
    if vols:
        cmds.append("docker volume rm " + " ".join(_q(v) for v in vols))
    recs = sorted(set(records))
    if recs:
        world.remove_records(recs)
        cmds.append("docker builder prune -f " + " ".join(f"--filter id={r}" for r in recs))
    notes: list[str] = []
    kept = [i for i in imgs if i in world.refs]
    if kept:
        notes.append(
            "stays (other images are built on it; only its tags go): "
            + ", ".join(_tags(report, i) for i in kept)
        )
    if check_layer is not None and world.layer_alive(check_layer):
        held = check_layer in world.held_by or check_layer in inv.buildkit.chain_ids
        notes.append(
            "the layer stays: BuildKit's build cache holds it too (docker builder prune frees it "
            "when no image shares it)"
            if held
            else "the layer stays: something else still uses it"
        )
    j = world.journal
    return Freeing(
        commands=tuple(cmds),
        reported=j.reported,
        reported_known=not j.unknown,
        disk=world.disk(j.dirs),
        containers=tuple(j.containers),
        images=tuple(j.images),
        untagged=tuple(j.untagged),
        volumes=tuple(j.volumes),
        build_cache=tuple(j.records),
        layers=tuple(j.layers),
        dirs=tuple(dict.fromkeys(j.dirs)),
        note="; ".join(notes),
    )


def _image(report: Report, sizes: Sizes, iid: str, query: str) -> Explanation:
    inv = report.inventory
    img = inv.images[iid]
    row: ImageRow | None = next((r for r in report.images if r.image.id == iid), None)
    facts: list[tuple[str, str]] = [("ID", iid)]
    if img.tags:
        facts.append(("tags", ", ".join(img.tags)))
    if img.digests:
        facts.append(("digests", ", ".join(img.digests)))
    facts.append(("created", img.created or "unknown"))
    facts.append(("config", img.config_path))
    users: tuple[str, ...] = ()
    if row is not None:
        facts.append(("layers", f"{len(row.chain)} ({len(row.missing_layers)} missing)"))
        facts.append(
            ("sizes", f"Size {row.size}, SharedSize {row.shared_size}, unique {row.unique_size}")
        )
        if row.children:
            facts.append(("child images", ", ".join(_tags(report, c) for c in row.children)))
        users = row.containers
    state = (
        "dangling (no tag, no child image)"
        if row is not None and row.dangling
        else "intermediate (untagged, with child images: docker images hides it)"
        if row is not None and row.intermediate
        else "tagged"
    )
    cat = None
    if row is not None and row.chain:
        top = inv.layers.get(row.chain[-1])
        cat = _category(report, sizes, top.cache_id if top is not None else None)
    return Explanation(
        query=query,
        kind="image",
        key=iid,
        title=f"image {_tags(report, iid)}, {state}",
        area="image",
        category=cat,
        facts=tuple(facts),
        images=(iid,),
        containers=users,
        docker_size=row.size if row is not None else None,
        docker_size_what="Size (the sum of its layers' recorded sizes, as docker images says)",
        disk=_known(report, row.disk_usage if row is not None else None),
        findings=_findings(report, {iid}, [img.config_path]),
        freeing=_freeing(report, containers=users, image_ids=[iid]),
    )


def _layer(report: Report, sizes: Sizes, chain: str, query: str) -> Explanation:
    inv = report.inventory
    layer = inv.layers[chain]
    row = next((r for r in report.layers if r.layer.chain_id == chain), None)
    bk = chain in sizes.buildkit_layers()
    facts: list[tuple[str, str]] = [
        ("chain ID", chain),
        ("diff ID", layer.diff_id),
        ("cache ID", layer.cache_id),
        ("layerdb", layer.metadata_dir),
    ]
    if row is not None and row.storage_dir:
        facts.append(("dir", row.storage_dir + ("" if row.dir_exists else " (missing)")))
    if row is not None and row.link:
        facts.append(("short link", f"l/{row.link}, {len(row.lower)} lower layer(s)"))
    facts.append(("parent", layer.parent or "none (a base layer)"))
    images = row.images if row is not None else ()
    containers = row.containers if row is not None else ()
    who = []
    if images:
        who.append(f"{len(images)} image(s)")
    if containers:
        who.append(f"{len(containers)} container(s)")
    if bk:
        who.append("BuildKit's build cache")
    title = f"image layer {short(chain)}, used by " + (", ".join(who) if who else "nothing")
    # The containers on this layer, and those on the images that use it, go first.
    users = set(containers)
    for iid in images:
        users.update(sizes.containers_by_image.get(iid, []))
    records = [r.id for r in inv.buildkit.records if r.chain_id == chain] if not images else []
    freeing = _freeing(
        report,
        containers=sorted(users),
        image_ids=images,
        records=_with_descendants(inv.buildkit.records, records),
        check_layer=chain,
    )
    return Explanation(
        query=query,
        kind="layer",
        key=chain,
        title=title,
        area=os.path.basename(inv.driver_home.rstrip("/")) if inv.driver_home else "image",
        category=_category(report, sizes, layer.cache_id),
        facts=tuple(facts),
        images=images,
        containers=containers,
        buildkit=bk,
        docker_size=layer.size,
        docker_size_what="layer size (recorded in layerdb; what docker counts)",
        apparent=row.measured_size if row is not None else None,
        disk=_known(report, row.disk_usage if row is not None else None),
        findings=_findings(
            report,
            {chain, layer.cache_id},
            [p for p in (row.storage_dir if row else None, layer.metadata_dir) if p],
        ),
        freeing=freeing,
    )


def _with_descendants(records: Sequence[BuildCacheRecord], ids: Iterable[str]) -> list[str]:
    """`ids` and every record whose parent chain reaches one of them."""
    wanted = set(ids)
    changed = True
    while changed:
        changed = False
        for r in records:
            if r.id not in wanted and any(p in wanted for p in r.parents):
                wanted.add(r.id)
                changed = True
    return sorted(wanted)


def _container(report: Report, cid: str, query: str) -> Explanation:
    inv = report.inventory
    c = inv.containers[cid]
    row = next((r for r in report.containers if r.container.id == cid), None)
    facts: list[tuple[str, str]] = [
        ("ID", cid),
        ("state", c.state),
        ("image", f"{c.image_ref or '?'} ({short(c.image_id)})"),
        ("created", c.created or "unknown"),
        ("dir", c.dir),
    ]
    if row is not None and row.rw_dir:
        facts.append(("writable layer", row.rw_dir))
    if row is not None and row.init_dir:
        facts.append(("init layer", row.init_dir))
    opts = ", ".join(f"{k}={v}" for k, v in sorted(c.log_opts.items())) or "no options"
    logs = f"{c.log_driver} ({opts})"
    if row is not None:
        logs += f": {row.log_size} bytes in {len(c.logs)} file(s)"
    facts.append(("logs", logs))
    vols = row.volumes if row is not None else ()
    if vols:
        facts.append(("volumes", ", ".join(vols)))
    disk = None
    if report.measurements is not None and row is not None:
        disk = row.disk_usage + report.measurements.of(c.dir).disk
    anon = [v for v in vols if v in inv.volumes and inv.volumes[v].anonymous]
    freeing = _freeing(report, containers=[cid])
    if freeing is not None and anon:
        freeing = _note(
            freeing,
            "its anonymous volume(s) stay; docker container rm -v removes them too: "
            + ", ".join(anon),
        )
    m = inv.rw_layers.get(cid)
    return Explanation(
        query=query,
        kind="container",
        key=cid,
        title=f"container {c.name} ({cid[:12]}), {c.state}, from image {c.image_ref or '?'}",
        area="containers",
        category="container_layers",
        facts=tuple(facts),
        images=(c.image_id,) if c.image_id in inv.images else (),
        containers=(cid,),
        docker_size=row.size_rw if row is not None else None,
        docker_size_what="SizeRw (its writable layer, as docker ps --size says)",
        disk=disk,
        findings=_findings(
            report,
            {cid, *((x for x in (m.mount_id, m.init_id) if x) if m is not None else ())},
            [c.dir, *((p for p in (row.rw_dir, row.init_dir) if p) if row is not None else ())],
        ),
        freeing=freeing,
    )


def _note(f: Freeing, text: str) -> Freeing:
    return dataclasses.replace(f, note="; ".join(x for x in (f.note, text) if x))


def _volume(report: Report, name: str, query: str) -> Explanation:
    inv = report.inventory
    v = inv.volumes[name]
    row = next((r for r in report.volumes if r.volume.name == name), None)
    facts: list[tuple[str, str]] = [
        ("name", name),
        ("kind", "anonymous" if v.anonymous else "named"),
        ("driver", v.driver),
        ("dir", v.path),
    ]
    if v.labels:
        facts.append(("labels", ", ".join(f"{k}={x}" for k, x in sorted(v.labels.items()))))
    if v.options:
        facts.append(("options", ", ".join(f"{k}={x}" for k, x in sorted(v.options.items()))))
    if row is not None and row.mounted:
        facts.append(("mounted", row.mounted))
    users = row.containers if row is not None else ()
    return Explanation(
        query=query,
        kind="volume",
        key=name,
        title=f"{'anonymous' if v.anonymous else 'named'} volume {name}, used by "
        f"{len(users)} container(s)",
        area="volumes",
        category="volumes",
        facts=tuple(facts),
        containers=users,
        docker_size=row.size if row is not None else None,
        docker_size_what="volume size (as docker system df -v says)",
        disk=_known(report, row.disk_usage if row is not None else None),
        findings=_findings(report, {name}, [v.path]),
        freeing=_freeing(report, containers=users, volumes=[name]),
    )


def _record(report: Report, rid: str, query: str) -> Explanation:
    inv = report.inventory
    r = next(x for x in inv.buildkit.records if x.id == rid)
    facts: list[tuple[str, str]] = [
        ("ID", rid),
        ("type", r.record_type),
        ("description", r.description),
        ("shared with an image", "yes" if r.shared else "no"),
        ("created", r.created or "unknown"),
        ("last used", r.last_used or "never"),
        ("usage count", str(r.usage_count)),
    ]
    if r.parents:
        facts.append(("parents", ", ".join(r.parents)))
    path = storage_path(inv, r.data_dir) if r.data_dir else None
    if path:
        facts.append(("dir", path))
    if r.chain_id:
        facts.append(("layer", r.chain_id))
    meas = report.measurements
    ids = _with_descendants(inv.buildkit.records, [rid])
    freeing = _freeing(report, records=ids)
    if freeing is not None and len(ids) > 1:
        freeing = _note(freeing, f"{len(ids) - 1} record(s) built on it go first")
    return Explanation(
        query=query,
        kind="build_cache",
        key=rid,
        title=f"build cache record {rid[:12]} ({r.record_type}): {r.description}",
        area="buildkit",
        category="build_cache",
        facts=tuple(facts),
        buildkit=True,
        docker_size=r.size,
        docker_size_what="size (as docker system df -v says)",
        disk=meas.of(path).disk if meas is not None and path else None,
        findings=_findings(report, {rid}, [path] if path else []),
        freeing=freeing,
    )


def _storage_dir(report: Report, sizes: Sizes, name: str, query: str) -> Explanation:
    inv = report.inventory
    path = storage_path(inv, name) or name
    d = inv.storage_dirs.get(name)
    cat = _category(report, sizes, name)
    removing = [r for r in inv.removing_layers if r.cache_id == name]
    if removing:
        what = f"the dir of a layer an interrupted removal left ({removing[0].name})"
    elif name in inv.buildkit.snapshot_keys:
        what = "a BuildKit snapshot no listed build cache record names"
    elif any(m.mount_id == name or m.init_id == name for m in inv.rw_layers.values()):
        what = "the writable layer of a build step (a BuildKit or classic-builder mount)"
    else:
        what = "a dir nothing references (layerdb, mounts and BuildKit checked)"
    meas = report.measurements
    u = meas.usage.get(path) if meas is not None else None
    findings = _findings(report, {name}, [path])
    freeing = None
    if findings:
        f = findings[0]
        freeing = Freeing(
            commands=(),
            reported=0,
            reported_known=True,
            disk=u.disk if u is not None else None,
            dirs=(path,),
            note=f.remedy,
        )
    facts = [("dir", path)]
    if d is not None and d.link:
        facts.append(("short link", f"l/{d.link}"))
    return Explanation(
        query=query,
        kind="storage_dir",
        key=name,
        title=f"storage dir {name}: {what}",
        area=os.path.basename(inv.driver_home.rstrip("/")) if inv.driver_home else "",
        category=cat,
        facts=tuple(facts),
        buildkit=name in inv.buildkit.snapshot_keys,
        apparent=u.apparent if u is not None else None,
        disk=u.disk if u is not None else None,
        findings=findings,
        freeing=freeing,
    )


__all__ = [
    "AREAS",
    "Ambiguous",
    "Candidate",
    "Explanation",
    "Freeing",
    "NotFound",
    "PathProbe",
    "explain",
    "locate",
    "resolve",
]
