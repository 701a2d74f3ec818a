"""Open a data root: check it is readable and detect the storage driver and image store."""

from __future__ import annotations

import dataclasses
import os
import stat

from inspector.errors import ReaderError, RootError
from inspector.model import DaemonConfig, ImageStore, RootInfo
from inspector.readers import containerd, fs, limits

#: Graphdrivers in the daemon's priority order, then legacy ones.
SUPPORTED_DRIVERS = ("overlay2", "vfs")
KNOWN_DRIVERS = (
    "overlay2",
    "fuse-overlayfs",
    "btrfs",
    "zfs",
    "vfs",
    "aufs",
    "devicemapper",
    "overlay",
)
SNAPSHOTTER_DRIVERS = ("overlayfs", "native", "stargz")


def _is_nonempty_dir(path: str) -> bool:
    try:
        st = fs.lstat_or_none(path)
        if st is None or not stat.S_ISDIR(st.st_mode):
            return False
        names = fs.list_dir(path)
    except ReaderError:
        return True  # unreadable but present: assume it holds data
    return any(n not in ("l", "backingFsBlockDev") for n in names)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return fs.lstat_or_none(path)
    except (OSError, ReaderError):
        return None  # unreadable, or a symlink on the way (not followed): no sign of anything


def _container_drivers(root: str) -> set[str]:
    """Driver names recorded in containers' config.v2.json (rule 1 of the store detection)."""
    found: set[str] = set()
    cdir = os.path.join(root, "containers")
    try:
        names = fs.list_dir(cdir)
    except ReaderError:
        return found
    for name in names[:200]:  # a sample is enough to tell the store
        try:
            raw = fs.read_bytes(os.path.join(cdir, name, "config.v2.json"), fs.JSON_CAP)
            doc = limits.loads(raw)
        except (OSError, ReaderError, ValueError, RecursionError):
            continue  # a deeply nested document overflows the JSON decoder's stack
        drv = doc.get("Driver") if isinstance(doc, dict) else None
        if isinstance(drv, str) and drv:
            found.add(drv)
    return found


def open_root(path: str, containerd_root: str | None = None) -> RootInfo:
    """Check that `path` looks like a Docker data root and describe its layout.

    `containerd_root` (``--containerd-root``) names the containerd root of the image store;
    without it, it is detected (see :func:`inspector.readers.containerd.find_root`).
    """
    root = os.path.abspath(path)
    _check_dir(root)
    with fs.anchored(root):
        return _describe(root, containerd_root)


def _check_dir(root: str) -> None:
    """RootError unless `root` is a directory this user may list."""
    try:
        st = os.lstat(root)
    except (FileNotFoundError, NotADirectoryError):
        raise RootError(f"{root}: no such directory") from None
    except OSError as e:
        raise RootError(f"{root}: {e.strerror}") from e
    if stat.S_ISLNK(st.st_mode):
        # The root itself is the operator's choice; follow it once, but only here.
        st = os.stat(root)
    if not stat.S_ISDIR(st.st_mode):
        raise RootError(f"{root}: not a directory")
    try:
        os.listdir(root)
    except PermissionError as e:
        raise RootError(
            f"{root}: permission denied; run as root (sudo docker-inspector …) "
            "or point --root at a readable copy"
        ) from e
    except OSError as e:
        raise RootError(f"{root}: {e.strerror}") from e


