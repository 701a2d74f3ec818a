"""The Docker scenario shared by the committed sample data and the test suite.

:func:`build_sample_scenario` builds, in a fresh :class:`dockerlab.PrivateDockerd`, exactly
what ``sample_data/root`` holds (``scripts/make_sample_data.py`` runs it);
:func:`build_extra_scenario` adds objects that only the tests use (BuildKit, log rotation).

Both return a :data:`Scenario`::

    {
      "images":     {"busybox:base": id, "app:1": id, "app:2": id, "tool:latest": id,
                     "dangle:latest": id, "<dangling>": id},
      "intermediate_images": {"app:1~1": id, "app:1~2": id},   # untagged, with children:
                     # app:1~1 = app:1's parent (ENV step), app:1~2 = its parent (RUN step)
      "containers": {"web": id, "job": id, "fresh": id},
      "volumes":    {"appdata": "appdata", "unused": "unused", "anon": "<64 hex>"},
    }

and for the extras ``{"images": {"bk:1": id}, "containers": {"rotlog": id},
"buildkit_only_layers": {"bkgone:1": chain id}}`` (the top layer of an image BuildKit built
and that was then removed: only the build cache holds it). Image IDs
are ``sha256:<64 hex>``, container IDs are 64 hex, volume IDs are their names.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from pathlib import Path
from typing import Any

from dockerlab import PrivateDockerd

Scenario = dict[str, dict[str, str]]

#: Container state each scenario container must be in when sample data is exported.
SAMPLE_STATES = {"web": "running", "job": "exited", "fresh": "created"}

APP1_DOCKERFILE = """\
FROM busybox:base
RUN mkdir -p /app/conf && echo "hello from app" > /app/hello.txt \\
 && echo "mode=1" > /app/conf/app.conf && yes "app one" | head -n 100 > /app/data.txt
ENV APP_MODE=demo APP_VERSION=1
CMD ["cat", "/app/hello.txt"]
"""

# Deleting /app/conf/app.conf puts a whiteout into an image layer, too.
APP2_DOCKERFILE = """\
FROM app:1
RUN echo 2 > /app/VERSION && mkdir -p /app/v2 && yes "app two" | head -c 2048 > /app/v2/blob.txt \\
 && rm /app/conf/app.conf
"""

TOOL_DOCKERFILE = """\
FROM busybox:base
RUN mkdir -p /opt/tool && yes "tool data line" | head -c 65536 > /opt/tool/data.bin \\
 && echo "#!/bin/sh" > /opt/tool/run.sh && chmod 755 /opt/tool/run.sh
"""

DANGLE_DOCKERFILE = """\
FROM busybox:base
RUN echo {word} > /dangle.txt
"""

# The web container's writable layer: a hard-link pair, a symlink, a 1 MiB sparse file, a
# deleted base file (whiteout), and 10 KiB written into the named volume at /data.
WEB_SETUP = (
    "mkdir -p /srv && echo hardlinked > /srv/a && ln /srv/a /srv/b && ln -s /srv/a /srv/link"
    " && truncate -s 1M /srv/sparse && rm /etc/base-release"
    " && yes appdata | head -c 10240 > /data/blob.bin"
)

JOB_SCRIPT = (
    'for i in $(seq 1 50); do echo "job line $i"; done;'
    " echo done > /job-result.txt; echo anon > /anon/note.txt"
)

BK_DOCKERFILE = """\
FROM busybox:base
RUN --mount=type=cache,target=/cache echo cached > /cache/stamp.txt && ls /cache
RUN mkdir -p /bk && echo buildkit > /bk/hello.txt
"""

# Built by BuildKit, then its image removed: the cache alone keeps this RUN's layer.
BKGONE_DOCKERFILE = """\
FROM busybox:base
RUN echo "held by the build cache only" > /gone.txt && head -c 30000 /dev/zero > /gone.bin
"""


def _tar_of(files: dict[str, bytes]) -> bytes:
    """A tar stream of ``files`` (for ``docker cp -``)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _state(lab: PrivateDockerd, cid: str) -> str:
    status: str = lab.api.inspect_container(cid)["State"]["Status"]
    return status


