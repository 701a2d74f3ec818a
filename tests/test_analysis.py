"""Analysis is pure: tested here on hand-built inventories (no disk, no daemon)."""

from __future__ import annotations

import hashlib

from inspector import analysis
from inspector.analysis import Options
from inspector.analysis.results import Report
from inspector.ids import chain_ids
from inspector.model import (
    BuildKitInfo,
    Container,
    Image,
    ImageStore,
    Inventory,
    Layer,
    LogFile,
    Measurements,
    MountPoint,
    RemovingLayer,
    RootInfo,
    RWLayerRef,
    ShortLink,
    StorageDir,
    Usage,
    Volume,
)


def analyze(
    inv: Inventory, options: Options | None = None, usage: dict[str, Usage] | None = None
) -> Report:
    """Analyse a hand-built inventory as if its trees had been measured as `usage` says."""
    return analysis.analyze(inv, Measurements(usage=usage or {}), options)


ROOT = "/r"
HOME = "/r/overlay2"


def h(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def d(s: str) -> str:
    return "sha256:" + h(s)


def make_inventory(
    images: dict[str, tuple[list[str], list[str], str | None]],
    sizes: dict[str, int],
    containers: list[Container] = (),  # type: ignore[assignment]
    volumes: list[Volume] = (),  # type: ignore[assignment]
    extra_dirs: list[str] = (),  # type: ignore[assignment]
    **kw: object,
) -> Inventory:
    """images: id -> (diff names, tags, parent id); sizes: diff name -> layer size."""
    layers: dict[str, Layer] = {}
    imgs: dict[str, Image] = {}
    dirs: dict[str, StorageDir] = {}
    links: dict[str, ShortLink] = {}
    for iid, (diffs, tags, parent) in images.items():
        diff_ids = [d(x) for x in diffs]
        chain = chain_ids(diff_ids)
        for i, ch in enumerate(chain):
            if ch in layers:
                continue
            cache = h("cache" + ch)
            layers[ch] = Layer(
                ch,
                diff_ids[i],
                chain[i - 1] if i else None,
                cache,
                sizes[diffs[i]],
                f"/r/image/overlay2/layerdb/sha256/{ch[7:]}",
            )
            link = (
                ("L" + h(cache).upper())[:26]
                .replace("0", "A")
                .replace("1", "B")
                .replace("8", "C")
                .replace("9", "D")
            )
            lower = tuple(f"l/{dirs[layers[p].cache_id].link}" for p in reversed(chain[:i]))
            dirs[cache] = StorageDir(cache, f"{HOME}/{cache}", link=link, lower=lower)
            links[link] = ShortLink(link, f"{HOME}/l/{link}", f"../{cache}/diff", cache)
        imgs[iid] = Image(
            iid,
            f"/r/image/overlay2/imagedb/content/sha256/{iid[7:]}",
            tuple(diff_ids),
            tags=tuple(tags),
            parent=parent,
        )
    for name in extra_dirs:
        dirs[name] = StorageDir(name, f"{HOME}/{name}", link=None)
    rw: dict[str, RWLayerRef] = {}
    for c in containers:
        mount = h("mount" + c.id)
        top = chain_ids(imgs[c.image_id].diff_ids)[-1] if c.image_id in imgs else None
        rw[c.id] = RWLayerRef(
            c.id, mount, mount + "-init", top, f"/r/image/overlay2/layerdb/mounts/{c.id}"
        )
        for x in (mount, mount + "-init"):
            link = (
                ("M" + h(x).upper())[:26]
                .replace("0", "A")
                .replace("1", "B")
                .replace("8", "C")
                .replace("9", "D")
            )
            dirs[x] = StorageDir(x, f"{HOME}/{x}", link=link)
            links[link] = ShortLink(link, f"{HOME}/l/{link}", f"../{x}/diff", x)
    fields: dict[str, object] = dict(
        root=RootInfo(ROOT, "overlay2", ImageStore.GRAPHDRIVER, True),
        images=imgs,
        layers=layers,
        rw_layers=rw,
        storage_dirs=dirs,
        short_links=links,
        containers={c.id: c for c in containers},
        volumes={v.name: v for v in volumes},
        driver_home=HOME,
    )
    fields.update(kw)
    return Inventory(**fields)  # type: ignore[arg-type]


BASE = d("base-image")
APP = d("app-image")
STEP = d("app-step")  # classic-builder intermediate: untagged, child APP
OTHER = d("other")
LONE = d("lonely")


def standard() -> Inventory:
    return make_inventory(
        {
            BASE: (["b"], ["base:1"], None),
            STEP: (["b", "a"], [], BASE),
            APP: (["b", "a"], ["app:1"], STEP),
            OTHER: (["b", "o"], ["other:1"], BASE),
            LONE: (["x"], [], None),
        },
        {"b": 1000, "a": 10, "o": 5, "x": 7},
        containers=[
            Container(
                "c" * 64,
                "/r/containers/" + "c" * 64,
                "web",
                APP,
                state="running",
                mounts=(MountPoint("/data", "volume", "data", driver="local"),),
                logs=(LogFile("/r/containers/x-json.log", 300 * 1024 * 1024, 300 * 1024 * 1024),),
            )
        ],
        volumes=[
            Volume("data", "/r/volumes/data"),
            Volume("unused", "/r/volumes/unused"),
            Volume(
                h("anon"), "/r/volumes/" + h("anon"), labels={"com.docker.volume.anonymous": ""}
            ),
        ],
    )


def test_chain_ids_follow_the_oci_rule() -> None:
    a, b = d("1"), d("2")
    assert chain_ids([a]) == (a,)
    assert chain_ids([a, b])[1] == "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()


def test_sizes_and_sharing_like_docker() -> None:
    rep = analyze(standard())
    rows = {r.image.id: r for r in rep.images}
    assert rows[APP].size == 1010
    # The intermediate STEP shares all of APP's layers but Docker does not count it.
    assert rows[APP].shared_size == 1000 and rows[APP].unique_size == 10
    assert rows[BASE].shared_size == 1000 and rows[BASE].unique_size == 0
    assert rows[OTHER].unique_size == 5
    assert rows[STEP].intermediate and not rows[STEP].dangling
    assert rows[LONE].dangling and not rows[LONE].intermediate
    assert rows[LONE].shared_size == 0
    assert len(rows[APP].containers) == 1
    # The container pins APP's layers: removing APP frees nothing.
    assert rows[APP].reclaimable == 0
    assert rows[OTHER].reclaimable == 5
    # LayersSize counts each layer of listed images once.
    assert rep.totals.docker_images_size == 1000 + 10 + 5 + 7


def test_findings_on_a_clean_model() -> None:
    rep = analyze(standard())
    kinds = sorted((f.kind.value, f.object_id) for f in rep.findings)
    assert ("dangling_image", LONE) in kinds
    assert ("unused_volume", "unused") in kinds
    assert ("unused_volume", h("anon")) in kinds
    assert ("unused_volume", "data") not in kinds
    assert ("large_log", "c" * 64) in kinds
    assert not [
        k
        for k in kinds
        if k[0] in ("orphan_dir", "broken_link", "missing_diff_dir", "dangling_layer")
    ]


def test_large_log_threshold_is_an_option() -> None:
    rep = analyze(standard(), Options(large_log_bytes=400 * 1024 * 1024))
    assert not [f for f in rep.findings if f.kind.value == "large_log"]


def test_orphans_buildkit_and_usage() -> None:
    orphan = h("orphan")
    bk_owned = "abcdefghijklmnopqrstuvwxy"
    bk_unknown = "zyxwvutsrqponmlkjihgfedcb"
    inv = make_inventory(
        {BASE: (["b"], ["base:1"], None)},
        {"b": 1},
        extra_dirs=[orphan, bk_owned, bk_unknown],
        buildkit=BuildKitInfo(present=True, snapshot_keys=frozenset({bk_owned})),
    )
    rep = analyze(inv, usage={f"{HOME}/{orphan}": Usage(4096, 8192)})
    orphans = {f.object_id: f for f in rep.findings if f.kind.value == "orphan_dir"}
    assert set(orphans) == {orphan, bk_unknown}
    assert orphans[orphan].bytes == 4096 and orphans[orphan].disk_usage == 8192
    assert orphans[orphan].confidence == "certain"
    assert orphans[orphan].path == f"{HOME}/{orphan}"
    assert orphans[bk_unknown].confidence == "low"
    assert "BuildKit" in orphans[bk_unknown].detail
    import re

    assert not re.search(r"\brm\b", orphans[orphan].remedy)


def test_dir_created_during_scan_is_not_an_orphan() -> None:
    orphan = h("new")
    inv = make_inventory(
        {BASE: (["b"], ["base:1"], None)}, {"b": 1}, extra_dirs=[orphan], scan_started=1000.0
    )
    dirs = dict(inv.storage_dirs)
    dirs[orphan] = StorageDir(orphan, f"{HOME}/{orphan}", mtime=1001.0)
    import dataclasses

    rep = analyze(dataclasses.replace(inv, storage_dirs=dirs))
    assert not [f for f in rep.findings if f.kind.value == "orphan_dir"]


def test_missing_dir_broken_links_removing_dangling_layer() -> None:
    import dataclasses

    inv = standard()
    app_top = chain_ids(inv.images[APP].diff_ids)[-1]
    gone = inv.layers[app_top].cache_id
    dirs = {k: v for k, v in inv.storage_dirs.items() if k != gone}
    links = dict(inv.short_links)
    links["DANGLINGLINKAAAAAAAAAAAAAA"] = ShortLink(
        "DANGLINGLINKAAAAAAAAAAAAAA",
        f"{HOME}/l/DANGLINGLINKAAAAAAAAAAAAAA",
        "../nothere/diff",
        "nothere",
    )
    lone_layer = chain_ids(inv.images[LONE].diff_ids)[-1]
    images = {k: v for k, v in inv.images.items() if k != LONE}
    removing = (
        RemovingLayer(
            h("r") + "-" + h("q") + "-removing",
            "/r/image/overlay2/layerdb/sha256/x-removing",
            h("cache-r"),
            50,
        ),
    )
    dirs[h("cache-r")] = StorageDir(h("cache-r"), f"{HOME}/{h('cache-r')}", link=None)
    usage = {f"{HOME}/{h('cache-r')}": Usage(50, 4096)}
    inv2 = dataclasses.replace(
        inv,
        storage_dirs=dirs,
        short_links=links,
        images=images,
        removing_layers=removing,
    )
    rep = analyze(inv2, usage=usage)
    by_kind: dict[str, list[str]] = {}
    for f in rep.findings:
        by_kind.setdefault(f.kind.value, []).append(f.path)
    assert f"{HOME}/{gone}" in by_kind["missing_diff_dir"]
    assert f"{HOME}/l/DANGLINGLINKAAAAAAAAAAAAAA" in by_kind["broken_link"]
    assert by_kind["leftover_removing_dir"] == ["/r/image/overlay2/layerdb/sha256/x-removing"]
    rem = next(f for f in rep.findings if f.kind.value == "leftover_removing_dir")
    assert rem.bytes == 50 and h("cache-r") in rem.detail
    assert inv.layers[lone_layer].metadata_dir in by_kind["dangling_layer"]
    # The -removing layer's storage dir is referenced (no orphan double count).
    assert f"{HOME}/{h('cache-r')}" not in by_kind.get("orphan_dir", [])


def test_volume_in_use_needs_a_driver_like_docker() -> None:
    c = Container(
        "e" * 64,
        "/r/containers/" + "e" * 64,
        "b",
        BASE,
        mounts=(MountPoint("/x", "bind", "", "/host"),),
    )
    inv = make_inventory(
        {BASE: (["b"], ["base:1"], None)},
        {"b": 1},
        containers=[c],
        volumes=[Volume("host", "/r/volumes/host")],
    )
    rep = analyze(inv)
    assert rep.volumes[0].links == 0


def test_reconciliation_assigns_bytes_once() -> None:
    inv = standard()
    usage = {s.path: Usage(10, 4096) for s in inv.storage_dirs.values()}

    rep = analyze(inv, usage=usage)
    cats = {c.name: c for c in rep.totals.categories}
    n_layers = len(inv.layers)
    assert cats["image_layers"].disk == 4096 * n_layers
    assert cats["container_layers"].disk == 4096 * 2
    assert rep.totals.disk_total == sum(c.disk for c in rep.totals.categories)
