"""The audit's state between runs: where it lives, the per-root lock, the snapshot file.

The state dir holds, per data root (keyed by a hash of its resolved path), the previous run's
numbers (`<key>.json`, what growth is computed from) and the lock (`<key>.lock`) that stops
two overlapping runs. It is never inside the root: its name is checked before the scan, and
the directory itself is opened and checked once (inspector.outputs); the lock and the state
file are then opened relative to that descriptor, so renaming the dir during a run changes
nothing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from inspector import outputs
from inspector.analysis.results import Report
from inspector.errors import InspectorError, UsageError

#: Version of the state file.
STATE_VERSION = 1
#: A state file larger than this is not read (it holds one number per container and volume:
#: ~100 bytes each, so this is room for hundreds of thousands of them).
MAX_STATE_BYTES = 64 * 1024 * 1024
#: Appended to "inside the data root" refusals of the state dir.
STATE_HINT = "; docker-inspector never writes there: choose a directory outside it"


class LockBusy(InspectorError):
    """Another audit of the same root holds the lock (exit 2)."""


def default_state_dir() -> str:
    """$XDG_STATE_HOME/docker-inspector, else ~/.local/state/docker-inspector."""
    xdg = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    base = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "docker-inspector")


def root_key(root: str) -> str:
    """Name stem of a root's state and lock files: a hash of its resolved absolute path."""
    raw = os.path.realpath(root).encode("utf-8", "surrogateescape")
    return "root-" + hashlib.sha256(raw).hexdigest()[:16]


@contextlib.contextmanager
def state_lock(path: str, dir_fd: int | None = None) -> Iterator[None]:
    """Hold an exclusive flock on `path` for the block; LockBusy if another process has it.

    flock is released by the kernel when the process dies, so a killed run never leaves a
    stale lock; the file itself is kept (removing it would race with the next run). With
    `dir_fd` (the checked state dir), the lock is its basename relative to that descriptor.
    """
    name = path if dir_fd is None else os.path.basename(path)
    try:
        # O_NOFOLLOW and no O_TRUNC: a symlink or a hard link planted at the lock's name
        # must never let the pid below land in someone else's file.
        fd = os.open(
            name,
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
            outputs.PRIVATE_MODE,
            dir_fd=dir_fd,
        )
    except OSError as e:
        why = "it is a symbolic link" if e.errno == errno.ELOOP else e.strerror
        raise UsageError(f"cannot open lock file {path}: {why}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            raise UsageError(f"cannot open lock file {path}: not a regular file with a single link")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise UsageError(f"cannot lock {path}: {e.strerror}") from e
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                pid = int(os.pread(fd, 32, 0).decode().strip())
                holder = f" (pid {pid})"
            raise LockBusy(
                f"another audit is running{holder}: {path} is locked; try again later"
            ) from None
        # The pid helps whoever finds a run that seems stuck; the lock is the flock itself.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def open_state_dir(path: str, root: str) -> int:
    """Create (if needed), open and check the state dir; its descriptor."""
    try:
        return outputs.make_dirs(path, [root], label="--state-dir", hint=STATE_HINT)
    except NotADirectoryError as e:
        raise UsageError(f"state dir {path} is not a directory") from e
    except OSError as e:
        raise UsageError(f"cannot create state dir {path}: {e.strerror}") from e


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The numbers a run keeps for the next one (the state file)."""

    root: str
    time: float
    disk_total: int
    categories: Mapping[str, tuple[int, int]]
    """Category → (apparent, disk)."""
    containers: Mapping[str, tuple[str, int]]
    """Container ID → (name, size_rw + log bytes)."""
    volumes: Mapping[str, int]
    """Volume name → bytes."""

    def to_json(self) -> dict[str, Any]:
        """The state file's document."""
        return {
            "version": STATE_VERSION,
            "root": self.root,
            "time": self.time,
            "disk_total": self.disk_total,
            "categories": {k: {"apparent": a, "disk": d} for k, (a, d) in self.categories.items()},
            "containers": {k: {"name": n, "bytes": b} for k, (n, b) in self.containers.items()},
            "volumes": dict(self.volumes),
        }

    @classmethod
    def from_json(cls, doc: Any) -> Snapshot:
        """Parse a state file's document; ValueError/KeyError/TypeError when malformed."""
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
            raise ValueError("not a version-1 state file")

        def num(v: Any) -> int:
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError("expected an integer")
            return v

        t = doc["time"]
        if isinstance(t, bool) or not isinstance(t, int | float):
            raise TypeError("time must be a number")
        return cls(
            root=str(doc["root"]),
            time=float(t),
            disk_total=num(doc["disk_total"]),
            categories={
                str(k): (num(v["apparent"]), num(v["disk"])) for k, v in doc["categories"].items()
            },
            containers={
                str(k): (str(v["name"]), num(v["bytes"])) for k, v in doc["containers"].items()
            },
            volumes={str(k): num(v) for k, v in doc["volumes"].items()},
        )


def container_bytes(report: Report) -> dict[str, tuple[str, int]]:
    """Container ID → (name, writable-layer bytes + log bytes): what growth tracks."""
    return {
        r.container.id: (r.container.name, (r.size_rw or 0) + r.log_size) for r in report.containers
    }


def snapshot(report: Report, when: float) -> Snapshot:
    """This run's numbers."""
    t = report.totals
    return Snapshot(
        root=os.path.realpath(report.inventory.root.path),
        time=when,
        disk_total=t.disk_total,
        categories={c.name: (c.apparent, c.disk) for c in t.categories},
        containers=container_bytes(report),
        volumes={r.volume.name: r.size or 0 for r in report.volumes},
    )


def load_state(
    path: str, root: str, warn: Callable[[str], None], dir_fd: int | None = None
) -> Snapshot | None:
    """The previous run's snapshot, or None (first run; unusable files are warned about).

    With `dir_fd` (the checked state dir), `path`'s basename is read relative to it.
    """
    name = path if dir_fd is None else os.path.basename(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(MAX_STATE_BYTES + 1)
        if len(raw) > MAX_STATE_BYTES:
            raise ValueError(f"larger than {MAX_STATE_BYTES} bytes")
        doc = json.loads(raw)
        snap = Snapshot.from_json(doc)
    except FileNotFoundError:
        return None
    except RecursionError:
        # json.loads recurses per nesting level: a crafted file of [[[[… must not crash.
        warn(f"ignoring state file {path} (nested too deeply); growth starts again from this run")
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        warn(f"ignoring state file {path} ({e}); growth starts again from this run")
        return None
    if snap.root != root:
        warn(f"state file {path} is for {snap.root}, not {root}; growth starts again")
        return None
    return snap


def save_state(state_fd: int, state_dir: str, key: str, snap: Snapshot, root: str) -> None:
    """Write `snap` as `<key>.json` in the checked state dir open as `state_fd`.

    UsageError when it cannot be written, or when the dir is, now, inside `root`.
    """
    path = os.path.join(state_dir, key + ".json")
    try:
        data = json.dumps(snap.to_json(), indent=1).encode("utf-8", "surrogateescape")
        # 0600: the state names containers and volumes; it is nobody else's business.
        outputs.write_at(
            state_fd,
            key + ".json",
            data,
            [root],
            label="--state-dir",
            shown=state_dir,
            mode=outputs.PRIVATE_MODE,
            hint=STATE_HINT,
        )
    except OSError as e:
        raise UsageError(f"cannot write state file {path}: {e.strerror}") from e
