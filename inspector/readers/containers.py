"""Read containers/<id>/: config.v2.json, hostconfig.json and the log files beside them."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inspector.errors import ReaderError
from inspector.ids import HEX64
from inspector.model import Container, LogFile, MountPoint, Skipped
from inspector.readers import fs, limits
from inspector.readers.entrycache import EntryCache, Section

CONFIG_CAP = fs.JSON_CAP
HOSTCONFIG_CAP = 4 * 1024 * 1024
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass
class ContainerArea:
    """All of containers/."""

    containers: dict[str, Container] = field(default_factory=dict)
    without_config: list[Skipped] = field(default_factory=list)
    """containers/<id> dirs whose config.v2.json is missing or unusable."""
    skipped: list[Skipped] = field(default_factory=list)


def _s(v: Any) -> str:
    return v if isinstance(v, str) else ""


def state_string(state: Mapping[str, Any]) -> str:
    """Docker's State.StateString(): the words `docker ps` shows as Status."""
    if state.get("Running") is True:
        if state.get("Paused") is True:
            return "paused"
        if state.get("Restarting") is True:
            return "restarting"
        return "running"
    if state.get("RemovalInProgress") is True:
        return "removing"
    if state.get("Dead") is True:
        return "dead"
    started = _s(state.get("StartedAt"))
    if not started or started.startswith("0001-01-01"):
        return "created"
    return "exited"


def _mounts(v: Any, notes: list[str]) -> tuple[MountPoint, ...]:
    if not isinstance(v, Mapping):
        return ()
    out: list[MountPoint] = []
    limits.cut_members(v, "MountPoints", notes)
    for dest, mp in v.items():
        if not isinstance(mp, Mapping):
            continue
        out.append(
            MountPoint(
                destination=limits.cut(_s(mp.get("Destination")) or str(dest)),
                type=limits.cut(_s(mp.get("Type")) or ("volume" if mp.get("Name") else "bind")),
                name=limits.cut(_s(mp.get("Name"))),
                source=limits.cut(_s(mp.get("Source"))),
                driver=limits.cut(_s(mp.get("Driver"))),
                rw=bool(mp.get("RW", True)),
            )
        )
    out.sort(key=lambda m: m.destination)
    return tuple(out)


def _logs(cdir: str, cid: str, where: fs.Dir | None = None) -> tuple[LogFile, ...]:
    """json-file logs (<id>-json.log, .N, .N.gz) and the local driver's local-logs/.

    `where`: the container dir, open (names are then looked at relative to it).
    """
    if where is not None:
        return _logs_in(where, cid)
    out: list[LogFile] = []
    prefix = f"{cid}-json.log"
    try:
        names = fs.list_dir(cdir)
    except ReaderError:
        names = []
    candidates = [os.path.join(cdir, n) for n in names if n.startswith(prefix)]
    local = os.path.join(cdir, "local-logs")
    with contextlib.suppress(ReaderError):
        candidates += [
            os.path.join(local, n) for n in fs.list_dir(local) if n.startswith("container.log")
        ]
    for path in candidates:
        try:
            st = fs.lstat_or_none(path)
        except ReaderError:
            continue  # local-logs/ swapped for a symlink after its listing: not followed
        if st is None or not stat.S_ISREG(st.st_mode):
            continue
        out.append(LogFile(path, st.st_size, st.st_blocks * 512))
    return tuple(out)


