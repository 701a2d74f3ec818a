"""Ask a running Docker daemon for its view and compare it with the offline one.

The only module that talks to a daemon (and the only one importing the `docker` SDK, lazily:
the offline commands never need it). `connect` and `fetch` do the talking; `compare` is pure
and turns every difference into a `daemon_mismatch` finding carrying both numbers.

What is compared (the numbers `docker system df -v` and `docker inspect` show):

- `LayersSize` (df) with the offline images total;
- each listed image: presence, `Size`, `SharedSize`, `Containers`;
- each image layer's own size (the image history API's `Size`, which is the layer's
  recorded size), so a difference points at the layer that causes it;
- each container: presence, `SizeRw`, `SizeRootFs`;
- each volume `docker system df` lists: presence, `UsageData.Size`, `UsageData.RefCount`;
- layer directories: `GraphDriver.Data` `UpperDir`/`LowerDir` of images and containers with
  the storage dirs the offline view links them to (by directory name, so that a copy of the
  root can be compared with the daemon that wrote it).

A daemon changes its root while we read it: a difference on a live daemon can be an object
created or removed between the offline scan and the API calls. Run the audit again before
acting on one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

# DaemonView and Mismatch are results (analysis.results) so that the presenters can show them
# without importing this module; it produces them, and re-exports them for its callers.
from inspector.analysis.results import (
    DaemonView,
    Finding,
    ImageRow,
    Kind,
    Mismatch,
    Report,
    Severity,
)
from inspector.errors import DaemonError

#: Seconds to wait for an API answer: `/system/df` walks every layer on a big host.
API_TIMEOUT = 600


class DaemonClient:
    """A connected Engine API client (wraps `docker.APIClient`)."""

    def __init__(self, api: Any, host: str) -> None:
        self._api = api
        self.host = host

    def close(self) -> None:
        """Close the HTTP session."""
        # Closing must never mask the audit's result.
        with contextlib.suppress(Exception):
            self._api.close()

    def fetch(self) -> DaemonView:
        """`/info`, `/system/df`, and inspect + history of every object df lists."""
        from docker.errors import DockerException, NotFound

        try:
            info = self._api.info()
            version = self._api.version()
            df = self._api.df()
            images: dict[str, Mapping[str, Any]] = {}
            history: dict[str, Sequence[Mapping[str, Any]]] = {}
            for img in df.get("Images") or []:
                iid = img.get("Id", "")
                # An object removed between df and inspect is simply left out: compare()
                # then reports it as present on one side only, which is what happened.
                try:
                    images[iid] = self._api.inspect_image(iid)
                    history[iid] = self._api.history(iid)
                except NotFound:
                    continue
            containers: dict[str, Mapping[str, Any]] = {}
            for c in df.get("Containers") or []:
                cid = c.get("Id", "")
                try:
                    containers[cid] = self._api.inspect_container(cid)
                except NotFound:
                    continue
        except DockerException as e:
            raise DaemonError(f"Docker daemon at {self.host}: {e}") from e
        except OSError as e:  # requests' errors are IOError subclasses
            raise DaemonError(f"Docker daemon at {self.host}: {e}") from e
        return DaemonView(
            host=self.host,
            root_dir=str(info.get("DockerRootDir", "")),
            driver=str(info.get("Driver", "")),
            server_version=str(version.get("Version", "")),
            df=df,
            images=images,
            history=history,
            containers=containers,
        )


def connect(host: str | None = None, timeout: int = API_TIMEOUT) -> DaemonClient:
    """Connect to the daemon at `host`, else the one DOCKER_HOST (and DOCKER_TLS_VERIFY,
    DOCKER_CERT_PATH) names, else the default socket; DaemonError if it does not answer."""
    import docker
    from docker.errors import DockerException

    try:
        kwargs: dict[str, Any] = docker.utils.kwargs_from_env()
    except DockerException as e:
        raise DaemonError(f"invalid Docker environment (DOCKER_HOST/DOCKER_CERT_PATH): {e}") from e
    if host:
        kwargs["base_url"] = host
    url = str(kwargs.get("base_url") or "unix:///var/run/docker.sock")
    try:
        # version="auto" asks /version right away: an unreachable daemon fails here, early.
        api = docker.APIClient(version="auto", timeout=timeout, **kwargs)
    except DockerException as e:
        raise DaemonError(f"cannot reach the Docker daemon at {url}: {e}") from e
    except OSError as e:
        raise DaemonError(f"cannot reach the Docker daemon at {url}: {e}") from e
    return DaemonClient(api, url)


# ---------------------------------------------------------------------------- comparison


def _dir_name(path: str) -> str:
    """`…/overlay2/<id>/diff` → `<id>` (the storage dir, wherever the root lives)."""
    p = path.rstrip("/")
    if os.path.basename(p) == "diff":
        p = os.path.dirname(p)
    return os.path.basename(p)


def _dir_names(paths: Sequence[str | None]) -> str:
    return ":".join(_dir_name(p) if p else "-" for p in paths)


def _api_dirs(data: Mapping[str, Any] | None) -> str | None:
    """UpperDir then LowerDir entries as one `:`-joined list of dir names."""
    if not data or "UpperDir" not in data:
        return None
    dirs = [str(data["UpperDir"])]
    lower = data.get("LowerDir")
    if lower:
        dirs += str(lower).split(":")
    return _dir_names(dirs)


def _image_name(row: ImageRow | None, api: Mapping[str, Any] | None) -> str:
    if row is not None and row.image.tags:
        return sorted(row.image.tags)[0]
    tags = [t for t in (api or {}).get("RepoTags") or [] if t != "<none>:<none>"]
    return sorted(tags)[0] if tags else "<none>"


def _layer_sizes_from_history(
    row: ImageRow, hist: Sequence[Mapping[str, Any]]
) -> Iterator[tuple[str, int]]:
    """(ChainID, daemon size) for the image's layers, from the history API.

    The daemon walks the config's history oldest first and gives each entry that is not
    `empty_layer` the size of the next layer of the chain; the API returns the list newest
    first. The offline config has the same history, so the same walk pairs them up.
    """
    entries = list(reversed(hist))
    if len(entries) != len(row.image.history):
        return
    k = 0
    for ours, theirs in zip(row.image.history, entries, strict=True):
        if ours.empty_layer:
            continue
        if k >= len(row.chain):
            return
        size = theirs.get("Size")
        if isinstance(size, int):
            yield row.chain[k], size
        k += 1


def compare(report: Report, view: DaemonView) -> list[Mismatch]:
    """Every difference between the daemon's view and the offline report."""
    out: list[Mismatch] = []
    inv = report.inventory
    root = inv.root.path
    df = view.df

    def add(
        otype: str,
        oid: str,
        name: str,
        fld: str,
        daemon: int | str | None,
        offline: int | str | None,
        path: str,
    ) -> None:
        if daemon != offline:
            out.append(Mismatch(otype, oid, name, fld, daemon, offline, path))

    ours_driver = inv.root.storage_driver or ""
    add("daemon", view.host, "", "Driver", view.driver, ours_driver, root)
    layers_size = df.get("LayersSize")
    if isinstance(layers_size, int):
        add(
            "system",
            "LayersSize",
            "",
            "LayersSize",
            layers_size,
            report.totals.docker_images_size,
            os.path.join(root, "image"),
        )

    # Images: the ones `docker images` lists (intermediate images are not in df).
    rows = {r.image.id: r for r in report.images}
    listed = {iid for iid, r in rows.items() if r.listed}
    api_images = {str(i.get("Id", "")): i for i in df.get("Images") or []}
    layer_rows = {r.layer.chain_id: r for r in report.layers}
    layer_seen: set[str] = set()
    for iid in sorted(listed | set(api_images)):
        row = rows.get(iid)
        api = api_images.get(iid)
        name = _image_name(row, api)
        path = row.image.config_path if row else os.path.join(root, "image")
        if row is None or iid not in listed or api is None:
            ours_present = "yes" if iid in listed else ("intermediate" if row else "no")
            add("image", iid, name, "present", "yes" if api else "no", ours_present, path)
            continue
        add("image", iid, name, "Size", api.get("Size"), row.size, path)
        add("image", iid, name, "SharedSize", api.get("SharedSize"), row.shared_size, path)
        add("image", iid, name, "Containers", api.get("Containers"), len(row.containers), path)
        ins = view.images.get(iid)
        if ins is not None:
            want = _api_dirs((ins.get("GraphDriver") or {}).get("Data"))
            if want is not None:
                ours = [layer_rows[ch].diff_dir if ch in layer_rows else None for ch in row.chain]
                add("image", iid, name, "UpperDir:LowerDir", want, _dir_names(ours[::-1]), path)
        for chain, size in _layer_sizes_from_history(row, view.history.get(iid, ())):
            if chain in layer_seen:
                continue
            layer_seen.add(chain)
            lr = layer_rows.get(chain)
            lpath = os.path.join(lr.layer.metadata_dir, "size") if lr else path
            add("layer", chain, name, "size", size, lr.size if lr else None, lpath)

    # Containers.
    crows = {r.container.id: r for r in report.containers}
    api_cs = {str(c.get("Id", "")): c for c in df.get("Containers") or []}
    images_by_id = {r.image.id: r for r in report.images}
    for cid in sorted(set(crows) | set(api_cs)):
        crow = crows.get(cid)
        capi = api_cs.get(cid)
        names = (capi or {}).get("Names") or []
        cname = crow.container.name if crow else (str(names[0]).lstrip("/") if names else "")
        cpath = crow.container.dir if crow else os.path.join(root, "containers", cid)
        if crow is None or capi is None:
            add("container", cid, cname, "present", "yes" if capi else "no",
                "yes" if crow else "no", cpath)  # fmt: skip
            continue
        add("container", cid, cname, "SizeRw", capi.get("SizeRw", 0), crow.size_rw, cpath)
        add("container", cid, cname, "SizeRootFs", capi.get("SizeRootFs"), crow.virtual_size, cpath)
        cins = view.containers.get(cid)
        if cins is not None:
            want = _api_dirs((cins.get("GraphDriver") or {}).get("Data"))
            img = images_by_id.get(crow.container.image_id)
            if want is not None and img is not None:
                image_dirs = [
                    layer_rows[ch].diff_dir if ch in layer_rows else None for ch in img.chain
                ]
                mine: list[str | None] = [crow.rw_dir]
                if crow.init_dir:
                    mine.append(crow.init_dir)
                mine += image_dirs[::-1]
                add("container", cid, cname, "UpperDir:LowerDir", want, _dir_names(mine), cpath)

    # Volumes: df lists local volumes created without options (VolumeRow.in_docker_df).
    vrows = {r.volume.name: r for r in report.volumes if r.in_docker_df}
    api_vs = {str(v.get("Name", "")): v for v in df.get("Volumes") or []}
    for vname in sorted(set(vrows) | set(api_vs)):
        vrow = vrows.get(vname)
        vapi = api_vs.get(vname)
        vpath = vrow.volume.path if vrow else os.path.join(root, "volumes", vname)
        if vrow is None or vapi is None:
            add("volume", vname, vname, "present", "yes" if vapi else "no",
                "yes" if vrow else "no", vpath)  # fmt: skip
            continue
        usage = vapi.get("UsageData") or {}
        add("volume", vname, vname, "Size", usage.get("Size"), vrow.size, vpath)
        add("volume", vname, vname, "RefCount", usage.get("RefCount"), vrow.links, vpath)
    return out


