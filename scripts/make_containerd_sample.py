#!/usr/bin/env python3
"""Regenerate ``sample_data/containerd/``: a Docker 29 data root with the containerd image store.

Usage (as root; needs Debian's ``containerd`` 1.6, nothing else)::

    python scripts/make_containerd_sample.py [--out sample_data/containerd/root]

It starts a private containerd (``tests/containerdlab.py``) whose root is
``<data-root>/containerd/daemon``, as dockerd's own containerd, imports small images made in
Python (OCI archives, fixed times: the same digests on every run), makes containers the way
Docker 29 does (a lease named by the container ID, the ``-init`` snapshot, the active
snapshot, ``containers/<id>/`` with ``Driver: overlayfs``), records containerd's own view
(``ctr snapshots usage``, ``ctr content ls``, ``ctr images ls``, leases), stops it (by its
PID), then exports the data root into ``--out`` keeping what git stores (see
``scripts/make_sample_data.py`` ``export_root``). ``MANIFEST.json`` and ``README.md`` are
written beside ``--out``.

The sample holds no hard link, whiteout or sparse file and no empty snapshot (git would not
keep them), so a checkout reads as the exported root does: committed snapshots' usage is
recorded in the snapshotter's metadata.db, blob sizes are the files'.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from containerdlab import (  # noqa: E402
    CONTAINERD,
    PrivateContainerd,
    attestation_for,
    docker_container,
    gc_now,
    index_of,
    lay_out_docker29_root,
    local_manifest,
    oci_archive,
    platform_image,
    record_truth,
    top_chain,
)
from make_sample_data import du_bytes, export_root, git_ignored  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "sample_data" / "containerd" / "root"
#: Not exported: runtime scripts and the daemon's scratch directory (empty in this sample).
EXCLUDED_TOP = ("runtimes", "tmp")
#: Container IDs of the sample (fixed, easy to read).
CONTAINERS = {"web": "5a" * 32, "job": "5b" * 32, "fresh": "5c" * 32}
BASE_FILES = {
    "etc/os-release": b'NAME="sample"\nID=sample\n',
    "bin/hello": b"#!/bin/sh\necho hello from the sample\n",
    "usr/share/doc/README": b"A tiny base layer made by scripts/make_containerd_sample.py\n" * 40,
}
APP_FILES = {"app/server.conf": b"listen 8080\n" * 200, "app/VERSION": b"1.0\n"}
MULTI_FILES = {"multi/data.txt": b"multi-platform image, amd64 half\n" * 300}
#: The README's table of contents, kept beside the code that makes the objects.
SCENARIO = """\
Images (`ctr -n moby images ls`; Docker shows them by their short names):