def _logs_in(d: fs.Dir, cid: str) -> tuple[LogFile, ...]:
    """:func:`_logs` relative to the open container dir (no path resolved again)."""
    out: list[LogFile] = []
    prefix = f"{cid}-json.log"
    try:
        names = d.names()
    except ReaderError:
        names = []
    found = [(d, n) for n in names if n.startswith(prefix)]
    local: fs.Dir | None = None
    if "local-logs" in names:
        with contextlib.suppress(FileNotFoundError, ReaderError):
            local = d.sub("local-logs")  # never through a symlink
    try:
        if local is not None:
            with contextlib.suppress(ReaderError):
                found += [(local, n) for n in local.names() if n.startswith("container.log")]
        for where, name in found:
            try:
                st = where.lstat(name)
            except OSError:
                continue
            if st is None or not stat.S_ISREG(st.st_mode):
                continue
            out.append(LogFile(f"{where.path}/{name}", st.st_size, st.st_blocks * 512))
    finally:
        if local is not None:
            local.close()
    return tuple(out)


def parse_container(
    cid: str, cdir: str, raw: bytes, host_raw: bytes | None, where: fs.Dir | None = None
) -> Container:
    """Build a Container from config.v2.json (+ hostconfig.json) bytes; ReaderError if unusable.

    `where`: the container dir, open (its logs are looked up relative to it).
    """
    path = os.path.join(cdir, "config.v2.json")
    try:
        doc = limits.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ReaderError(f"{path}: invalid JSON ({e})") from e
    if not isinstance(doc, dict):
        raise ReaderError(f"{path}: not a JSON object")
    if doc.get("ID") != cid:
        raise ReaderError(f"{path}: ID {str(doc.get('ID'))[:80]!r} differs from the directory name")
    state = doc.get("State") if isinstance(doc.get("State"), dict) else {}
    assert isinstance(state, dict)
    cfg = doc.get("Config") if isinstance(doc.get("Config"), dict) else {}
    assert isinstance(cfg, dict)
    notes: list[str] = []
    log_driver = "json-file"
    log_opts: dict[str, str] = {}
    auto_remove = False
    if host_raw is not None:
        try:
            host = limits.loads(host_raw)
        except (ValueError, RecursionError):
            host = None
        if isinstance(host, dict):
            lc = host.get("LogConfig")
            if isinstance(lc, dict):
                log_driver = limits.cut(_s(lc.get("Type"))) or log_driver
                log_opts = limits.str_map(lc.get("Config"), "HostConfig.LogConfig", notes)
            auto_remove = host.get("AutoRemove") is True
    pid = state.get("Pid")
    code = state.get("ExitCode")
    labels = limits.str_map(cfg.get("Labels"), "Config.Labels", notes)
    mounts = _mounts(doc.get("MountPoints"), notes)
    return Container(
        id=cid,
        dir=cdir,
        name=limits.cut(_s(doc.get("Name")).removeprefix("/")),
        image_id=limits.cut(_s(doc.get("Image"))),
        image_ref=limits.cut(_s(cfg.get("Image"))),
        state=state_string(state),
        created=limits.cut(_s(doc.get("Created"))) or None,
        driver=limits.cut(_s(doc.get("Driver"))),
        running_pid=pid if isinstance(pid, int) else 0,
        exit_code=code if isinstance(code, int) else 0,
        labels=labels,
        mounts=mounts,
        log_driver=log_driver,
        log_opts=log_opts,
        log_path=limits.cut(_s(doc.get("LogPath"))),
        logs=_logs(cdir, cid, where),
        auto_remove=auto_remove,
        truncated=tuple(notes),
    )


def read_one(cdir: str, parent: fs.Dir | None = None) -> Container:
    """Read containers/<id> (config.v2.json + hostconfig.json).

    FileNotFoundError if config.v2.json does not exist; ReaderError if it is unusable.
    `parent`: the open containers/ dir. The container dir is opened once and its files
    read relative to it (1,000 containers on a big host); if it cannot be opened, the
    path-based reads say why, naming the file, as they always did.
    """
    try:
        d: fs.Dir | None = fs.Dir(cdir, parent)
    except ReaderError:
        d = None
    try:
        if d is not None:
            raw = d.read_bytes("config.v2.json", CONFIG_CAP)
        else:
            raw = fs.read_bytes(os.path.join(cdir, "config.v2.json"), CONFIG_CAP)
        try:
            host_raw: bytes | None = (
                d.read_bytes("hostconfig.json", HOSTCONFIG_CAP)
                if d is not None
                else fs.read_bytes(os.path.join(cdir, "hostconfig.json"), HOSTCONFIG_CAP)
            )
        except (FileNotFoundError, ReaderError):
            host_raw = None
        return parse_container(os.path.basename(cdir), cdir, raw, host_raw, d)
    finally:
        if d is not None:
            d.close()


