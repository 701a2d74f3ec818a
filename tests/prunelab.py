"""A small root for the prune preview, and throw-away daemons on copies of it.

:func:`build_prune_scenario` fills a fresh :class:`dockerlab.PrivateDockerd` with what every
prune command has something to say about: dangling and intermediate images, a dangling image a
stopped container still uses, a multi-tagged image a running container uses, unused tagged
images sharing layers, BuildKit cache (a cache mount, a layer only the cache holds), running /
exited / created containers, named, anonymous, labelled-anonymous and optioned volumes.
Build-cache sizes are made known (``/system/df`` computes and stores them), then the daemon is
stopped, so that :func:`daemon_on_copy` can start a short-lived daemon on a copy of that root
for each destructive command.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from dockerlab import PrivateDockerd, copy_tree

APP = """\
FROM busybox:base
RUN mkdir -p /app && yes "app" | head -c 20000 > /app/data.txt
ENV APP=1
"""

APP2 = """\
FROM app:1
RUN yes "two" | head -c 5000 > /app/two.txt
"""

TOOL = """\
FROM busybox:base
RUN mkdir -p /opt && yes "tool" | head -c 65536 > /opt/tool.bin
"""

# FROM tool: shares tool's layers; removing both frees the shared RUN layer once.
TOOL2 = """\
FROM tool:1
RUN yes "tool2" | head -c 3000 > /opt/tool2.bin
"""

DANGLE = """\
FROM busybox:base
RUN yes {word} | head -c {size} > /dangle.txt
"""

BK = """\
FROM busybox:base
RUN --mount=type=cache,target=/cache yes cached | head -c 7000 > /cache/stamp.txt && ls /cache
RUN mkdir -p /bk && yes buildkit | head -c 9000 > /bk/hello.txt
"""

BKGONE = """\
FROM busybox:base
RUN yes gone | head -c 30000 > /gone.bin
"""

#: The label Docker >= 23 puts on anonymous volumes (its `volume prune` removes only these).
ANON_LABEL = "com.docker.volume.anonymous"


def build_prune_scenario(lab: PrivateDockerd) -> dict[str, str]:
    """Fill `lab` (fresh) and return names → IDs; the daemon is left running."""
    ids: dict[str, str] = {}
    ids["busybox:base"] = lab.import_busybox("busybox:base")
    ids["app:1"] = lab.build("app:1", APP)
    ids["app:2"] = lab.build("app:2", APP2)
    lab.cli("tag", "app:2", "app:latest")  # two tags of an image a running container uses
    ids["tool:1"] = lab.build("tool:1", TOOL)
    ids["tool2:1"] = lab.build("tool2:1", TOOL2)
    lab.cli("tag", "tool:1", "tool:alias")
    ids["dangle-old"] = lab.build("dangle:1", DANGLE.format(word="old", size=11000))
    ids["dangle:1"] = lab.build("dangle:1", DANGLE.format(word="new", size=12000))
    ids["useddangle-old"] = lab.build("useddangle:1", DANGLE.format(word="u1", size=4000))
    ids["bk:1"] = lab.build("bk:1", BK, buildkit=True)
    lab.build("bkgone:1", BKGONE, buildkit=True)
    lab.cli("rmi", "bkgone:1")

    lab.cli("volume", "create", "appdata")
    lab.cli("volume", "create", "lonely")
    lab.cli("volume", "create", "--label", f"{ANON_LABEL}=", "labelled")
    lab.cli("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "optioned")
    for vol, size in (("lonely", 5000), ("labelled", 6000)):
        lab.run(
            "busybox:base",
            "sh",
            "-c",
            f"yes {vol} | head -c {size} > /v/data",
            options=["--rm", "-v", f"{vol}:/v"],
            detach=False,
        )
    # An anonymous volume nothing uses any more: its container was removed without -v.
    gone = lab.run(
        "busybox:base", "sh", "-c", "yes anon | head -c 7000 > /anon/data", options=["-v", "/anon"]
    )
    lab.wait(gone)
    ids["anon-volume"] = next(
        m["Name"] for m in lab.api.inspect_container(gone)["Mounts"] if m["Destination"] == "/anon"
    )
    lab.cli("rm", gone)

    # Running again after every daemon start (the copies below start one each); it writes
    # nothing when it starts, so a copy's root is still while it is read.
    ids["runner"] = lab.run(
        "app:2",
        "sleep",
        "2147483647",
        name="runner",
        options=["--restart", "always", "--stop-timeout", "1", "-v", "appdata:/data"],
    )
    lab.exec("runner", "sh", "-c", "yes rw | head -c 8000 > /rw.txt")
    ids["stopped"] = lab.run(
        "tool:1",
        "sh",
        "-c",
        "yes stopped | head -c 9000 > /s.txt; echo anon > /anon2/x",
        name="stopped",
        options=["-v", "/anon2"],
    )
    lab.wait("stopped")
    ids["anon2-volume"] = next(
        m["Name"]
        for m in lab.api.inspect_container(ids["stopped"])["Mounts"]
        if m["Destination"] == "/anon2"
    )
    ids["created"] = lab.create("app:1", name="created")
    ids["onold"] = lab.run(
        ids["useddangle-old"], "sh", "-c", "yes old | head -c 3000 > /o.txt", name="onold"
    )
    lab.wait("onold")
    ids["useddangle:1"] = lab.build("useddangle:1", DANGLE.format(word="u2", size=4500))
    lab.api.df()  # BuildKit computes and stores its records' sizes when first asked
    return ids


@contextlib.contextmanager
def daemon_on_copy(src_root: Path, base: Path) -> Iterator[PrivateDockerd]:
    """A private dockerd on a copy of `src_root` (a stopped daemon's root), stopped after."""
    if base.exists():
        shutil.rmtree(base)
    copy_tree(src_root, base / "root")
    lab = PrivateDockerd(base)
    lab.start()
    try:
        deadline = time.monotonic() + 30
        while not lab.api.inspect_container("runner")["State"]["Running"]:
            if time.monotonic() > deadline:
                raise AssertionError(f"the runner container did not restart\n{lab.log_tail()}")
            time.sleep(0.1)
        yield lab
    finally:
        lab.stop()
        lab.release_leftover_mounts()