def _describe(root: str, containerd_root: str | None = None) -> RootInfo:
    top = set(fs.list_dir(root))
    image_dir = os.path.join(root, "image")
    image_drivers: set[str] = set()
    notes: list[str] = []
    image_readable = True
    if "image" in top:
        try:
            image_drivers = set(fs.list_dir(image_dir))
        except ReaderError as e:
            # Only part of the root: report the rest (the readers record what they cannot
            # read as unreadable findings); the driver is told by its top-level dir instead.
            image_readable = False
            notes.append(
                f"{e}: images and layers cannot be read, so they are not reported; run as "
                "root (sudo docker-inspector …) or inspect a copy this user can read "
                "(sudo cp -a, then chown -R)"
            )

    with_data = [
        d
        for d in KNOWN_DRIVERS
        if d in top
        and (d in image_drivers or not image_readable)
        and _is_nonempty_dir(os.path.join(root, d))
    ]
    # A layerdb without driver dir still tells us the driver (e.g. all images removed).
    with_meta = [d for d in KNOWN_DRIVERS if d in image_drivers]
    containerd_signs = []
    rootfs = _lstat(os.path.join(root, "rootfs"))
    if rootfs is not None and stat.S_ISDIR(rootfs.st_mode):
        containerd_signs.append("rootfs/")
    bk = os.path.join(root, "buildkit")
    try:
        if any(n.startswith("containerd-") for n in fs.list_dir(bk)):
            containerd_signs.append("buildkit/containerd-*")
    except ReaderError:
        pass
    if _lstat(os.path.join(root, "image", "identity-cache.db")) is not None:
        containerd_signs.append("image/identity-cache.db")
    ctr_drivers = _container_drivers(root)
    if ctr_drivers & set(SNAPSHOTTER_DRIVERS):
        containerd_signs.append("containers using snapshotter " + ",".join(sorted(ctr_drivers)))

    driver: str | None = None
    if with_data:
        driver = with_data[0]
        if len(with_data) > 1:
            notes.append(
                "several storage drivers hold data: "
                + ", ".join(with_data)
                + f"; reporting {driver} (the daemon's priority order); the others are invisible"
                " to the running daemon"
            )
    elif with_meta:
        driver = with_meta[0]
    elif ctr_drivers & set(KNOWN_DRIVERS):
        driver = sorted(ctr_drivers & set(KNOWN_DRIVERS))[0]

    snap = sorted(ctr_drivers & set(SNAPSHOTTER_DRIVERS))
    ctrd, ctrd_reason, ctrd_images = containerd.find_root(root, containerd_root, bool(snap))
    if ctrd_images:
        containerd_signs.append(f"{ctrd_images} image records of namespace moby in {ctrd}")
    if driver is not None and snap and ctrd_images:
        # Containers made in containerd mode are the daemon's own evidence of its store.
        notes.append(
            f"graphdriver data ({driver}) is also present, left from before a switch: the "
            "containers use the containerd image store, which is the one reported"
        )
        driver = None

    if driver is not None:
        image_store = ImageStore.GRAPHDRIVER
        if containerd_signs:
            notes.append(
                "containerd image store data also present ("
                + "; ".join(containerd_signs)
                + "): the daemon uses the graphdriver store; the containerd store's images "
                "are listed apart"
            )
    elif containerd_signs or ctrd is not None:
        image_store = ImageStore.CONTAINERD
        found = "; ".join(containerd_signs) or f"containerd metadata in {ctrd}"
        if ctrd is not None:
            notes.append(
                f"this root uses the containerd image store (Docker 29 default; found {found}):"
                f" read from containerd root {ctrd}, because: {ctrd_reason}"
            )
        else:
            notes.append(
                f"this root uses the containerd image store (Docker 29 default; found {found}),"
                " but no containerd root with its metadata was found (neither "
                f"{os.path.join(root, 'containerd', 'daemon')} nor "
                f"{containerd.SYSTEM_ROOT}): pass --containerd-root; containers, volumes and "
                "logs are reported, images are not"
            )
    else:
        image_store = ImageStore.UNKNOWN
        if not ({"containers", "volumes", "image"} & top):
            raise RootError(
                f"{root}: not a Docker data root (no image/, containers/ or volumes/ inside)"
            )
        notes.append("no image metadata found: no images, or an unrecognised layout")

    supported = driver is None or driver in SUPPORTED_DRIVERS
    if driver is not None and not supported:
        notes.append(
            f"storage driver {driver} is not supported yet: image and layer sizes and the layer "
            "map are not reported; containers, volumes and logs are"
        )
    if image_store is ImageStore.CONTAINERD:
        supported = ctrd is not None
        # Docker's Driver in this mode is the snapshotter's name.
        driver = (snap[0] if snap else "overlayfs") if ctrd is not None else None
    others = tuple(d for d in with_data if d != driver)
    return RootInfo(
        path=root,
        storage_driver=driver,
        image_store=image_store,
        supported=supported,
        notes=tuple(notes),
        other_drivers=others,
        containerd_root=ctrd,
        containerd_reason=ctrd_reason,
    )


