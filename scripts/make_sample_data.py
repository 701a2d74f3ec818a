#!/usr/bin/env python3
"""Regenerate ``sample_data/``: a real Docker data root, small enough for git.

Usage (as root; needs Debian's docker.io and busybox-static)::

    python scripts/make_sample_data.py [--out sample_data/root]

It starts a private dockerd (``tests/dockerlab.py``) in a temporary directory, builds the
scenario of ``tests/scenario.py::build_sample_scenario``, records the Engine API's view
(``df``, ``inspect`` of every image, container and volume), then, while the daemon is
still running (so ``web`` is running, ``job`` exited and ``fresh`` created), exports the
data root into ``--out`` without descending into live mounts and keeping only what git can
store. ``MANIFEST.json`` and ``README.md`` are written beside ``--out``. Finally the daemon
is stopped (by its PID) and a summary is printed.

The test suite imports this file (``write_sample``, ``export_root``, ``normalize``) and
regenerates the sample into a temporary directory to compare it with the committed one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from dockerlab import PrivateDockerd, iter_tree  # noqa: E402
from scenario import SAMPLE_STATES, Scenario, build_sample_scenario  # noqa: E402

#: Top-level entries of the data root that are not exported: containerd's own state (its
#: bolt db and runtime directories, next to sockets in the exec root), runtime scripts and
#: the daemon's scratch directory.
EXCLUDED_TOP = ("containerd", "runtimes", "tmp")
#: Placeholders written into MANIFEST.json instead of the temporary paths of the run.
DATA_ROOT_PLACEHOLDER = "<data-root>"
EXEC_ROOT_PLACEHOLDER = "<exec-root>"
DEFAULT_OUT = REPO_ROOT / "sample_data" / "root"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_LINK = re.compile(r"(?<=overlay2/l/)[A-Z2-7]{26}")
_BKID = re.compile(r"(?<![0-9a-z])[0-9a-z]{25}(?![0-9a-z])")
# overlayfs (Linux 5.8+) keeps a shared whiteout inode in work/work, named "#<inode hex>".
_WORK_WHITEOUT = re.compile(r"(?<=/work/work/)#[0-9a-f]+")


def normalize(rel: str) -> str:
    """Replace random IDs in a data-root-relative path by placeholders: 64-hex IDs by
    ``<id>``, overlay2 short links by ``<link>``, 25-character BuildKit IDs by ``<bkid>``,
    overlayfs's shared whiteout ``work/work/#<hex>`` by ``#<ino>``."""
    rel = _WORK_WHITEOUT.sub("#<ino>", rel)
    rel = _HEX64.sub("<id>", rel)
    rel = _LINK.sub("<link>", rel)
    return _BKID.sub("<bkid>", rel)