| name | what |
|---|---|
| `base:1` | one layer (etc/os-release, bin/hello, a README) |
| `app:1` | `base:1`'s layer (the same snapshot) + an app layer |
| `multi:1` | an index: linux/amd64 present, linux/arm64 listed but absent, an attestation |
| `moby-dangling@…` | an earlier build of `app`, untagged (Docker's dangling image in this mode) |

Containers (Docker 29's way: a lease named by the ID, `<id>-init`, the active snapshot):

| name | state | image | writable layer |
|---|---|---|---|
| `web` | exited | `app:1` | srv/index.html, srv/data.txt |
| `job` | exited | `base:1` | result.txt |
| `fresh` | created | `multi:1` | added.txt (as with docker cp) |

And one leak: lease `moby-leaked-pull` still holds an active snapshot (`leaked-extract`) no
image or container uses (an `unreferenced_snapshot` finding).
"""


def build(lab: PrivateContainerd, data_root: Path, work: Path) -> dict[str, Any]:
    """Fill the root through the running containerd; names → IDs."""
    lay_out_docker29_root(data_root)
    base = platform_image("amd64", [BASE_FILES])
    app = platform_image("amd64", [BASE_FILES, APP_FILES])
    old = platform_image("amd64", [BASE_FILES, {"app/VERSION": b"0.9\n"}])
    amd = platform_image("amd64", [BASE_FILES, MULTI_FILES])
    arm = platform_image("arm64", [{"multi/data.txt": b"arm64 half\n"}])
    att = attestation_for(amd)
    idx = index_of([amd, arm, att])
    refs = {
        "docker.io/library/base:1": base.manifest,
        "docker.io/library/app:1": app.manifest,
        "docker.io/library/app:0": old.manifest,
    }
    oci_archive(work / "images.tar", refs, [*base.blobs(), *app.blobs(), *old.blobs()])
    lab.import_tar(work / "images.tar")
    oci_archive(
        work / "multi.tar",
        {"docker.io/library/multi:1": idx},
        [*amd.blobs(), *arm.blobs(), *att.blobs()],
    )
    lab.import_tar(work / "multi.tar", "--all-platforms")
    lab.ctr("content", "rm", *(b.digest for b in arm.blobs()))
    dangling = f"moby-dangling@{old.manifest.digest}"
    lab.ctr("images", "tag", "docker.io/library/app:0", dangling)
    lab.ctr("images", "rm", "docker.io/library/app:0")
    images = {"base:1": base.manifest.digest, "app:1": app.manifest.digest, "multi:1": idx.digest}
    images["<dangling>"] = old.manifest.digest

    fills = {
        "web": ("app:1", {"srv/index.html": b"<h1>sample</h1>\n", "srv/data.txt": b"d\n" * 3000}),
        "job": ("base:1", {"result.txt": b"job done\n"}),
        "fresh": ("multi:1", {"added.txt": b"copied in\n"}),
    }
    for name, (image, fill) in fills.items():
        mf = local_manifest(lab.root, images[image])
        docker_container(
            lab,
            data_root,
            CONTAINERS[name],
            name,
            image_id=images[image],
            image_ref=image,
            manifest=mf,
            top_chain=top_chain(lab.root, mf["digest"]),
            fill=fill,
            state="created" if name == "fresh" else "exited",
            started=name != "fresh",
        )
    # A pull's lease that outlived it, holding an unpacked snapshot nothing uses.
    g = lab.grpc
    g.lease_create("moby-leaked-pull")
    chain = top_chain(lab.root, base.manifest.digest)
    upper = Path(g.prepare("leaked-extract", chain, lease="moby-leaked-pull")[0].upper)
    (upper / "partial.bin").write_bytes(b"x" * 20_000)
    gc_now(lab)
    return {"images": images, "containers": dict(CONTAINERS)}


def _version() -> str:
    res = subprocess.run([CONTAINERD, "--version"], capture_output=True, text=True, check=False)
    return res.stdout.strip()


def render_readme(manifest: dict[str, Any]) -> str:
    """README.md of the sample (what is in it, how it was made, what git does not keep)."""
    lost = manifest["lost_counts"]
    rows = "\n".join(f"| {k} | {v} |" for k, v in lost.items()) or "| (nothing) | 0 |"
    return f"""# sample_data/containerd: a Docker 29 data root, containerd image store

`root/` is a data root laid out as Docker 29 lays it out with its default containerd image
store: Docker's `containers/`, `volumes/`, `rootfs/overlayfs/`, and the image store in the
root of dockerd's own containerd, `root/containerd/daemon/` (`meta.db`, the content store, the
overlayfs snapshotter's `metadata.db` and `snapshots/<n>/fs`). It was made by a private
{manifest["containerd"]} (namespace `moby`), with `scripts/make_containerd_sample.py`;
regenerate it (as root) with:

    python scripts/make_containerd_sample.py --out sample_data/containerd/root

`MANIFEST.json` holds the names → IDs (`scenario`), containerd's own view recorded before it
stopped (`ctr`: `usage` = `ctr snapshots usage` in bytes, `snapshots` = `ctr snapshots ls`,
`content` and `blob_sizes` = `ctr content ls` with the exact file sizes, `images`, `leases`)
and a record of every entry of the exported tree (`tree`).

Try it: `docker-inspector report --root sample_data/containerd/root`.

## Scenario

{SCENARIO}
## What this copy does not keep

Git stores only regular files, symlinks and the directories holding them. Entries by what
was lost:

| lost | entries |
|---|---|
{rows}
"""


def write_sample(lab: PrivateContainerd, names: dict[str, Any], out: Path) -> dict[str, Any]:
    """Record containerd's view, stop it, export the data root; write MANIFEST and README."""
    truth = record_truth(lab)
    lab.stop()
    data_root = lab.root.parent.parent
    result = export_root(data_root, out, EXCLUDED_TOP)
    manifest = {
        "containerd": _version(),
        "scenario": names,
        "ctr": {
            "usage": truth.usage,
            "snapshots": truth.snapshots,
            "content": truth.content,
            "blob_sizes": truth.blob_sizes,
            "images": truth.images,
            "leases": truth.leases,
        },
        "lost_counts": result.lost_counts(),
        "tree": result.tree,
    }
    (out.parent / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    (out.parent / "README.md").write_text(render_readme(manifest))
    return manifest


def make(out: Path, work: Path) -> dict[str, Any]:
    """The whole sample into `out` (must not exist), using `work` as scratch space."""
    data_root = work / "root"
    lab = PrivateContainerd(work / "lab", data_root / "containerd" / "daemon")
    lab.start()
    try:
        names = build(lab, data_root, work)
        return write_sample(lab, names, out)
    finally:
        lab.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="exported data root")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    if out.exists():
        if not (out.parent / "MANIFEST.json").is_file():
            print(f"ERROR: {out} exists and is not a sample made by this script")
            return 1
        import shutil

        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ctrlab-sample-") as tmp:
        manifest = make(out, Path(tmp))
    files = [out / e["path"] for e in manifest["tree"] if e["stored"] and e["type"] != "dir"]
    ignored = git_ignored(files)
    size = du_bytes(out)
    print(f"containerd sample root: {out} ({time.monotonic() - t0:.1f} s)")
    print(f"  {len(files)} files stored, {size / 1e6:.2f} MB on disk")
    for section in ("images", "containers"):
        for name, ident in manifest["scenario"][section].items():
            print(f"  {section[:-1]:<9} {name:<12} {ident}")
    if ignored:
        print(f"ERROR: git would ignore {len(ignored)} exported files: {ignored[:5]}")
        return 1
    if size >= 2_000_000:
        print("ERROR: the containerd sample is over 2 MB")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
