"""The one options object of a run: what the pipeline measures and what analysis reports.

Every face (report, audit, TUI) builds one and hands it to inspector.pipeline.run, so the same
setting cannot mean two things in two places.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The data root read when none is given (dockerd's default --data-root).
DEFAULT_ROOT = "/var/lib/docker"

#: Container logs above this many bytes are a `large_log` finding (`report --large-log`).
DEFAULT_LARGE_LOG = 100 * 1024 * 1024
#: A container with more than this in its writable layer is a `large_writable_layer` finding
#: (`report --large-rw`): data that belongs in a volume.
DEFAULT_LARGE_RW = 1024 * 1024 * 1024
#: dockerd's config file, read as evidence of which tree it uses (``--daemon-config``).
DEFAULT_DAEMON_CONFIG = "/etc/docker/daemon.json"


@dataclass(frozen=True, slots=True)
class Options:
    """How to run the pipeline on one root."""

    sizes: bool = True
    """Walk the trees (False: ``--no-sizes``, metadata and recorded sizes only)."""
    full: bool = False
    """``--full``: walk every image layer too and judge its recorded size."""
    cache: bool = True
    """Use the size cache of immutable layers and the metadata cache of unchanged entries
    (False: ``--no-cache``: nothing read from or written to either)."""
    large_log_bytes: int = DEFAULT_LARGE_LOG
    """Threshold of the `large_log` finding."""
    large_rw_bytes: int = DEFAULT_LARGE_RW
    """Threshold of the `large_writable_layer` finding (a container's SizeRw)."""
    containerd_root: str | None = None
    """``--containerd-root``: the containerd root holding the image store (None: detect)."""
    daemon_config: str | None = DEFAULT_DAEMON_CONFIG
    """dockerd's config file (``--daemon-config``): evidence of which tree the daemon uses,
    when it describes the root read (its data-root); None: read none. A missing default file
    is no evidence, and no error."""