def _type_name(mode: int) -> str:
    for test, name in (
        (stat.S_ISREG, "file"),
        (stat.S_ISDIR, "dir"),
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISCHR, "char"),
        (stat.S_ISBLK, "block"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "unknown"


@dataclass
class ExportResult:
    """The outcome of :func:`export_root`: one record per entry of the source tree."""

    tree: list[dict[str, Any]] = field(default_factory=list)

    def lost(self) -> list[dict[str, Any]]:
        """Entries git cannot reproduce exactly (not stored, or stored with a loss)."""
        return [e for e in self.tree if e["lost"]]

    def lost_counts(self) -> dict[str, int]:
        """How many entries lost what, by reason."""
        counts: Counter[str] = Counter()
        for e in self.tree:
            counts.update(e["lost"])
        return dict(sorted(counts.items()))

    @property
    def stored_files(self) -> int:
        """Regular files and symlinks written to the export."""
        return sum(1 for e in self.tree if e["stored"] and e["type"] != "dir")


def export_root(src: Path, dst: Path, exclude: tuple[str, ...] = EXCLUDED_TOP) -> ExportResult:
    """Copy the data root ``src`` into ``dst`` (must not exist), keeping what git stores.

    Regular files are copied densely with mode 0755 (if owner-executable) or 0644, symlinks
    as symlinks. Not stored: empty directories, mount points (not descended into), device
    nodes (overlay whiteouts, ``volumes/backingFsBlockDev``), FIFOs, sockets. Losses that
    keep the entry (hard-link relations, holes, xattrs, other modes) are recorded, too.
    The top-level names in `exclude` are skipped (by default ``containerd/``, ``runtimes/``
    and ``tmp/``).
    """
    result = ExportResult()
    dst.mkdir(parents=True, exist_ok=False)
    dirs: dict[str, dict[str, Any]] = {}
    for entry in iter_tree(src, exclude):
        st = entry.st
        kind = _type_name(st.st_mode)
        mode = stat.S_IMODE(st.st_mode)
        rec: dict[str, Any] = {
            "path": entry.rel,
            "type": kind,
            "mode": f"{mode:04o}",
            "size": st.st_size if kind in ("file", "symlink") else 0,
            "stored": False,
            "lost": [],
        }
        try:
            xattrs = os.listxattr(entry.path, follow_symlinks=False)
        except OSError:
            xattrs = []
        if xattrs:
            rec["xattrs"] = sorted(xattrs)
            rec["lost"].append("xattrs")
        target = dst / entry.rel
        if kind == "dir":
            dirs[entry.rel] = rec
            if entry.mount:
                rec["lost"].append("mount point (live mount, not descended)")
            else:
                target.mkdir()
            result.tree.append(rec)
            continue
        if kind == "file":
            try:
                shutil.copyfile(entry.path, target)
            except FileNotFoundError:
                continue  # vanished under the live daemon
            os.chmod(target, 0o755 if mode & stat.S_IXUSR else 0o644)
            rec["stored"] = True
            if mode not in (0o644, 0o755):
                rec["lost"].append("mode")
            if st.st_nlink > 1:
                rec["nlink"] = st.st_nlink
                rec["lost"].append("hard link")
            if st.st_blocks * 512 < st.st_size:
                rec["blocks"] = st.st_blocks
                # bbolt grows its file with ftruncate: its holes are an allocation accident
                # (they vary from run to run), not content. Only other files count as sparse.
                if not _is_bolt_db(entry.rel):
                    rec["lost"].append("sparse")
        elif kind == "symlink":
            rec["target"] = os.readlink(entry.path)
            os.symlink(rec["target"], target)
            rec["stored"] = True
        else:
            if kind in ("char", "block"):
                rec["rdev"] = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
            if st.st_nlink > 1:
                rec["nlink"] = st.st_nlink
            rec["lost"].append(kind)
        result.tree.append(rec)
        if rec["stored"]:
            # Mark every ancestor directory as having stored content.
            parent = entry.rel.rpartition("/")[0]
            while parent and not dirs[parent]["stored"]:
                dirs[parent]["stored"] = True
                parent = parent.rpartition("/")[0]
    for rec in dirs.values():
        if not rec["stored"]:
            if not rec["lost"] or rec["lost"] == ["xattrs"]:
                rec["lost"].append("empty directory")
        elif mode_lost(rec["mode"]):
            rec["lost"].append("mode")
    # Remove the directories git will not keep, deepest first.
    for rel in sorted(dirs, key=lambda r: r.count("/"), reverse=True):
        if not dirs[rel]["stored"]:
            path = dst / rel
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return result


def _is_bolt_db(rel: str) -> bool:
    """The daemon's own bbolt files (``network/files/local-kv.db``, ``volumes/metadata.db``,
    ``buildkit/*.db``), not ``.db`` files inside layers or volume data."""
    return (
        rel.endswith(".db") and not rel.startswith(("overlay2/", "vfs/")) and "/_data/" not in rel
    )


def mode_lost(mode: str) -> bool:
    """Git records no directory mode; a checkout makes directories 0755 (umask 022)."""
    return mode != "0755"


def _replace_paths(obj: Any, lab: PrivateDockerd) -> Any:
    """Replace the run's temporary paths by placeholders, in any JSON-able value."""
    text = json.dumps(obj)
    text = text.replace(str(lab.data_root), DATA_ROOT_PLACEHOLDER)
    if lab.exec_root is not None:
        text = text.replace(str(lab.exec_root), EXEC_ROOT_PLACEHOLDER)
    return json.loads(text)


def capture_truth(lab: PrivateDockerd) -> dict[str, Any]:
    """The Engine API's view of the daemon, taken while it runs: ``df``, ``version``, and
    the inspect output of every image (``all=True``), container (with sizes) and volume."""
    api = lab.api
    info = api.info()
    images = {
        img["Id"]: api.inspect_image(img["Id"])
        for img in sorted(api.images(all=True), key=lambda i: i["Id"])
    }
    containers = {
        c["Id"]: lab.inspect_container_sized(c["Id"])
        for c in sorted(api.containers(all=True), key=lambda c: c["Id"])
    }
    volumes = {
        v["Name"]: api.inspect_volume(v["Name"])
        for v in sorted(api.volumes().get("Volumes") or [], key=lambda v: v["Name"])
    }
    truth = {
        "version": api.version(),
        "info": {
            k: info.get(k)
            for k in ("ServerVersion", "Driver", "DriverStatus", "DockerRootDir", "KernelVersion")
        },
        "df": api.df(),
        "images": images,
        "containers": containers,
        "volumes": volumes,
    }
    result: dict[str, Any] = _replace_paths(truth, lab)
    return result


def overlay_owners(data_root: Path, names: Scenario) -> dict[str, str]:
    """Label overlay2 directories by what uses them: ``image app:2 layer 3/3``,
    ``container web (rw)``, ``container web (init)``. Unknown directories are left out."""
    layerdb = data_root / "image" / "overlay2" / "layerdb"
    imagedb = data_root / "image" / "overlay2" / "imagedb" / "content" / "sha256"
    owners: dict[str, str] = {}
    for tag, image_id in names.get("images", {}).items():
        config = json.loads((imagedb / image_id.removeprefix("sha256:")).read_bytes())
        diff_ids = config["rootfs"].get("diff_ids") or []
        chain = ""
        for i, diff_id in enumerate(diff_ids, 1):
            chain = (
                diff_id
                if not chain
                else "sha256:" + hashlib.sha256(f"{chain} {diff_id}".encode()).hexdigest()
            )
            cache_file = layerdb / "sha256" / chain.removeprefix("sha256:") / "cache-id"
            cache_id = cache_file.read_text().strip()
            owners.setdefault(cache_id, f"image {tag} layer {i}/{len(diff_ids)}")
    for cname, cid in names.get("containers", {}).items():
        mount_dir = layerdb / "mounts" / cid
        mount_id = (mount_dir / "mount-id").read_text().strip()
        owners[mount_id] = f"container {cname} (rw)"
        init = mount_dir / "init-id"
        if init.exists():
            owners[init.read_text().strip()] = f"container {cname} (init)"
    return owners


def describe_path(rel: str, owners: dict[str, str], names: Scenario) -> str:
    """A stable, human-readable form of ``rel``: IDs normalized, owner named after it."""
    parts = rel.split("/")
    label = ""
    if len(parts) > 1 and parts[0] == "overlay2" and parts[1] in owners:
        label = f" ({owners[parts[1]]})"
    elif len(parts) > 1 and parts[0] == "containers":
        for cname, cid in names.get("containers", {}).items():
            if parts[1] == cid:
                label = f" (container {cname})"
    elif len(parts) > 1 and parts[0] == "volumes" and parts[1] == names["volumes"].get("anon"):
        label = " (anonymous volume)"
    return f"`{normalize(rel)}`{label}"


def render_readme(
    manifest: dict[str, Any],
    result: ExportResult,
    owners: dict[str, str],
    history_lengths: dict[str, int],
) -> str:
    """README.md for ``sample_data/``: the scenario, and precisely what git does not keep.

    Deterministic for a given scenario (no IDs, times or temporary paths), so the tests can
    compare a regenerated README with the committed one.
    """
    names: Scenario = manifest["scenario"]
    truth = manifest["api"]
    lines: list[str] = []
    add = lines.append
    major_minor = ".".join(str(truth["info"]["ServerVersion"]).split(".")[:2])
    add("# sample_data: a real Docker data root")
    add("")
    add(
        "`root/` is a copy of the data root (`/var/lib/docker`) of a private Debian docker.io "
        f"{major_minor} daemon (exact version in `MANIFEST.json`; storage driver "
        f"`{truth['info']['Driver']}`, graphdriver image store), taken **while the daemon was "
        "running**. It was produced by `scripts/make_sample_data.py` from the scenario in "
        "`tests/scenario.py` (`build_sample_scenario`); the tests regenerate it and compare "
        "the structure with this copy. Regenerate (as root) with:"
    )
    add("")
    add("    python scripts/make_sample_data.py --out sample_data/root")
    add("")
    add(
        "`MANIFEST.json` holds the scenario's names → IDs (`scenario`), the Engine API's view "
        "captured before the daemon stopped (`api`: `df`, `version`, `info`, and the inspect "
        "output of every image, container (with `SizeRw`/`SizeRootFs`) and volume), and a "
        "record of every entry of the original tree (`tree`: path, type, mode, size, "
        "whether it is stored here and what was lost). Paths of the temporary run are "
        f"replaced by `{DATA_ROOT_PLACEHOLDER}` and `{EXEC_ROOT_PLACEHOLDER}`."
    )
    add("")
    add("## Scenario")
    add("")
    add("Images (`docker images -a`):")
    add("")
    add("| name | layers | history | notes |")
    add("|---|---|---|---|")
    notes = {
        "busybox:base": "`docker import` of bin/busybox + applet symlinks + etc/{passwd,group,"
        "base-release}",
        "app:1": "classic builder: FROM busybox:base, RUN (files under /app), ENV, CMD",
        "app:2": "FROM app:1, RUN that adds files and deletes /app/conf/app.conf (whiteout "
        "in an image layer)",
        "tool:latest": "FROM busybox:base, RUN writing 64 KiB to /opt/tool/data.bin",
        "dangle:latest": "second build of this tag",
        "<dangling>": "first build of `dangle:latest`, now untagged and without children",
        "app:1~1": "untagged intermediate image of app:1's build: app:1's parent (after ENV)",
        "app:1~2": "untagged intermediate image of app:1's build: app:1~1's parent (after RUN)",
    }
    all_images = {**names["images"], **names.get("intermediate_images", {})}
    for tag, image_id in all_images.items():
        inspect = truth["images"][image_id]
        n_layers = len(inspect["RootFS"].get("Layers") or [])
        n_history = history_lengths.get(image_id, 0)
        add(f"| `{tag}` | {n_layers} | {n_history} | {notes.get(tag, '')} |")
    add("")
    add("Containers (all with `--network none`):")
    add("")
    add("| name | state | image | notes |")
    add("|---|---|---|---|")
    cnotes = {
        "web": "`sleep` forever, `--stop-timeout 1`, volume `appdata` at /data. Its RW layer "
        "has /srv/a and /srv/b (one inode, hard links), /srv/link (symlink → /srv/a), "
        "/srv/sparse (`truncate -s 1M`), and a whiteout for the base file /etc/base-release; "
        "10 KiB written to /data/blob.bin",
        "job": "ran `sh -c` printing 50 lines to its json-file log, wrote /job-result.txt "
        "and /anon/note.txt (anonymous volume at /anon); exit code 0",
        "fresh": "never started; /app/added.txt put in with `docker cp`",
    }
    image_tags = {v: k for k, v in names["images"].items()}
    for cname, cid in names["containers"].items():
        c = truth["containers"][cid]
        img = image_tags.get(c["Image"], c["Config"]["Image"])
        add(f"| `{cname}` | {c['State']['Status']} | `{img}` | {cnotes.get(cname, '')} |")
    add("")
    add("Volumes (local driver):")
    add("")
    add("| name | used by | content |")
    add("|---|---|---|")
    add("| `appdata` | web (running) | blob.bin, 10 KiB |")
    add("| 64 hex characters (anonymous) | job (exited) | note.txt |")
    add("| `unused` | nothing (filled by a `--rm` container) | readme.txt |")
    add("")
    add("## What this copy does not keep")
    add("")
    add(
        "Not exported at all: the top-level "
        + ", ".join(f"`{d}/`" for d in EXCLUDED_TOP)
        + " (containerd's state directory, runtime scripts, the daemon's scratch directory)."
    )
    add("")
    add(
        "Git stores only regular files (as 0644 or 0755, content only), symlinks and the "
        "directories that contain them. Everything else in the original tree is listed in "
        "`MANIFEST.json` → `tree` with `stored: false` or a non-empty `lost`. In numbers "
        "(entries by what was lost):"
    )
    add("")
    add("| lost | entries |")
    add("|---|---|")
    for reason, count in result.lost_counts().items():
        add(f"| {reason} | {count} |")
    add("")
    add(
        "The daemon's bbolt files (`*.db`) are often sparse on disk (bbolt grows them with "
        "ftruncate; the holes differ from run to run); they are stored dense with the same "
        "content and not counted as `sparse` above (`tree` still records their `blocks`)."
    )
    add("")
    add(
        "Also lost for every entry: ownership (all root:root in the original), timestamps "
        "(git checks out with the current time), and directory modes (the original's are in "
        "`tree`; data-root directories are 0700/0710/0701 and `overlay2/*/work/work` is 0000)."
    )
    add("")
    add("Entries that are **not stored** (IDs normalized, owners named):")
    add("")
    grouped: Counter[str] = Counter()
    for rec in result.tree:
        if not rec["stored"]:
            reason = ", ".join(rec["lost"])
            grouped[f"{describe_path(rec['path'], owners, names)} — {reason}"] += 1
    for text, count in sorted(grouped.items()):
        add(f"- {text}" + (f" ×{count}" if count > 1 else ""))
    add("")
    add(
        "Entries stored **with a loss** (directories are listed only for their xattrs: "
        "every directory loses its mode):"
    )
    add("")
    grouped = Counter()
    for rec in result.tree:
        if not rec["stored"]:
            continue
        lost = [x for x in rec["lost"] if rec["type"] != "dir" or x != "mode"]
        if not lost:
            continue
        extra = ""
        if "sparse" in lost:
            extra = f" (apparent size {rec['size']}, {rec['blocks']} blocks)"
        if "hard link" in lost:
            extra += f" (nlink {rec['nlink']}, stored as independent copies)"
        if "mode" in lost:
            extra += f" (mode {rec['mode']})"
        if "xattrs" in lost:
            extra += f" ({', '.join(rec['xattrs'])})"
        where = describe_path(rec["path"], owners, names)
        grouped[f"{where} — {', '.join(lost)}{extra}"] += 1
    for text, count in sorted(grouped.items()):
        add(f"- {text}" + (f" ×{count}" if count > 1 else ""))
    add("")
    add(
        "Consequences for readers of this copy: whiteouts are missing, so a deleted file "
        "looks present in the lower layer only (`tar-split.json.gz` still lists the "
        "`.wh.` entries); the hard-link pair counts twice; the sparse file is dense; "
        "empty layer directories (`diff/` of the init layers' `dev/pts`, `proc`, `sys`, "
        "`work/`) and `merged/` of the running container are absent. The Engine API's "
        "sizes in `MANIFEST.json` describe the original tree."
    )
    add("")
    add(
        "The files themselves are not rewritten: absolute paths inside them (`LogPath`, "
        "`HostnamePath`, `HostsPath`, `ResolvConfPath` in `config.v2.json`, volume "
        "`Mountpoint`s) name the temporary data root of the run "
        "(`/tmp/dlab-sample-<random>/root`) and `SandboxKey` its exec root "
        "(`/tmp/dlab-<random>`), just as in any data root copied elsewhere: resolve them "
        "relative to the root being read."
    )
    add("")
    return "\n".join(lines)


def write_sample(lab: PrivateDockerd, names: Scenario, out_root: Path) -> dict[str, Any]:
    """Capture the API truth, export ``lab``'s data root into ``out_root`` (replacing it)
    and write ``MANIFEST.json`` and ``README.md`` beside it. The daemon must be running
    with the sample scenario built. Returns the manifest."""
    for cname, want in SAMPLE_STATES.items():
        got = lab.api.inspect_container(names["containers"][cname])["State"]["Status"]
        if got != want:
            raise RuntimeError(f"container {cname} is {got}, expected {want}")
    truth = capture_truth(lab)
    sample_dir = out_root.parent
    sample_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_root.name}-new-", dir=sample_dir))
    staging.rmdir()
    try:
        result = export_root(lab.data_root, staging)
        if out_root.exists():
            _check_replaceable(out_root)
            shutil.rmtree(out_root)
        staging.rename(out_root)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    imagedb = out_root / "image" / "overlay2" / "imagedb" / "content" / "sha256"
    history_lengths = {
        "sha256:" + p.name: len(json.loads(p.read_bytes()).get("history") or [])
        for p in sorted(imagedb.iterdir())
    }
    manifest: dict[str, Any] = {
        "generated_by": "scripts/make_sample_data.py",
        "scenario": names,
        "states": dict(SAMPLE_STATES),
        "excluded": list(EXCLUDED_TOP),
        "placeholders": {"data_root": DATA_ROOT_PLACEHOLDER, "exec_root": EXEC_ROOT_PLACEHOLDER},
        "api": truth,
        "lost_counts": result.lost_counts(),
        "tree": result.tree,
    }
    owners = overlay_owners(out_root, names)
    readme = render_readme(manifest, result, owners, history_lengths)
    (sample_dir / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (sample_dir / "README.md").write_text(readme)
    return manifest


def _check_replaceable(out: Path) -> None:
    """Refuse to delete ``out`` unless it looks like a previous export."""
    real = out.resolve()
    if real == Path("/") or real == REPO_ROOT or str(real).startswith("/var/lib/docker"):
        raise SystemExit(f"refusing to replace {real}")
    if any(out.iterdir()) and not (out / "image").is_dir():
        raise SystemExit(f"{out} exists and does not look like an exported data root")


def git_ignored(paths: list[Path]) -> list[str]:
    """Paths (inside this repository) that the repository's ignore rules would drop."""
    inside = [p for p in paths if p.resolve().is_relative_to(REPO_ROOT)]
    if not inside or not (REPO_ROOT / ".git").exists():
        return []
    res = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "check-ignore", "--no-index", "--stdin"],
        input="\n".join(str(p.resolve().relative_to(REPO_ROOT)) for p in inside),
        capture_output=True,
        text=True,
        check=False,
    )
    return res.stdout.split()


