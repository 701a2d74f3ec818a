"""A private containerd 1.6 for tests, and data roots laid out as Docker 29 lays them out.

:class:`PrivateContainerd` starts Debian's ``/usr/bin/containerd`` from a config file of its
own (``version = 2``, its own ``root`` and ``state``, its own gRPC and ttrpc sockets, empty
debug and metrics addresses, CRI disabled), in a new session (``setsid``), and stops it by
its PID. Clients: ``ctr -a <sock> -n moby`` (:meth:`PrivateContainerd.ctr`) and a small gRPC
client (:class:`Grpc`) for what ``ctr`` cannot do the way dockerd does it: snapshots made
under a lease (the ``containerd-lease`` header), without the ``containerd.io/gc.root`` label
``ctr snapshots prepare`` adds.

:func:`docker_container` makes a container the way Docker 29's containerd image store does
(moby ``daemon/containerd/image_snapshot.go``, ``createLayer`` / ``prepareInitLayer``): a
lease whose ID is the container ID; under it, the snapshot ``<id>-init-key`` prepared on the
image's top ChainID, the init files written, committed as ``<id>-init``; then the active
snapshot ``<id>`` on top of ``<id>-init``. Beside it, Docker's ``containers/<id>/`` files
with ``Driver: overlayfs`` and ``ImageManifest`` (moby ``daemon/create.go``).

:func:`oci_archive` writes OCI image-layout tars in Python (gzip layers, an index with
several platforms and a BuildKit attestation manifest), for ``ctr images import``.

Only the standard library and ``grpcio`` (raw bytes: the few protobuf messages are encoded
here by hand) are used.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
NAMESPACE = "moby"
SNAPSHOTTER = "overlayfs"
#: Fixed times so that generated blobs (and so digests) are the same on every run.
MTIME = 1_700_000_000
CREATED = "2023-11-14T22:13:20Z"


class ContainerdLabError(RuntimeError):
    """The private containerd could not be started, or a client call failed."""


# ----------------------------------------------------------------------------- protobuf


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _bytes_field(num: int, data: bytes) -> bytes:
    return _varint((num << 3) | 2) + _varint(len(data)) + data


def _str(num: int, s: str) -> bytes:
    return _bytes_field(num, s.encode()) if s else b""


def _map(num: int, d: Mapping[str, str] | None) -> bytes:
    return b"".join(_bytes_field(num, _str(1, k) + _str(2, v)) for k, v in (d or {}).items())


def _decode(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of one protobuf message (varints and length-delimited)."""
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = _read_varint(data, i)
            out.append((num, val))
        elif wire == 2:
            n, i = _read_varint(data, i)
            out.append((num, data[i : i + n]))
            i += n
        elif wire == 1:
            out.append((num, int.from_bytes(data[i : i + 8], "little")))
            i += 8
        elif wire == 5:
            out.append((num, int.from_bytes(data[i : i + 4], "little")))
            i += 4
        else:
            raise ContainerdLabError(f"unexpected protobuf wire type {wire}")
    return out


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


@dataclass(frozen=True)
class MountSpec:
    """A mount a snapshotter returned (containerd.types.Mount)."""

    type: str
    source: str
    options: tuple[str, ...]

    @property
    def upper(self) -> str:
        """The snapshot's own ``fs`` dir: overlay's upperdir, or a bind mount's source."""
        for o in self.options:
            if o.startswith("upperdir="):
                return o.removeprefix("upperdir=")
        return self.source


def _mounts(resp: bytes) -> list[MountSpec]:
    mounts = []
    for num, val in _decode(resp):
        if num != 1 or not isinstance(val, bytes):
            continue
        fields = _decode(val)
        typ = next((v for n, v in fields if n == 1 and isinstance(v, bytes)), b"")
        src = next((v for n, v in fields if n == 2 and isinstance(v, bytes)), b"")
        opts = tuple(v.decode() for n, v in fields if n == 4 and isinstance(v, bytes))
        mounts.append(MountSpec(typ.decode(), src.decode(), opts))
    return mounts