#: Compared fields that are byte counts (a finding's `bytes` is then the difference).
BYTE_FIELDS = frozenset({"LayersSize", "Size", "SharedSize", "size", "SizeRw", "SizeRootFs"})

REMEDY = (
    "Nothing to delete. If the daemon was creating or removing objects during the audit, run "
    "it again; a difference that stays means the offline metadata ({path}) and the daemon "
    "disagree (an edited or corrupted file, or a root that is not the daemon's): check that "
    "file and `docker system df -v` / `docker inspect`."
)


def finding(m: Mismatch) -> Finding:
    """A mismatch as a `daemon_mismatch` finding; `bytes` is the size difference, if any."""
    diff = 0
    extra = ""
    if m.field in BYTE_FIELDS and isinstance(m.daemon, int) and isinstance(m.offline, int):
        diff = m.offline - m.daemon
        extra = f" (offline {diff:+d} bytes)"
    return Finding(
        Kind.DAEMON_MISMATCH,
        Severity.WARNING,
        m.path,
        abs(diff),
        0,
        f"{m.label()} {m.field}: daemon says {m.daemon}, offline view says {m.offline}{extra}",
        REMEDY.format(path=m.path),
        object_id=m.object_id,
        reclaimable=False,
    )


__all__ = ["DaemonClient", "DaemonView", "Mismatch", "compare", "connect", "finding"]