def du_bytes(path: Path) -> int:
    """Disk usage of ``path`` in bytes (``du -sb``-like, but of allocated blocks)."""
    total = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def main(argv: list[str] | None = None) -> int:
    """Entry point: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="exported data root")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    if out.exists():
        _check_replaceable(out)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dlab-sample-") as tmp:
        lab = PrivateDockerd(Path(tmp))
        try:
            lab.start()
            t_start = time.monotonic() - t0
            names = build_sample_scenario(lab)
            t_scenario = time.monotonic() - t0 - t_start
            manifest = write_sample(lab, names, out)
        finally:
            lab.stop()
    elapsed = time.monotonic() - t0
    files = [out / e["path"] for e in manifest["tree"] if e["stored"] and e["type"] != "dir"]
    ignored = git_ignored(files)
    size = du_bytes(out)
    print(f"sample data root: {out}")
    print(f"  daemon start {t_start:.1f} s, scenario {t_scenario:.1f} s, total {elapsed:.1f} s")
    print(f"  {len(files)} files/symlinks stored, {size / 1e6:.2f} MB on disk")
    for section in ("images", "intermediate_images", "containers", "volumes"):
        for name, ident in manifest["scenario"].get(section, {}).items():
            print(f"  {section[:-1]:<19} {name:<14} {ident}")
    print("  lost (not stored or stored with a loss):")
    for reason, count in manifest["lost_counts"].items():
        print(f"    {reason}: {count}")
    if ignored:
        print(f"ERROR: git would ignore {len(ignored)} exported files: {ignored[:5]}")
        return 1
    if size >= 5_000_000:
        print("ERROR: the sample data root is over 5 MB")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
