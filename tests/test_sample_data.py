"""The committed ``sample_data/`` against a freshly regenerated one.

The regenerated sample comes from the ``sample_snapshot`` fixture: the same code path as
``scripts/make_sample_data.py`` (``write_sample``) applied to the sample scenario built in
the session daemon, exported before anything else was added to it. (If the session daemon
already held other objects, the fixture builds it in a second, short-lived daemon instead.)

IDs are random on every run, so the comparison is structural: counts of images, tags,
layers per image, containers by state, volumes, and the file lists inside each layer's
``diff`` and each container's directories, with IDs replaced by placeholders.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from dockerlab import REPO_ROOT, load_make_sample_data

SAMPLE_DIR = REPO_ROOT / "sample_data"
COMMITTED_ROOT = SAMPLE_DIR / "root"
REGENERATE = "regenerate it: python scripts/make_sample_data.py --out sample_data/root"


def _normalize(rel: str) -> str:
    normalized: str = load_make_sample_data().normalize(rel)
    return normalized


def _files(base: Path, sizes: bool = True) -> list[str]:
    """Sorted, normalized relative paths of files and symlinks under ``base`` (with the
    size of regular files if ``sizes``), or [] if it is missing."""
    out: list[str] = []
    if not base.is_dir():
        return out
    for root, dirs, names in os.walk(base):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = Path(root, name)
            rel = _normalize(path.relative_to(base).as_posix())
            if path.is_symlink():
                out.append(f"{rel} -> {_normalize(os.readlink(path))}")
            elif sizes:
                out.append(f"{rel} ({path.stat().st_size})")
            else:
                out.append(rel)
    return sorted(out)


def _chain_ids(diff_ids: list[str]) -> list[str]:
    chain: list[str] = []
    for diff_id in diff_ids:
        if not chain:
            chain.append(diff_id)
        else:
            digest = hashlib.sha256(f"{chain[-1]} {diff_id}".encode()).hexdigest()
            chain.append(f"sha256:{digest}")
    return chain


def describe(root: Path) -> dict[str, Any]:
    """A structural description of an exported data root, free of random IDs."""
    img = root / "image" / "overlay2"
    layerdb = img / "layerdb"
    repos = json.loads((img / "repositories.json").read_text())["Repositories"]
    tags_of: dict[str, list[str]] = defaultdict(list)
    for refs in repos.values():
        for ref, iid in refs.items():
            tags_of[iid].append(ref)
    content = img / "imagedb" / "content" / "sha256"
    configs = {f"sha256:{p.name}": json.loads(p.read_bytes()) for p in content.iterdir()}
    meta = img / "imagedb" / "metadata" / "sha256"
    parents = {
        f"sha256:{p.name}": (p / "parent").read_text()
        for p in meta.iterdir()
        if (p / "parent").exists()
    }
    children = set(parents.values())

    def layer(chain: str) -> dict[str, Any]:
        d = layerdb / "sha256" / chain.removeprefix("sha256:")
        cache_id = (d / "cache-id").read_text()
        return {
            "size": int((d / "size").read_text()),
            "files": _files(root / "overlay2" / cache_id / "diff"),
        }

    def image(iid: str) -> dict[str, Any]:
        config = configs[iid]
        history = config.get("history") or []
        return {
            "tags": sorted(tags_of.get(iid, [])),
            "layers": [layer(c) for c in _chain_ids(config["rootfs"].get("diff_ids") or [])],
            "history": [h.get("created_by", "") for h in history],
            "empty_layers": sum(1 for h in history if h.get("empty_layer")),
            "has_parent": iid in parents,
            "has_children": iid in children,
            "config": {k: config["config"].get(k) for k in ("Cmd", "Env", "Entrypoint")},
        }

    images = sorted((image(i) for i in configs), key=lambda d: json.dumps(d, sort_keys=True))
    untagged = [i for i in configs if i not in tags_of]

    containers: dict[str, Any] = {}
    for cdir in sorted((root / "containers").iterdir()):
        config = json.loads((cdir / "config.v2.json").read_text())
        state = config["State"]
        if state.get("Running"):
            status = "running"
        elif state.get("StartedAt", "").startswith("0001-"):
            status = "created"
        else:
            status = "exited"
        mounts = layerdb / "mounts" / cdir.name
        mount_id = (mounts / "mount-id").read_text()
        init_id = (mounts / "init-id").read_text()
        log = cdir / f"{cdir.name}-json.log"
        containers[config["Name"]] = {
            "state": status,
            "exit_code": state.get("ExitCode"),
            "image": sorted(tags_of.get(config["Image"], ["<untagged>"])),
            "cmd": config["Config"].get("Cmd"),
            "mounts": sorted(
                f"{dest}: {m.get('Type')} {_normalize(m.get('Name', ''))} {m.get('Driver', '')}"
                for dest, m in (config.get("MountPoints") or {}).items()
            ),
            "dir_files": _files(cdir, sizes=False),
            "log_lines": len(log.read_text().splitlines()) if log.exists() else None,
            "rw_files": _files(root / "overlay2" / mount_id / "diff"),
            "init_files": _files(root / "overlay2" / init_id / "diff"),
            "parent_layer_known": (
                layerdb / "sha256" / (mounts / "parent").read_text().removeprefix("sha256:")
            ).is_dir(),
        }

    volumes = {
        _normalize(v.name): _files(v / "_data")
        for v in sorted((root / "volumes").iterdir())
        if v.is_dir()
    }
    overlay_dirs = [p.name for p in (root / "overlay2").iterdir() if p.name != "l"]
    return {
        "top": sorted(p.name for p in root.iterdir()),
        "n_images": len(configs),
        "tags": sorted(t for ts in tags_of.values() for t in ts),
        "n_untagged": len(untagged),
        "n_dangling": sum(1 for i in untagged if i not in children),
        "n_intermediate": sum(1 for i in untagged if i in children),
        "images": images,
        "n_layers": len(list((layerdb / "sha256").iterdir())),
        "n_mounts": len(list((layerdb / "mounts").iterdir())),
        "n_overlay_dirs": len(overlay_dirs),
        "n_init_dirs": sum(1 for d in overlay_dirs if d.endswith("-init")),
        "n_links": len(list((root / "overlay2" / "l").iterdir())),
        "containers": containers,
        "states": sorted(c["state"] for c in containers.values()),
        "volumes": volumes,
        "other_files": {
            top: _files(root / top, sizes=False)
            for top in ("buildkit", "network", "plugins", "trust")
        },
        "volume_files": sorted(p.name for p in (root / "volumes").iterdir() if p.is_file()),
    }


def _assert_same(committed: Any, fresh: Any, where: str = "") -> None:
    """Assert equality, pointing at the first differing key for a readable failure."""
    if isinstance(committed, dict) and isinstance(fresh, dict):
        assert sorted(committed) == sorted(fresh), f"{where}: keys differ. {REGENERATE}"
        for key in committed:
            _assert_same(committed[key], fresh[key], f"{where}/{key}")
    else:
        assert committed == fresh, f"{where} differs from a fresh regeneration. {REGENERATE}"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    path = SAMPLE_DIR / "MANIFEST.json"
    assert path.is_file(), f"{path} is missing; {REGENERATE}"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_committed_sample_is_small_and_complete() -> None:
    assert COMMITTED_ROOT.is_dir(), f"{COMMITTED_ROOT} is missing; {REGENERATE}"
    assert (SAMPLE_DIR / "README.md").is_file()
    total = sum(
        os.lstat(os.path.join(r, n)).st_size for r, _d, ns in os.walk(COMMITTED_ROOT) for n in ns
    )
    assert total < 5_000_000
    assert {"image", "overlay2", "containers", "volumes"} <= {
        p.name for p in COMMITTED_ROOT.iterdir()
    }


def test_committed_files_match_manifest_tree(manifest: dict[str, Any]) -> None:
    """Every entry the manifest says is stored is in the checkout, with the same size or
    link target, and nothing else is (git ignore rules or a lossy checkout would show)."""
    stored = {e["path"]: e for e in manifest["tree"] if e["stored"] and e["type"] != "dir"}
    present: set[str] = set()
    for root, dirs, names in os.walk(COMMITTED_ROOT):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            present.add(Path(root, name).relative_to(COMMITTED_ROOT).as_posix())
    assert sorted(present - set(stored)) == [], "files in the checkout but not in MANIFEST"
    assert sorted(set(stored) - present) == [], "files in MANIFEST but not in the checkout"
    for rel, entry in stored.items():
        path = COMMITTED_ROOT / rel
        if entry["type"] == "symlink":
            assert path.is_symlink() and os.readlink(path) == entry["target"], rel
        else:
            assert not path.is_symlink() and path.stat().st_size == entry["size"], rel


def test_manifest_ids_exist_in_committed_root(manifest: dict[str, Any]) -> None:
    names = manifest["scenario"]
    img = COMMITTED_ROOT / "image" / "overlay2"
    for iid in [*names["images"].values(), *names["intermediate_images"].values()]:
        config = (img / "imagedb" / "content" / "sha256" / iid.removeprefix("sha256:")).read_bytes()
        assert "sha256:" + hashlib.sha256(config).hexdigest() == iid
        assert iid in manifest["api"]["images"]
    for cid in names["containers"].values():
        assert (COMMITTED_ROOT / "containers" / cid / "config.v2.json").is_file()
        assert cid in manifest["api"]["containers"]
    for vname in names["volumes"].values():
        assert (COMMITTED_ROOT / "volumes" / vname / "_data").is_dir()
    states = {
        n: manifest["api"]["containers"][cid]["State"]["Status"]
        for n, cid in names["containers"].items()
    }
    assert states == manifest["states"] == {"web": "running", "job": "exited", "fresh": "created"}
    df = manifest["api"]["df"]
    assert len(df["Images"]) == 6  # tagged + dangling; df leaves intermediates out
    assert sorted(c["State"] for c in df["Containers"]) == ["created", "exited", "running"]
    assert len(df["Volumes"]) == 3
    assert re.fullmatch(r"[0-9a-f]{64}", names["volumes"]["anon"])
    text = json.dumps(manifest)
    assert "/tmp/" not in text, "temporary paths must be replaced by placeholders"


def test_regenerated_structure_matches_committed(sample_snapshot: Path) -> None:
    _assert_same(describe(COMMITTED_ROOT), describe(sample_snapshot), "sample_data/root")


def test_regenerated_readme_matches_committed(sample_snapshot: Path) -> None:
    fresh = (sample_snapshot.parent / "README.md").read_text()
    committed = (SAMPLE_DIR / "README.md").read_text()
    assert committed == fresh, f"sample_data/README.md is stale; {REGENERATE}"


def test_regenerated_manifest_matches_committed(
    sample_snapshot: Path, manifest: dict[str, Any]
) -> None:
    fresh = json.loads((sample_snapshot.parent / "MANIFEST.json").read_text())
    assert fresh["lost_counts"] == manifest["lost_counts"]
    assert sorted(_normalize(e["path"]) for e in fresh["tree"]) == sorted(
        _normalize(e["path"]) for e in manifest["tree"]
    )
    for section in ("images", "intermediate_images", "containers", "volumes"):
        assert sorted(fresh["scenario"][section]) == sorted(manifest["scenario"][section])

    def sizes(m: dict[str, Any]) -> dict[str, Any]:
        api = m["api"]
        return {
            "df_layers": api["df"]["LayersSize"],
            "image_sizes": sorted(i["Size"] for i in api["images"].values()),
            "size_rw": sorted(c.get("SizeRw", 0) for c in api["containers"].values()),
            "size_root_fs": sorted(c.get("SizeRootFs", 0) for c in api["containers"].values()),
            "volumes": sorted(
                (v["UsageData"]["Size"], v["UsageData"]["RefCount"]) for v in api["df"]["Volumes"]
            ),
        }

    assert sizes(fresh) == sizes(manifest)
