"""What each ``docker … prune`` would remove and free, computed before anything runs (pure).

Every command is replayed on its own copy of the root's state (:class:`removal.World`), the
way the daemon runs it; ``system prune`` runs its parts in the CLI's order (containers,
networks, volumes, images, build cache), each seeing what the previous ones left. For each:
the objects that go, ``reported`` (the SpaceReclaimed the daemon returns, i.e. what the CLI
prints as "Total reclaimed space": recorded layer sizes, SizeRw, volume and record sizes) and
``disk`` (the allocated bytes of the directories that go: layer dirs, containers' writable,
``-init`` and container dirs, volume dirs, BuildKit's snapshot dirs; metadata files of a few
KiB per object are not counted).

Which Docker does what:

- ``image``, ``container`` and ``builder`` prune behave alike from Docker 20.10 to 28 (graphdriver
  image store); the containerd image store (Docker 29's default) is not replayed.
- ``volume prune`` changed with Docker 23 (API 1.42, both client and daemon): it removes only
  *anonymous* volumes (those carrying the ``com.docker.volume.anonymous`` label Docker >= 23
  puts on them; ones created by an older Docker have no label and are kept) unless ``-a``;
  ``docker system prune --volumes`` then removes anonymous volumes only, even with ``-a``. Older
  Dockers (or an older client or daemon on either side) remove every unused local volume.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from inspector.analysis.removal import World
from inspector.analysis.results import Report

#: Docker versions each semantics is true of.
ALL_VERSIONS = "Docker 20.10 to 28"
NEW_VOLUMES = "Docker >= 23 (client and daemon: API >= 1.42)"
OLD_VOLUMES = "Docker <= 22, or an older client or daemon on either side (API < 1.42)"


@dataclass(frozen=True, slots=True)
class PruneCommand:
    """One prune command, replayed."""

    command: str
    """The command line, as typed (``docker image prune -a``)."""
    semantics: str
    """Which Docker versions behave as replayed, in words."""
    what: str
    """What it removes, in words."""
    containers: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    """Image IDs deleted."""
    untagged: tuple[str, ...] = ()
    """References removed (of deleted images, and of images that stay untagged or less tagged)."""
    volumes: tuple[str, ...] = ()
    build_cache: tuple[str, ...] = ()
    """Build-cache record IDs removed."""
    layers: tuple[str, ...] = ()
    """ChainIDs deleted from the layer store."""
    dirs: tuple[str, ...] = ()
    """Directories removed from disk."""
    reported: int = 0
    """SpaceReclaimed: what Docker will say it freed ("Total reclaimed space")."""
    reported_known: bool = True
    """False when part of `reported` is unknown offline (see `unknown`): it is then a minimum."""
    disk: int | None = None
    """Allocated bytes of `dirs` (None: the root was not measured)."""
    unknown: tuple[str, ...] = ()
    """What was counted as 0 in `reported` because its size is not known offline."""
    supported: bool = True
    """False when the command cannot be replayed on this root (see `what`)."""


@dataclass(frozen=True, slots=True)
class PrunePreview:
    """Every prune command's outcome on one root."""

    commands: tuple[PruneCommand, ...]
    notes: tuple[str, ...] = ()


def _run(
    report: Report,
    command: str,
    semantics: str,
    what: str,
    steps: Callable[[World], None],
) -> PruneCommand:
    world = World(report)
    steps(world)
    j = world.journal
    return PruneCommand(
        command=command,
        semantics=semantics,
        what=what,
        containers=tuple(j.containers),
        images=tuple(j.images),
        untagged=tuple(j.untagged),
        volumes=tuple(j.volumes),
        build_cache=tuple(j.records),
        layers=tuple(j.layers),
        dirs=tuple(dict.fromkeys(j.dirs)),
        reported=j.reported,
        reported_known=not j.unknown,
        disk=world.disk(j.dirs),
        unknown=tuple(j.unknown),
    )


