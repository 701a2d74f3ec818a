"""A synthetic overlay2 data root with lots of metadata and no file data, for timing.

``make_root(path, layers=5000, images=500, containers=1000)`` writes what the readers of
docker-inspector accept, in Docker's own layout (shared/docker-format.md): layerdb entries
with valid ChainIDs computed from their DiffIDs, image configs whose ID is the sha256 of
their bytes, repositories.json tags, overlay2 layer dirs with link/lower/committed/work and
their l/ short links, and containers with a writable + -init layer, config.v2.json,
hostconfig.json and a small json-file log. Diff dirs are empty: this root measures the
metadata path (reading, analysing, the TUI's first screen), not tree walks.

Images share base chains: ``images // 5`` base chains of 5 layers each, every image adding
its own layers on top, so the layer total comes out exactly at ``layers`` when it divides
evenly (the defaults give 100 x 5 + 500 x 9 = 5,000).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
from dataclasses import dataclass

BASE_DEPTH = 5
CREATED = "2026-01-02T03:04:05.000000000Z"


def _hex(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def _link(name: str) -> str:
    # overlay2 short names: 26 characters of uppercase base32.
    return base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()[:26]


def _write(path: str, data: bytes | str) -> None:
    with open(path, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)


@dataclass
class Made:
    """What was generated."""

    root: str
    layers: int
    images: int
    containers: int
    storage_dirs: int


class _Layers:
    """Layer dirs and layerdb entries, created on first use of a chain."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.home = os.path.join(root, "overlay2")
        self.layerdb = os.path.join(root, "image", "overlay2", "layerdb", "sha256")
        self.cache_of: dict[str, str] = {}
        self.lower_of: dict[str, str] = {}

    def storage_dir(self, name: str, parent_cache: str | None, committed: bool) -> None:
        path = os.path.join(self.home, name)
        os.makedirs(os.path.join(path, "diff"))
        link = _link(name)
        _write(os.path.join(path, "link"), link)
        os.symlink(f"../{name}/diff", os.path.join(self.home, "l", link))
        lower = ""
        if parent_cache is not None:
            parent_lower = self.lower_of.get(parent_cache, "")
            lower = f"l/{_link(parent_cache)}" + (f":{parent_lower}" if parent_lower else "")
            _write(os.path.join(path, "lower"), lower)
            os.makedirs(os.path.join(path, "work", "work"))
        self.lower_of[name] = lower
        if committed:
            _write(os.path.join(path, "committed"), b"")

    def add(self, chain: str, diff: str, parent: str | None, size: int) -> None:
        if chain in self.cache_of:
            return
        cache = _hex("cache" + chain)
        self.cache_of[chain] = cache
        parent_cache = self.cache_of[parent] if parent else None
        if parent_cache is not None:
            # Docker writes `committed` into the parent when a child is created on it.
            _write(os.path.join(self.home, parent_cache, "committed"), b"")
        self.storage_dir(cache, parent_cache, committed=False)
        entry = os.path.join(self.layerdb, chain.removeprefix("sha256:"))
        os.makedirs(entry)
        _write(os.path.join(entry, "diff"), diff)
        _write(os.path.join(entry, "cache-id"), cache)
        _write(os.path.join(entry, "size"), str(size))
        if parent:
            _write(os.path.join(entry, "parent"), parent)
        _write(os.path.join(entry, "tar-split.json.gz"), gzip.compress(b"", mtime=0))


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI ChainIDs of a list of DiffIDs."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + _hex(f"{out[-1]} {d}"))
    return out


def make_root(path: str, layers: int = 5000, images: int = 500, containers: int = 1000) -> Made:
    """Write the synthetic root at `path` (which must not exist yet)."""
    os.makedirs(path)
    image_dir = os.path.join(path, "image", "overlay2")
    for d in (
        "layerdb/sha256",
        "layerdb/mounts",
        "layerdb/tmp",
        "imagedb/content/sha256",
        "imagedb/metadata/sha256",
    ):
        os.makedirs(os.path.join(image_dir, d))
    os.makedirs(os.path.join(path, "overlay2", "l"))
    os.makedirs(os.path.join(path, "containers"))
    os.makedirs(os.path.join(path, "volumes"))
    store = _Layers(path)
    bases = max(images // 5, 1)
    own = max((layers - bases * BASE_DEPTH) // max(images, 1), 1)
    base_diffs = [
        [f"sha256:{_hex(f'base{b}-{k}')}" for k in range(BASE_DEPTH)] for b in range(bases)
    ]
    repos: dict[str, dict[str, str]] = {}
    image_ids: list[str] = []
    tops: list[str] = []
    for i in range(images):
        diffs = base_diffs[i % bases] + [f"sha256:{_hex(f'img{i}-{k}')}" for k in range(own)]
        chain = chain_ids(diffs)
        for k, ch in enumerate(chain):
            store.add(ch, diffs[k], chain[k - 1] if k else None, 1000 + (k * 7919 + i) % 50_000)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": CREATED,
            "config": {"Cmd": ["sh"], "Labels": {"bench": str(i)}},
            "rootfs": {"type": "layers", "diff_ids": diffs},
            "history": [
                {"created": CREATED, "created_by": f"layer {k}"} for k in range(len(diffs))
            ],
        }
        raw = json.dumps(config, separators=(",", ":")).encode()
        iid = hashlib.sha256(raw).hexdigest()
        _write(os.path.join(image_dir, "imagedb", "content", "sha256", iid), raw)
        repos.setdefault(f"bench/img{i}", {})[f"bench/img{i}:latest"] = f"sha256:{iid}"
        image_ids.append(f"sha256:{iid}")
        tops.append(chain[-1])
    _write(os.path.join(image_dir, "repositories.json"), json.dumps({"Repositories": repos}))
    mounts = os.path.join(image_dir, "layerdb", "mounts")
    for c in range(containers):
        cid = _hex(f"container{c}")
        k = c % max(images, 1)
        top = tops[k]
        mount = _hex(f"mount{c}")
        init = mount + "-init"
        store.storage_dir(init, store.cache_of[top], committed=True)
        store.storage_dir(mount, init, committed=False)
        m = os.path.join(mounts, cid)
        os.makedirs(m)
        _write(os.path.join(m, "mount-id"), mount)
        _write(os.path.join(m, "init-id"), init)
        _write(os.path.join(m, "parent"), top)
        cdir = os.path.join(path, "containers", cid)
        os.makedirs(cdir)
        doc = {
            "ID": cid,
            "Name": f"/bench-{c}",
            "Image": image_ids[k],
            "Created": CREATED,
            "Driver": "overlay2",
            "Config": {"Image": f"bench/img{k}:latest", "Labels": {}},
            "State": {"Running": False, "StartedAt": CREATED, "ExitCode": 0, "Pid": 0},
            "MountPoints": {},
            "LogPath": os.path.join(cdir, f"{cid}-json.log"),
        }
        _write(os.path.join(cdir, "config.v2.json"), json.dumps(doc))
        _write(
            os.path.join(cdir, "hostconfig.json"),
            json.dumps({"LogConfig": {"Type": "json-file", "Config": {}}}),
        )
        _write(os.path.join(cdir, f"{cid}-json.log"), '{"log":"hi\\n","stream":"stdout"}\n')
    return Made(path, len(store.cache_of), images, containers, len(store.lower_of))


if __name__ == "__main__":
    import sys

    made = make_root(sys.argv[1])
    print(made)