class Grpc:
    """The few containerd gRPC calls the tests need, with raw protobuf bytes."""

    def __init__(self, sock: Path, namespace: str = NAMESPACE) -> None:
        import grpc  # a test dependency only

        self._grpc = grpc
        self.channel = grpc.insecure_channel(f"unix://{sock}")
        self.namespace = namespace

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def call(self, method: str, request: bytes, lease: str | None = None) -> bytes:
        """Call ``/containerd.services.<method>`` in the namespace (and lease) given."""
        fn = self.channel.unary_unary(
            f"/containerd.services.{method}",
            request_serializer=None,
            response_deserializer=None,
        )
        md = [("containerd-namespace", self.namespace)]
        if lease:
            md.append(("containerd-lease", lease))
        try:
            resp: bytes = fn(request, metadata=md, timeout=60)
        except self._grpc.RpcError as e:
            raise ContainerdLabError(f"{method}: {e}") from e
        return resp

    def lease_create(self, lease_id: str, labels: Mapping[str, str] | None = None) -> None:
        """Leases/Create with this ID (no expiry label unless given, as dockerd does)."""
        self.call("leases.v1.Leases/Create", _str(1, lease_id) + _map(3, labels))

    def lease_add(self, lease_id: str, resource: str, rtype: str) -> None:
        """Leases/AddResource (rtype ``content`` or ``snapshots/<snapshotter>``)."""
        res = _bytes_field(2, _str(1, resource) + _str(2, rtype))
        self.call("leases.v1.Leases/AddResource", _str(1, lease_id) + res)

    def prepare(
        self,
        key: str,
        parent: str = "",
        *,
        lease: str | None = None,
        labels: Mapping[str, str] | None = None,
        view: bool = False,
    ) -> list[MountSpec]:
        """Snapshots/Prepare (or View): the mounts of the new snapshot."""
        req = _str(1, SNAPSHOTTER) + _str(2, key) + _str(3, parent) + _map(4, labels)
        name = "View" if view else "Prepare"
        return _mounts(self.call(f"snapshots.v1.Snapshots/{name}", req, lease))

    def commit(
        self,
        name: str,
        key: str,
        *,
        lease: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Snapshots/Commit."""
        req = _str(1, SNAPSHOTTER) + _str(2, name) + _str(3, key) + _map(4, labels)
        self.call("snapshots.v1.Snapshots/Commit", req, lease)

    def remove(self, key: str) -> None:
        """Snapshots/Remove."""
        self.call("snapshots.v1.Snapshots/Remove", _str(1, SNAPSHOTTER) + _str(2, key))

    def lease_delete(self, lease_id: str) -> None:
        """Leases/Delete (not synchronous: the collection runs when containerd schedules it)."""
        self.call("leases.v1.Leases/Delete", _str(1, lease_id))

    def mounts(self, key: str) -> list[MountSpec]:
        """Snapshots/Mounts: how to mount an existing snapshot (its ``fs`` dir is the upper)."""
        req = _str(1, SNAPSHOTTER) + _str(2, key)
        return _mounts(self.call("snapshots.v1.Snapshots/Mounts", req))

    def statuses(self) -> dict[str, tuple[int, int]]:
        """Content/ListStatuses: ref → (bytes received, bytes expected) of every active ingest."""
        out: dict[str, tuple[int, int]] = {}
        for num, st in _decode(self.call("content.v1.Content/ListStatuses", b"")):
            if num != 1 or not isinstance(st, bytes):
                continue
            fields = dict(_decode(st))
            ref = fields.get(3, b"")
            offset, total = fields.get(4, 0), fields.get(5, 0)
            if isinstance(ref, bytes) and isinstance(offset, int) and isinstance(total, int):
                out[ref.decode()] = (offset, total)
        return out

    def usage(self, key: str) -> tuple[int, int]:
        """Snapshots/Usage: (size, inodes)."""
        resp = self.call("snapshots.v1.Snapshots/Usage", _str(1, SNAPSHOTTER) + _str(2, key))
        got = {n: v for n, v in _decode(resp) if isinstance(v, int)}
        return got.get(1, 0), got.get(2, 0)

    def image_targets(self) -> dict[str, tuple[str, str, int]]:
        """Images/List: name → (target media type, digest, size) as the image record says."""
        out: dict[str, tuple[str, str, int]] = {}
        for num, img in _decode(self.call("images.v1.Images/List", b"")):
            if num != 1 or not isinstance(img, bytes):
                continue
            fields = _decode(img)
            name = next((v for n, v in fields if n == 1 and isinstance(v, bytes)), b"")
            target = next((v for n, v in fields if n == 3 and isinstance(v, bytes)), b"")
            t = _decode(target)
            mt = next((v for n, v in t if n == 1 and isinstance(v, bytes)), b"")
            dg = next((v for n, v in t if n == 2 and isinstance(v, bytes)), b"")
            size = next((v for n, v in t if n == 3 and isinstance(v, int)), 0)
            out[name.decode()] = (mt.decode(), dg.decode(), size)
        return out

    def container_create(
        self, cid: str, image: str, labels: Mapping[str, str] | None = None
    ) -> None:
        """Containers/Create the way dockerd does at start: no snapshot key (moby)."""
        runtime = _str(1, "io.containerd.runc.v2")
        spec = _str(1, "types.containerd.io/opencontainers/runtime-spec/1/Spec") + _bytes_field(
            2, b'{"ociVersion":"1.1.0"}'
        )
        ctr = (
            _str(1, cid)
            + _map(2, labels)
            + _str(3, image)
            + _bytes_field(4, runtime)
            + _bytes_field(5, spec)
            + _str(6, SNAPSHOTTER)
        )
        self.call("containers.v1.Containers/Create", _bytes_field(1, ctr))


# ----------------------------------------------------------------------------- the daemon


#: A GC scheduler that never collects by itself (not at start, not after removals): only a
#: synchronous lease removal (:func:`gc_now`) runs it. A root left like this is one whose
#: containerd stopped between a removal and its next collection.
NO_AUTO_GC = (
    '[plugins."io.containerd.gc.v1.scheduler"]\n'
    "  deletion_threshold = 1000000\n"
    "  mutation_threshold = 1000000\n"
    '  startup_delay = "100h"\n'
)


class PrivateContainerd:
    """A containerd with its own config, root, state and sockets, for tests.

    ``root`` is containerd's root (Docker 29: ``<data-root>/containerd/daemon``); the state
    dir and sockets live in a short directory under /tmp (socket paths must stay < 108 bytes).
    """

    def __init__(
        self, base_dir: Path, root: Path, *, start_timeout: float = 30.0, auto_gc: bool = True
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.root = Path(root).resolve()
        self.start_timeout = start_timeout
        self.auto_gc = auto_gc
        self.config = self.base_dir / "containerd.toml"
        self.log_path = self.base_dir / "containerd.log"
        self.state: Path | None = None
        self.pid = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._grpc: Grpc | None = None

    @property
    def sock(self) -> Path:
        """The gRPC socket (valid once started)."""
        if self.state is None:
            raise ContainerdLabError("containerd not started")
        return self.state.parent / "c.sock"

    @property
    def running(self) -> bool:
        """Whether the process this object started is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def grpc(self) -> Grpc:
        """The gRPC client on the private socket."""
        if self._grpc is None:
            raise ContainerdLabError("containerd not started")
        return self._grpc

    def config_text(self) -> str:
        """The config file: version 2, own root/state/sockets, no debug/metrics, no CRI."""
        assert self.state is not None
        return (
            "version = 2\n"
            f'root = "{self.root}"\n'
            f'state = "{self.state}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            "[grpc]\n"
            f'  address = "{self.sock}"\n'
            "[ttrpc]\n"
            f'  address = "{self.sock}.ttrpc"\n'
            "[debug]\n"
            '  address = ""\n'
            "[metrics]\n"
            '  address = ""\n'
            '[plugins."io.containerd.grpc.v1.cri"]\n'
            "  disable_tcp_service = true\n" + ("" if self.auto_gc else NO_AUTO_GC)
        )

    def start(self) -> PrivateContainerd:
        """Start containerd in a new session and wait until ``ctr version`` answers."""
        if self._proc is not None:
            raise ContainerdLabError("already started")
        if not os.access(CONTAINERD, os.X_OK):
            raise ContainerdLabError(f"{CONTAINERD} not found: apt-get install containerd")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        short = Path(tempfile.mkdtemp(prefix="ctrlab-", dir="/tmp"))
        self.state = short / "state"
        self.config.write_text(self.config_text())
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self._proc = subprocess.Popen(
                [CONTAINERD, "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.base_dir)},
                cwd=self.base_dir,
                start_new_session=True,  # setsid: its own session, stopped by PID only
            )
        finally:
            log.close()
        self.pid = self._proc.pid
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                raise ContainerdLabError(
                    f"containerd exited with {self._proc.returncode}\n{self.log_tail()}"
                )
            if self.sock.exists():
                res = self._run_ctr("version", check=False)
                if res.returncode == 0:
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise ContainerdLabError(f"containerd did not answer\n{self.log_tail()}")
            time.sleep(0.1)
        self._grpc = Grpc(self.sock)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM exactly the process this object started; SIGKILL after `timeout`."""
        if self._grpc is not None:
            self._grpc.close()
            self._grpc = None
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        if self.state is not None:
            shutil.rmtree(self.state.parent, ignore_errors=True)

    def __enter__(self) -> PrivateContainerd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        """The end of containerd's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _run_ctr(
        self, *args: str, check: bool = True, input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        cmd = [CTR, "-a", str(self.sock), "-n", NAMESPACE, *args]
        res = subprocess.run(
            cmd, input=input, capture_output=True, timeout=300, check=False, env=_ctr_env()
        )
        if check and res.returncode != 0:
            raise ContainerdLabError(
                f"{' '.join(cmd)} exited with {res.returncode}: "
                f"{res.stderr.decode(errors='replace')[-2000:]}"
            )
        return res

    def ctr(self, *args: str, input: bytes | None = None) -> str:
        """``ctr -a <sock> -n moby <args>``: its stdout (ContainerdLabError on failure)."""
        return self._run_ctr(*args, input=input).stdout.decode(errors="replace")

    def import_tar(self, path: Path, *flags: str) -> str:
        """``ctr images import --snapshotter overlayfs [flags] <path>``."""
        return self.ctr("images", "import", "--snapshotter", SNAPSHOTTER, *flags, str(path))

    # ------------------------------------------------------------------ truth

    def snapshot_usage(self) -> dict[str, tuple[int, int]]:
        """``ctr snapshots usage -b``: key → (bytes, inodes) for every snapshot."""
        out: dict[str, tuple[int, int]] = {}
        for line in self.ctr("snapshots", "--snapshotter", SNAPSHOTTER, "usage", "-b").splitlines()[
            1:
        ]:
            parts = line.split()
            if len(parts) == 3:
                out[parts[0]] = (int(parts[1]), int(parts[2]))
        return out

    def snapshots(self) -> dict[str, tuple[str, str]]:
        """``ctr snapshots ls``: key → (parent, kind)."""
        out: dict[str, tuple[str, str]] = {}
        for line in self.ctr("snapshots", "--snapshotter", SNAPSHOTTER, "ls").splitlines()[1:]:
            parts = line.split()
            if len(parts) == 3:
                out[parts[0]] = (parts[1], parts[2])
            elif len(parts) == 2:
                out[parts[0]] = ("", parts[1])
        return out

    def content_digests(self) -> list[str]:
        """``ctr content ls -q``: every blob digest the metadata store knows."""
        return sorted(x for x in self.ctr("content", "ls", "-q").split() if x)

    def images(self) -> dict[str, str]:
        """``ctr images ls``: name → target digest."""
        out: dict[str, str] = {}
        for line in self.ctr("images", "ls").splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 3:
                out[parts[0]] = parts[2]
        return out

    def leases(self) -> list[str]:
        """``ctr leases ls -q``."""
        return sorted(x for x in self.ctr("leases", "ls", "-q").split() if x)


def _ctr_env() -> dict[str, str]:
    # CONTAINERD_* variables would redirect ctr (namespace, snapshotter, address).
    return {k: v for k, v in os.environ.items() if not k.startswith("CONTAINERD_")}


# ----------------------------------------------------------------------------- OCI archives


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def layer_tar(files: Mapping[str, bytes]) -> bytes:
    """A deterministic layer tar of regular files (parent dirs added)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name in sorted(files):
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = MTIME
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            info.mtime = MTIME
            tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


@dataclass
class Blob:
    """One blob of an OCI layout: its bytes and descriptor."""

    media_type: str
    data: bytes
    annotations: dict[str, str] = field(default_factory=dict)
    platform: dict[str, str] | None = None

    @property
    def digest(self) -> str:
        """sha256 of the bytes."""
        return _digest(self.data)

    def descriptor(self) -> dict[str, Any]:
        """The OCI descriptor pointing at this blob."""
        d: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
        }
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.platform:
            d["platform"] = dict(self.platform)
        return d


@dataclass
class PlatformImage:
    """One platform's manifest with its config and layers (all blobs)."""

    manifest: Blob
    config: Blob
    layers: list[Blob]
    diff_ids: list[str]

    def blobs(self) -> list[Blob]:
        """Manifest, config and layers."""
        return [self.manifest, self.config, *self.layers]


def platform_image(
    arch: str, layers: Sequence[Mapping[str, bytes]], *, os_: str = "linux"
) -> PlatformImage:
    """A manifest with gzip layers made of `layers` (file maps), and its config."""
    blobs: list[Blob] = []
    diff_ids: list[str] = []
    for files in layers:
        raw = layer_tar(files)
        diff_ids.append(_digest(raw))
        gz = gzip.compress(raw, compresslevel=6, mtime=0)
        blobs.append(Blob("application/vnd.oci.image.layer.v1.tar+gzip", gz))
    config = Blob(
        "application/vnd.oci.image.config.v1+json",
        _json(
            {
                "architecture": arch,
                "os": os_,
                "created": CREATED,
                "config": {"Cmd": ["sh"], "Labels": {"made.by": "containerdlab"}},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [
                    {"created": CREATED, "created_by": f"layer {i}"} for i in range(len(layers))
                ],
            }
        ),
    )
    manifest = Blob(
        "application/vnd.oci.image.manifest.v1+json",
        _json(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config.descriptor(),
                "layers": [b.descriptor() for b in blobs],
            }
        ),
        platform={"architecture": arch, "os": os_},
    )
    return PlatformImage(manifest, config, blobs, diff_ids)


def attestation_for(target: PlatformImage) -> PlatformImage:
    """A BuildKit attestation manifest for `target` (unknown/unknown, in-toto layer)."""
    statement = _json({"_type": "https://in-toto.io/Statement/v0.1", "subject": []})
    layer = Blob(
        "application/vnd.in-toto+json",
        statement,
        annotations={"in-toto.io/predicate-type": "https://spdx.dev/Document"},
    )
    config = Blob(
        "application/vnd.oci.image.config.v1+json",
        _json(
            {
                "architecture": "unknown",
                "os": "unknown",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
            }
        ),
    )
    manifest = Blob(
        "application/vnd.oci.image.manifest.v1+json",
        _json(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config.descriptor(),
                "layers": [layer.descriptor()],
            }
        ),
        annotations={
            "vnd.docker.reference.digest": target.manifest.digest,
            "vnd.docker.reference.type": "attestation-manifest",
        },
        platform={"architecture": "unknown", "os": "unknown"},
    )
    return PlatformImage(manifest, config, [layer], [layer.digest])