def with_driver(info: RootInfo, driver: str) -> RootInfo:
    """`info` reporting the graphdriver `driver` (the one the daemon uses, see inspector.trees).

    _describe guesses by the daemon's priority order alone; when the daemon config or the
    signs on disk name another driver, that one is reported and the guessed one is left over.
    """
    if driver == info.storage_driver:
        return info
    others = set(info.other_drivers)
    if info.storage_driver:
        others.add(info.storage_driver)
    others.discard(driver)
    supported = driver in SUPPORTED_DRIVERS
    notes = [n for n in info.notes if not n.startswith("storage driver ")]
    if not supported:
        notes.append(
            f"storage driver {driver} is not supported yet: image and layer sizes and the layer "
            "map are not reported; containers, volumes and logs are"
        )
    return dataclasses.replace(
        info,
        storage_driver=driver,
        image_store=ImageStore.GRAPHDRIVER,
        supported=supported,
        other_drivers=tuple(d for d in KNOWN_DRIVERS if d in others),
        notes=tuple(notes),
    )


def with_store_config(info: RootInfo, cfg: DaemonConfig | None) -> RootInfo:
    """`info` reporting the image store the daemon config chooses, when the root holds both.

    dockerd's ``features.containerd-snapshotter`` decides (moby ``image_store_choice.go``):
    ``true`` makes it use the containerd store even over prior graphdriver data, ``false``
    the graphdriver store; an explicit ``storage-driver`` keeps the graphdriver store. Without
    a config that applies, _describe's on-disk evidence stands.
    """
    if cfg is None or not cfg.applies or cfg.containerd_snapshotter is None:
        return info
    said = f"daemon config {cfg.path} sets features.containerd-snapshotter="
    if (
        cfg.containerd_snapshotter
        and not cfg.storage_driver
        and info.image_store is ImageStore.GRAPHDRIVER
        and info.containerd_root is not None
    ):
        others = tuple(
            d for d in KNOWN_DRIVERS if d in {*info.other_drivers, info.storage_driver or ""}
        )
        notes = [n for n in info.notes if not n.startswith("containerd image store data also")]
        notes.append(
            f"{said}true: the daemon uses the containerd image store (read from containerd "
            f"root {info.containerd_root}); the graphdriver data ({', '.join(others)}) is left "
            "from before"
        )
        return dataclasses.replace(
            info,
            image_store=ImageStore.CONTAINERD,
            storage_driver="overlayfs",
            supported=True,
            other_drivers=others,
            notes=tuple(notes),
        )
    if not cfg.containerd_snapshotter and info.image_store is ImageStore.CONTAINERD:
        driver = next((d for d in info.other_drivers if d in KNOWN_DRIVERS), None)
        if driver is None:
            return info
        switched = with_driver(info, driver)
        gone = ("this root uses the containerd", "graphdriver data (")
        notes = [n for n in switched.notes if not n.startswith(gone)]
        notes.append(
            f"containerd image store data also present (containerd root "
            f"{info.containerd_root}): {said}false, so the daemon uses the graphdriver store "
            f"({driver}); the containerd store's images are listed apart"
        )
        return dataclasses.replace(switched, notes=tuple(notes))
    return info