def build_sample_scenario(lab: PrivateDockerd) -> Scenario:
    """Build the sample scenario in ``lab`` (which should be fresh) and return its IDs.

    Images: ``busybox:base`` (imported), ``app:1`` (RUN + ENV + CMD, classic builder: two
    untagged intermediate images stay), ``app:2`` (FROM app:1, one RUN), ``tool:latest``
    (64 KiB), ``dangle:latest`` built twice so that the first build is dangling.
    Volumes: ``appdata`` (used by the running ``web``), an anonymous one at ``/anon`` (used
    by the exited ``job``), ``unused`` (one small file, no container).
    Containers: ``web`` running, ``job`` exited (code 0, 50 log lines), ``fresh`` created
    only, with ``/app/added.txt`` put in by ``docker cp``.
    """
    images: dict[str, str] = {}
    images["busybox:base"] = lab.import_busybox("busybox:base")
    images["app:1"] = lab.build("app:1", APP1_DOCKERFILE)
    images["app:2"] = lab.build("app:2", APP2_DOCKERFILE)
    images["tool:latest"] = lab.build("tool:latest", TOOL_DOCKERFILE)
    images["<dangling>"] = lab.build("dangle:latest", DANGLE_DOCKERFILE.format(word="first"))
    images["dangle:latest"] = lab.build("dangle:latest", DANGLE_DOCKERFILE.format(word="second"))

    # Untagged intermediate images the classic builder left for app:1 (RUN and ENV steps),
    # found by walking the Parent chain down from app:1.
    intermediate: dict[str, str] = {}
    parent = lab.api.inspect_image(images["app:1"])["Parent"]
    n = 0
    while parent and parent not in images.values():
        n += 1
        intermediate[f"app:1~{n}"] = parent
        parent = lab.api.inspect_image(parent)["Parent"]

    volumes: dict[str, str] = {}
    volumes["appdata"] = lab.cli("volume", "create", "appdata").strip()
    volumes["unused"] = lab.cli("volume", "create", "unused").strip()
    lab.run(
        "busybox:base",
        "sh",
        "-c",
        'echo "nobody uses this volume" > /u/readme.txt',
        options=["--rm", "-v", "unused:/u"],
        detach=False,
    )

    containers: dict[str, str] = {}
    # --stop-timeout: sleep as PID 1 ignores SIGTERM; keep daemon shutdown quick.
    containers["web"] = lab.run(
        "app:2",
        "sleep",
        "2147483647",
        name="web",
        options=["--stop-timeout", "1", "-v", "appdata:/data"],
    )
    lab.exec("web", "sh", "-c", WEB_SETUP)

    containers["job"] = lab.run(
        "tool:latest", "sh", "-c", JOB_SCRIPT, name="job", options=["-v", "/anon"]
    )
    lab.wait("job")
    job = lab.api.inspect_container(containers["job"])
    volumes["anon"] = next(m["Name"] for m in job["Mounts"] if m["Destination"] == "/anon")

    containers["fresh"] = lab.create("app:1", name="fresh")
    lab.cli("cp", "-", "fresh:/app", input=_tar_of({"added.txt": b"copied in by docker cp\n"}))

    for name, want in SAMPLE_STATES.items():
        got = _state(lab, containers[name])
        if got != want:
            raise AssertionError(f"container {name} is {got}, expected {want}")
    return {
        "images": images,
        "intermediate_images": intermediate,
        "containers": containers,
        "volumes": volumes,
    }


def _wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.1)


def build_extra_scenario(lab: PrivateDockerd) -> Scenario:
    """Objects only the tests use (never in the sample data): ``bk:1`` built by BuildKit
    with a ``RUN --mount=type=cache`` and a plain RUN, and ``rotlog``, an exited container
    whose json-file log rotated (``max-size=10k``, ``max-file=3``: ``-json.log``, ``.1``,
    ``.2``). Needs ``busybox:base`` from :func:`build_sample_scenario`."""
    images = {"bk:1": lab.build("bk:1", BK_DOCKERFILE, buildkit=True)}
    rotlog = lab.run(
        "busybox:base",
        "sh",
        "-c",
        'for i in $(seq 1 1500); do echo "rotating log line number $i"; done',
        name="rotlog",
        options=["--log-opt", "max-size=10k", "--log-opt", "max-file=3"],
    )
    lab.wait(rotlog)
    log_path: Any = lab.api.inspect_container(rotlog)["LogPath"]
    _wait_for(Path(f"{log_path}.2"))
    # A layer only BuildKit's cache holds: built by BuildKit, then its image removed (the
    # cache keeps the layer in layerdb). Its ChainID is recorded before the removal.
    lab.build("bkgone:1", BKGONE_DOCKERFILE, buildkit=True)
    diff_ids = lab.api.inspect_image("bkgone:1")["RootFS"]["Layers"]
    lab.cli("rmi", "bkgone:1")
    return {
        "images": images,
        "containers": {"rotlog": rotlog},
        "buildkit_only_layers": {"bkgone:1": _chain_id(diff_ids)},
    }


def _chain_id(diff_ids: list[str]) -> str:
    """The ChainID of the top layer of `diff_ids` (image-spec identity.ChainID)."""
    chain = diff_ids[0]
    for d in diff_ids[1:]:
        chain = "sha256:" + hashlib.sha256(f"{chain} {d}".encode()).hexdigest()
    return chain


def merge_scenarios(*parts: Scenario) -> Scenario:
    """Merge scenario dicts section by section (later parts win on a clash)."""
    merged: Scenario = {}
    for part in parts:
        for section, names in part.items():
            merged.setdefault(section, {}).update(names)
    return merged