def index_of(images: Sequence[PlatformImage]) -> Blob:
    """An OCI image index of these manifests."""
    return Blob(
        "application/vnd.oci.image.index.v1+json",
        _json(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [p.manifest.descriptor() for p in images],
            }
        ),
    )


def oci_archive(path: Path, refs: Mapping[str, Blob], blobs: Iterable[Blob]) -> None:
    """Write an OCI layout tar: index.json naming each ref's target, and the blobs."""
    index = {
        "schemaVersion": 2,
        "manifests": [
            {**target.descriptor(), "annotations": {"org.opencontainers.image.ref.name": ref}}
            for ref, target in refs.items()
        ],
    }
    seen: dict[str, bytes] = {}
    for b in [*refs.values(), *blobs]:
        seen[b.digest] = b.data
    with tarfile.open(path, "w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = MTIME
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))

        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", _json(index))
        for dgst in sorted(seen):
            add(f"blobs/sha256/{dgst.removeprefix('sha256:')}", seen[dgst])


# ----------------------------------------------------------------------------- Docker 29 layout


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """ChainIDs of a list of DiffIDs (image-spec identity.ChainIDs)."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else _digest(f"{out[-1]} {d}".encode()))
    return out


#: What Docker's setupInitLayer puts into every container's -init layer (daemon/initlayer).
INIT_DIRS = ("dev/pts", "dev/shm", "proc", "sys", "etc")
INIT_FILES = (
    ".dockerenv",
    "etc/resolv.conf",
    "etc/hosts",
    "etc/hostname",
    "dev/console",
    "etc/mtab",
)


def write_init_layer(fs_dir: Path) -> None:
    """Docker's init layer placeholders (empty files and dirs; etc/mtab a symlink)."""
    for d in INIT_DIRS:
        (fs_dir / d).mkdir(parents=True, exist_ok=True)
    for f in INIT_FILES:
        p = fs_dir / f
        if f == "etc/mtab":
            os.symlink("/proc/mounts", p)
        else:
            p.touch(mode=0o755)