def _system(anonymous_only: bool) -> Callable[[World], None]:
    def steps(w: World) -> None:
        w.prune_containers()
        w.prune_volumes(anonymous_only)
        w.prune_images(all_images=True)
        w.prune_builder(all_records=True)

    return steps


def preview(report: Report) -> PrunePreview:
    """What each prune command would remove and free on `report`'s root."""
    graphdriver = World(report).graphdriver
    cmds: list[PruneCommand] = [
        _run(
            report,
            "docker container prune",
            ALL_VERSIONS,
            "every stopped container (not running, paused or restarting); their anonymous "
            "volumes stay",
            World.prune_containers,
        ),
    ]
    if graphdriver:
        cmds += [
            _run(
                report,
                "docker image prune",
                ALL_VERSIONS,
                "dangling images (no tag, no child image) no container uses, and the untagged "
                "parents only they had",
                lambda w: w.prune_images(all_images=False),
            ),
            _run(
                report,
                "docker image prune -a",
                ALL_VERSIONS,
                "every image no container uses (a used image with several tags loses all but "
                "its last), and untagged parents only they had",
                lambda w: w.prune_images(all_images=True),
            ),
        ]
    else:
        cmds += [
            PruneCommand(
                command=c,
                semantics="containerd image store",
                what="not replayed: this root uses the containerd image store",
                supported=False,
            )
            for c in ("docker image prune", "docker image prune -a")
        ]
    cmds += [
        _run(
            report,
            "docker volume prune",
            NEW_VOLUMES,
            "unused local volumes without options that carry the anonymous label",
            lambda w: w.prune_volumes(anonymous_only=True),
        ),
        _run(
            report,
            "docker volume prune -a",
            f"{NEW_VOLUMES}; plain `docker volume prune` on {OLD_VOLUMES}",
            "every unused local volume without options, named or anonymous",
            lambda w: w.prune_volumes(anonymous_only=False),
        ),
    ]
    if graphdriver:
        cmds += [
            _run(
                report,
                "docker builder prune",
                ALL_VERSIONS,
                "build cache records no image shares and nothing holds (not the internal and "
                "frontend ones)",
                lambda w: w.prune_builder(all_records=False),
            ),
            _run(
                report,
                "docker builder prune -a",
                ALL_VERSIONS,
                "every build cache record nothing holds",
                lambda w: w.prune_builder(all_records=True),
            ),
            _run(
                report,
                "docker system prune -a --volumes",
                NEW_VOLUMES,
                "container prune, then volume prune (anonymous volumes only, even with -a), "
                "image prune -a, builder prune -a (unused networks too: no bytes)",
                _system(anonymous_only=True),
            ),
            _run(
                report,
                "docker system prune -a --volumes",
                OLD_VOLUMES,
                "container prune, then volume prune (every unused volume), image prune -a, "
                "builder prune -a (unused networks too: no bytes)",
                _system(anonymous_only=False),
            ),
        ]
    else:
        # BuildKit's records are listed in this mode, but what containerd's collector frees
        # once their leases go was not checked against a real Docker 29: said, not guessed.
        cmds += [
            PruneCommand(
                command=c,
                semantics="containerd image store",
                what="not replayed: this root uses the containerd image store",
                supported=False,
            )
            for c in (
                "docker builder prune",
                "docker builder prune -a",
                "docker system prune -a --volumes",
            )
        ]
    notes: list[str] = []
    unlabelled = sorted(
        v.name
        for v in report.inventory.volumes.values()
        if v.anonymous and "com.docker.volume.anonymous" not in v.labels
    )
    if unlabelled:
        notes.append(
            f"{len(unlabelled)} anonymous volume(s) have no com.docker.volume.anonymous label "
            "(made by Docker < 23): Docker >= 23 removes them only with `docker volume prune "
            "-a`"
        )
    if report.measurements is None:
        notes.append("sizes were not measured (--no-sizes): bytes on disk are unknown")
    return PrunePreview(tuple(cmds), tuple(notes))


__all__ = ["PruneCommand", "PrunePreview", "preview"]