def read_containers(containers_dir: str, cache: EntryCache | None = None) -> ContainerArea:
    """Read every containers/<id>; unreadable configs become `without_config` entries.

    `cache`: a container whose dir is unchanged since a previous run (the daemon rewrites
    config.v2.json and hostconfig.json by rename, which changes the dir) is taken from it;
    its logs, which grow in place, are looked at every time.
    """
    area = ContainerArea()
    try:
        top = fs.Dir(containers_dir)
    except FileNotFoundError:
        return area
    except ReaderError as e:
        area.skipped.append(Skipped(containers_dir, str(e)))
        return area
    with top:
        try:
            names = top.names()
        except ReaderError as e:
            area.skipped.append(Skipped(containers_dir, str(e)))
            return area
        sec = cache.section("containers", Container, {"mounts": MountPoint}) if cache else None
        _read_entries(area, containers_dir, top, names, sec)
    return area


#: The files a container's record is read from: their own identity is part of its key (a
#: mode or content changed in place does not change the dir).
_CONFIG_FILES = ("config.v2.json", "hostconfig.json")


def _cached(
    sec: Section[Container], name: str, cdir: str, st: os.stat_result, top: fs.Dir
) -> tuple[Container | None, tuple[os.stat_result | None, ...] | None]:
    """The kept container with its logs looked at now, else None and the config files'
    lstats to store its record under (None: they could not be looked at)."""
    try:
        with fs.Dir(cdir, top) as d:
            files = tuple(d.lstat(n) for n in _CONFIG_FILES)
            hit = sec.lookup(name, st, *files)
            if hit is None or hit.dir != cdir:
                return None, files
            return dataclasses.replace(hit, logs=_logs_in(d, name)), files
    except (OSError, ReaderError):
        return None, None


def _read_entries(
    area: ContainerArea,
    containers_dir: str,
    top: fs.Dir,
    names: list[str],
    sec: Section[Container] | None = None,
) -> None:
    # Each entry lstat'ed and opened relative to the open containers/ dir.
    for name in names:
        cdir = os.path.join(containers_dir, name)
        try:
            st = top.lstat(name)
        except OSError as e:
            area.skipped.append(Skipped(cdir, e.strerror or str(e)))
            continue
        if st is None:
            continue
        if not HEX64.fullmatch(name):
            area.skipped.append(
                Skipped(cdir, "unexpected entry in containers/ (not a container ID)")
            )
            continue
        if not stat.S_ISDIR(st.st_mode):
            what = "a symlink (not followed)" if stat.S_ISLNK(st.st_mode) else "not a directory"
            area.skipped.append(Skipped(cdir, f"container entry is {what}"))
            continue
        files: tuple[os.stat_result | None, ...] | None = None
        if sec is not None:
            hit, files = _cached(sec, name, cdir, st, top)
            if hit is not None:
                area.containers[name] = hit
                continue
        try:
            found = read_one(cdir, top)
            area.containers[name] = found
            if sec is not None and files is not None:
                sec.store(name, st, dataclasses.replace(found, logs=()), *files)
        except FileNotFoundError:
            try:
                gone = top.lstat(name) is None
            except OSError:
                gone = False  # there, but not readable as we would like
            if gone:
                continue  # removed while we read
            area.without_config.append(Skipped(cdir, "config.v2.json is missing"))
        except ReaderError as e:
            area.without_config.append(Skipped(cdir, str(e)))