@dataclass(frozen=True)
class DockerContainer:
    """A container made like Docker 29 makes it (see :func:`docker_container`)."""

    id: str
    name: str
    image_id: str
    rw_dir: Path
    init_dir: Path


def docker_container(
    lab: PrivateContainerd,
    data_root: Path,
    cid: str,
    name: str,
    *,
    image_id: str,
    image_ref: str,
    manifest: Mapping[str, Any],
    top_chain: str,
    fill: Mapping[str, bytes | None] | None = None,
    state: str = "exited",
    started: bool = False,
) -> DockerContainer:
    """Make a container as Docker 29 does: lease, ``-init`` snapshot, active snapshot, files.

    `fill` maps paths to bytes written into the writable layer (``None`` values make
    whiteouts). `started`: also create containerd's container record (dockerd makes it when
    the container first starts; its snapshot key is empty).
    """
    g = lab.grpc
    g.lease_create(cid)
    init = g.prepare(f"{cid}-init-key", top_chain, lease=cid)
    init_dir = Path(init[0].upper)
    write_init_layer(init_dir)
    g.commit(f"{cid}-init", f"{cid}-init-key", lease=cid)
    rw = g.prepare(cid, f"{cid}-init", lease=cid)
    rw_dir = Path(rw[0].upper)
    for rel, data in (fill or {}).items():
        p = rw_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            os.mknod(p, stat.S_IFCHR | 0o000, os.makedev(0, 0))  # an overlay whiteout
        else:
            p.write_bytes(data)
    if started:
        g.container_create(cid, image_ref)
    write_container_dir(
        data_root, cid, name, image_id=image_id, image_ref=image_ref, manifest=manifest, state=state
    )
    return DockerContainer(cid, name, image_id, rw_dir, Path(str(init_dir).removesuffix("/fs")))


def write_container_dir(
    data_root: Path,
    cid: str,
    name: str,
    *,
    image_id: str,
    image_ref: str,
    manifest: Mapping[str, Any],
    state: str = "exited",
) -> Path:
    """Docker 29's ``containers/<id>/`` (config.v2.json with Driver overlayfs, hostconfig)."""
    cdir = data_root / "containers" / cid
    cdir.mkdir(parents=True, mode=0o710)
    (cdir / "checkpoints").mkdir(mode=0o700)
    running = state == "running"
    cfg = {
        "StreamConfig": {},
        "State": {
            "Running": running,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": False,
            "RemovalInProgress": False,
            "Dead": False,
            "Pid": 0,
            "ExitCode": 0,
            "Error": "",
            "StartedAt": CREATED if state != "created" else "0001-01-01T00:00:00Z",
            "FinishedAt": CREATED if state == "exited" else "0001-01-01T00:00:00Z",
            "Health": None,
        },
        "ID": cid,
        "Created": CREATED,
        "Managed": False,
        "Path": "sh",
        "Args": [],
        "Config": {"Hostname": cid[:12], "Image": image_ref, "Cmd": ["sh"], "Labels": {}},
        "Image": image_id,
        "ImageManifest": dict(manifest),
        "NetworkSettings": {},
        "LogPath": str(cdir / f"{cid}-json.log") if state != "created" else "",
        "Name": f"/{name}",
        "Driver": SNAPSHOTTER,
        "OS": "linux",
        "ImagePlatform": {"architecture": "amd64", "os": "linux"},
        "RestartCount": 0,
        "HasBeenStartedBefore": state != "created",
        "HasBeenManuallyStopped": False,
        "MountPoints": {},
        "SecretReferences": None,
        "ConfigReferences": None,
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "SeccompProfile": "",
        "NoNewPrivileges": False,
        "HostnamePath": str(cdir / "hostname"),
        "HostsPath": str(cdir / "hosts"),
        "ShmPath": "",
        "ResolvConfPath": str(cdir / "resolv.conf"),
        "LocalLogCacheMeta": {"HaveNotifyEnabled": False},
    }
    (cdir / "config.v2.json").write_text(json.dumps(cfg))
    host = {"LogConfig": {"Type": "json-file", "Config": {}}, "NetworkMode": "none"}
    (cdir / "hostconfig.json").write_text(json.dumps(host))
    if state != "created":
        for f, text in (("hostname", cid[:12]), ("hosts", "127.0.0.1\tlocalhost\n")):
            (cdir / f).write_text(text + "\n")
        (cdir / "resolv.conf").write_text("nameserver 127.0.0.53\n")
        with open(cdir / f"{cid}-json.log", "w") as fh:
            for i in range(3):
                fh.write(json.dumps({"log": f"line {i}\n", "stream": "stdout", "time": CREATED}))
                fh.write("\n")
    return cdir


def lay_out_docker29_root(data_root: Path) -> None:
    """The rest of a Docker 29 data root in containerd-store mode (no overlay2/, no image/)."""
    for d, mode in (
        ("containers", 0o710),
        ("volumes", 0o701),
        ("rootfs/overlayfs", 0o710),
        ("network/files", 0o750),
        ("plugins", 0o700),
        ("runtimes", 0o700),
        ("tmp", 0o700),
        ("swarm", 0o700),
    ):
        (data_root / d).mkdir(parents=True, exist_ok=True, mode=mode)
    (data_root / "engine-id").write_text("00000000-0000-4000-8000-000000000029")


def free_tree(path: Path) -> None:
    """Remove a test tree (mode 000 dirs such as work/work included)."""
    if not path.exists():
        return
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(dirpath, d), 0o700)
    shutil.rmtree(path, ignore_errors=True)


# ----------------------------------------------------------------------------- the scenario


@dataclass
class CtrTruth:
    """What containerd itself said about the scenario root, recorded before it stopped."""

    usage: dict[str, tuple[int, int]]
    """``ctr snapshots usage -b``: key → (bytes, inodes)."""
    snapshots: dict[str, tuple[str, str]]
    """``ctr snapshots ls``: key → (parent, kind)."""
    content: list[str]
    """``ctr content ls -q``: every blob digest with a metadata record."""
    blob_sizes: dict[str, int]
    """digest → bytes of its blob file (``ctr content ls`` rounds: the files are exact)."""
    images: dict[str, str]
    """``ctr images ls``: name → target digest."""
    leases: list[str]
    targets: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    """Images/List: name → (media type, digest, size) of each image record's target (the
    size Docker adds for it: ``ctr images import`` of a docker archive may record a size that
    is not the blob's)."""


@dataclass
class CtrScenario:
    """The shared containerd-store root (see :func:`build_containerd_scenario`)."""

    data_root: Path
    containerd_root: Path
    images: dict[str, str]
    """Docker's short names (``app:2``, ``multi:1``, ``<dangling>``) → image ID (target)."""
    manifests: dict[str, str]
    """Same names → the manifest digest of the local platform (linux/amd64)."""
    containers: dict[str, str]
    """name → container ID."""
    truth: CtrTruth
    config_text: str = ""
    """The config file containerd ran with."""
    absent: dict[str, str] = field(default_factory=dict)
    """What the scenario removed on purpose: ``arm64-manifest`` → digest (not present)."""
    buildkit: dict[str, str] = field(default_factory=dict)
    """BuildKit's records (IDs of a real ``metadata_v2.db``) → the snapshot key each holds."""
    views: dict[str, str] = field(default_factory=dict)
    """View snapshots → the lease holding each (BuildKit's temporary one, Docker's)."""


#: Images of the session dockerd's scenario imported into containerd (``docker save``).
SAVED_IMAGES = ("busybox:base", "app:1", "app:2", "tool:latest")
#: The hex "random" container IDs of the scenario (fixed: easy to read in failures).
CONTAINER_IDS = {
    "web": "c0ffee" + "1" * 58,
    "job": "c0ffee" + "2" * 58,
    "fresh": "c0ffee" + "3" * 58,
    "multi": "c0ffee" + "4" * 58,
}


def _blob_path(containerd_root: Path, dgst: str) -> Path:
    algo, hexd = dgst.split(":", 1)
    return containerd_root / "io.containerd.content.v1.content" / "blobs" / algo / hexd


def _read_blob(containerd_root: Path, dgst: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(_blob_path(containerd_root, dgst).read_bytes())
    return doc


def local_manifest(containerd_root: Path, target: str) -> dict[str, Any]:
    """The linux/amd64 manifest descriptor of an image target (itself when a manifest)."""
    doc = _read_blob(containerd_root, target)
    if "manifests" not in doc:
        data = _blob_path(containerd_root, target).read_bytes()
        return {"mediaType": doc.get("mediaType", ""), "digest": target, "size": len(data)}
    for m in doc["manifests"]:
        p = m.get("platform") or {}
        if p.get("architecture") == "amd64" and p.get("os") == "linux":
            return dict(m)
    raise ContainerdLabError(f"{target}: no linux/amd64 manifest")


def top_chain(containerd_root: Path, manifest_digest: str) -> str:
    """The ChainID of a manifest's config's diff_ids (the image's top snapshot key)."""
    mf = _read_blob(containerd_root, manifest_digest)
    cfg = _read_blob(containerd_root, mf["config"]["digest"])
    return chain_ids(cfg["rootfs"]["diff_ids"])[-1]


#: BuildKit's cache records, from a real BuildKit (tests/data/bbolt, written by dockerd 20.10).
BUILDKIT_METADATA = Path(__file__).resolve().parent / "data" / "bbolt" / "metadata_v2.db"
BUILDKIT_SNAPSHOTS = BUILDKIT_METADATA.with_name("snapshots.db")


def rfc3339(when: float) -> str:
    """A UTC time as containerd's labels write it (RFC 3339)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def simulate_buildkit(lab: PrivateContainerd, data_root: Path, base_chain: str) -> dict[str, str]:
    """BuildKit's state in the containerd image store, from a real BuildKit's records.

    BuildKit's containerd worker (moby ``newSnapshotterController``, BuildKit
    ``worker/containerd``, ``cache/manager.go``) keeps ``buildkit/containerd-overlayfs/
    metadata_v2.db`` and, in containerd's namespace moby, one flat lease per record named by
    the record's ID, holding its snapshot (key = the record ID): a mutable record's snapshot is
    active, an immutable one's committed. The records are a real BuildKit's
    (:data:`BUILDKIT_METADATA`); the snapshots and leases are made here through containerd the
    way BuildKit makes them. Records whose data lives in their mutable twin
    (``cache.equalMutable``) or in an image layer have no snapshot of their own.
    Returns record ID → snapshot key.
    """
    from inspector.readers.bbolt import load_bolt
    from inspector.readers.buildkit import parse_cache_records, parse_snapshots

    snaps, _ = parse_snapshots(load_bolt(str(BUILDKIT_SNAPSHOTS)))
    records, _ = parse_cache_records(load_bolt(str(BUILDKIT_METADATA)), snaps)
    bk = data_root / "buildkit"
    (bk / "containerd-overlayfs").mkdir(parents=True, mode=0o711, exist_ok=True)
    target = bk / "containerd-overlayfs" / "metadata_v2.db"
    shutil.copyfile(BUILDKIT_METADATA, target)
    target.chmod(0o600)
    g = lab.grpc
    made: dict[str, str] = {}
    committed: set[str] = set()
    todo = sorted(records)
    while todo:
        left = []
        for rid in todo:
            rec = records[rid]
            if rec.snapshot_key != rid or rec.equal_mutable:
                continue
            if rec.parent and rec.parent in records and rec.parent not in made:
                parent_rec = records[rec.parent]
                if parent_rec.snapshot_key == rec.parent and not parent_rec.equal_mutable:
                    left.append(rid)  # its parent first
                    continue
            parent = rec.parent if rec.parent in committed else base_chain
            g.lease_create(rid, {"containerd.io/gc.flat": CREATED})
            key = rid if rec.mutable else f"{rid}-mutable"
            upper = Path(g.prepare(key, parent, lease=rid)[0].upper)
            (upper / f"bk-{rid}").write_bytes(b"b" * min(rec.size or 100, 8192))
            if not rec.mutable:
                g.commit(rid, key, lease=rid)
                committed.add(rid)
            made[rid] = rid
        if len(left) == len(todo):
            raise ContainerdLabError(f"BuildKit records with unresolvable parents: {left}")
        todo = left
    return made


def make_views(lab: PrivateContainerd, image_chain: str, buildkit_key: str) -> dict[str, str]:
    """Two views, as Docker and BuildKit make them: each under a lease (a view has no gc.root).

    BuildKit mounts a record read-only under a temporary lease of its own; dockerd's leases
    expire (``containerd.io/gc.expire``).
    """
    g = lab.grpc
    g.lease_create(
        "bktmp0000000000000000000a",
        {"buildkit/lease.temporary": CREATED, "containerd.io/gc.flat": CREATED},
    )
    g.prepare("bk-view", buildkit_key, lease="bktmp0000000000000000000a", view=True)
    g.lease_create("moby-view-lease", {"containerd.io/gc.expire": rfc3339(time.time() + 7 * 86400)})
    g.prepare("docker-view", image_chain, lease="moby-view-lease", view=True)
    return {"bk-view": "bktmp0000000000000000000a", "docker-view": "moby-view-lease"}


def interrupted_ingest(lab: PrivateContainerd, ref: str, data: bytes, sent: int) -> None:
    """A download cut off: ``ctr content ingest`` killed after `sent` bytes of `data`.

    ctr sends in 1 MiB chunks: containerd keeps what arrived in ``ingest/<x>/data``.
    """
    dgst = _digest(data)
    cmd = [CTR, "-a", str(lab.sock), "-n", NAMESPACE, "content", "ingest"]
    cmd += ["--expected-size", str(len(data)), "--expected-digest", dgst, ref]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, env=_ctr_env())
    assert proc.stdin is not None
    proc.stdin.write(data[:sent])
    proc.stdin.flush()
    deadline = time.monotonic() + 30
    while lab.grpc.statuses().get(ref, (0, 0))[0] < min(sent, 1 << 20):
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise ContainerdLabError(f"ingest {ref}: containerd never received {sent} bytes")
        time.sleep(0.1)
    proc.kill()  # the process this function started, by its handle
    proc.wait()


def gc_now(lab: PrivateContainerd) -> None:
    """Make containerd collect garbage now (a synchronous lease removal runs the GC)."""
    lab.ctr("leases", "create", "--id", "containerdlab-gc")
    lab.ctr("leases", "rm", "--sync", "containerdlab-gc")


def record_truth(lab: PrivateContainerd) -> CtrTruth:
    """Everything containerd says about the root, through ctr."""
    content = lab.content_digests()
    sizes = {d: _blob_path(lab.root, d).stat().st_size for d in content}
    return CtrTruth(
        usage=lab.snapshot_usage(),
        snapshots=lab.snapshots(),
        content=content,
        blob_sizes=sizes,
        images=lab.images(),
        leases=lab.leases(),
        targets=lab.grpc.image_targets(),
    )


def multi_platform_archive(path: Path) -> tuple[Blob, PlatformImage, PlatformImage, PlatformImage]:
    """``multi:1``: an index of linux/amd64 (2 layers, shares nothing), linux/arm64 and a
    BuildKit attestation of the amd64 manifest."""
    amd = platform_image(
        "amd64",
        [
            {"multi/base.txt": b"multi base layer\n" * 300},
            {"multi/top.bin": bytes(range(256)) * 64},
        ],
    )
    arm = platform_image("arm64", [{"multi/base.txt": b"arm64 layer\n" * 100}])
    att = attestation_for(amd)
    idx = index_of([amd, arm, att])
    oci_archive(
        path, {"docker.io/library/multi:1": idx}, [*amd.blobs(), *arm.blobs(), *att.blobs()]
    )
    return idx, amd, arm, att


def build_containerd_scenario(
    lab: PrivateContainerd, data_root: Path, saved_tar: Path, work: Path
) -> CtrScenario:
    """Fill a Docker 29 containerd-store root through the running `lab` and record its truth.

    Images: ``busybox:base``, ``app:1``, ``app:2``, ``tool:latest`` from the session
    dockerd's ``docker save`` (`saved_tar`), imported with compressed blobs (what a pull
    stores); ``multi:1`` (index: amd64 present and unpacked, arm64 content removed, an
    attestation manifest present); ``nounpack:1`` (content only, never unpacked); a
    dangling image (``moby-dangling@<digest>``, Docker's name for an untagged one).
    Containers (Docker 29's way, see :func:`docker_container`): ``web`` (app:2, started,
    hard links, a sparse file, a whiteout), ``job`` (tool:latest, exited), ``fresh``
    (app:1, created only), ``multi`` (multi:1, exited).
    """
    lay_out_docker29_root(data_root)
    lab.import_tar(saved_tar, "--compress-blobs")
    multi_tar = work / "multi.tar"
    idx, amd, arm, _att = multi_platform_archive(multi_tar)
    lab.import_tar(multi_tar, "--all-platforms")
    # The arm64 platform is listed by the index but not present locally (as after a pull).
    lab.ctr("content", "rm", *(b.digest for b in arm.blobs()))
    nounpack = platform_image("amd64", [{"nounpack/only.txt": b"never unpacked\n" * 50}])
    nu_tar = work / "nounpack.tar"
    oci_archive(nu_tar, {"docker.io/library/nounpack:1": nounpack.manifest}, nounpack.blobs())
    lab.import_tar(nu_tar, "--no-unpack")
    dangle = platform_image("amd64", [{"dangle.txt": b"first build\n"}])
    dg_tar = work / "dangle.tar"
    oci_archive(dg_tar, {"docker.io/library/dangle:1": dangle.manifest}, dangle.blobs())
    lab.import_tar(dg_tar)
    dangling = f"moby-dangling@{dangle.manifest.digest}"
    lab.ctr("images", "tag", "docker.io/library/dangle:1", dangling)
    lab.ctr("images", "rm", "docker.io/library/dangle:1")

    listed = lab.images()
    images: dict[str, str] = {}
    for name, target in listed.items():
        short = name.removeprefix("docker.io/library/")
        images["<dangling>" if name == dangling else short] = target
    manifests = {n: local_manifest(lab.root, t)["digest"] for n, t in images.items()}

    containers: dict[str, str] = {}

    def make(name: str, image: str, **kw: Any) -> DockerContainer:
        target = images[image]
        mf = local_manifest(lab.root, target)
        c = docker_container(
            lab,
            data_root,
            CONTAINER_IDS[name],
            name,
            image_id=target,
            image_ref=image,
            manifest=mf,
            top_chain=top_chain(lab.root, mf["digest"]),
            **kw,
        )
        containers[name] = c.id
        return c

    web = make(
        "web",
        "app:2",
        fill={
            "srv/a": b"hardlinked\n",
            "srv/data.bin": b"web data\n" * 2000,
            "etc/base-release": None,
        },
        state="exited",
        started=True,
    )
    os.link(web.rw_dir / "srv" / "a", web.rw_dir / "srv" / "b")
    os.symlink("/srv/a", web.rw_dir / "srv" / "link")
    with open(web.rw_dir / "srv" / "sparse", "wb") as fh:
        fh.truncate(1 << 20)
    make("job", "tool:latest", fill={"job-result.txt": b"done\n"}, state="exited", started=True)
    make("fresh", "app:1", fill={"app/added.txt": b"copied in by docker cp\n"}, state="created")
    make("multi", "multi:1", state="exited", started=True)
    base = top_chain(lab.root, manifests["busybox:base"])
    buildkit = simulate_buildkit(lab, data_root, base)
    kinds = lab.snapshots()
    committed_bk = next(k for k in sorted(buildkit) if kinds.get(k, ("", ""))[1] == "Committed")
    views = make_views(lab, base, committed_bk)
    gc_now(lab)
    truth = record_truth(lab)
    return CtrScenario(
        data_root=data_root,
        containerd_root=lab.root,
        images=images,
        manifests=manifests,
        containers=containers,
        truth=truth,
        config_text=lab.config_text(),
        absent={
            "arm64-manifest": arm.manifest.digest,
            "index": idx.digest,
            "amd64": amd.manifest.digest,
        },
        buildkit=buildkit,
        views=views,
    )
