"""Images of the containerd store: name → target → index → manifests → config → diff_ids.

The walks reproduce containerd's and Docker's own (moby ``daemon/containerd/handlers.go``
``presentChildrenHandler``, ``image_manifest.go`` ``walkReachableImageManifests``,
``IsPseudoImage``; containerd ``core/images`` ``Walk``/``Children``): a descriptor is
*present* when the namespace's meta.db has a record of its digest (the content store's
``Info``); only present blobs are read, and only a present blob's children are visited.
Every JSON blob is read capped (:data:`BLOB_CAP`) through :mod:`inspector.readers.fs`.
"""

from __future__ import annotations

import os
import platform as _platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from inspector.errors import ReaderError
from inspector.ids import DIGEST
from inspector.model import Image, ManifestRef, Skipped
from inspector.readers import fs, limits
from inspector.readers.containerd import ImageRecord
from inspector.stores.graphdriver.imagedb import parse_config

#: Indexes, manifests and configs are small; 16 MiB is far beyond any real one.
BLOB_CAP = fs.JSON_CAP
#: Descriptors visited per image at most (a hostile index cannot make the walk endless).
MAX_VISITS = 20_000

INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
MANIFEST_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    }
)
#: containerd ``images.IsLayerType``: the media type prefixes of layer blobs.
LAYER_PREFIXES = ("application/vnd.oci.image.layer.", "application/vnd.docker.image.rootfs.")
DANGLING_PREFIX = "moby-dangling@"
ATTESTATION_TYPE = "vnd.docker.reference.type"


def host_platform() -> str:
    """The platform Docker prefers on this host (``linux/<GOARCH>``)."""
    machine = _platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(
        machine, machine
    )
    return f"linux/{arch}"


@dataclass(frozen=True, slots=True)
class Desc:
    """An OCI descriptor (the fields the walks use)."""

    media_type: str
    digest: str
    size: int
    platform: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)


def _platform_text(p: Any) -> str:
    if not isinstance(p, dict):
        return ""
    os_ = p.get("os") if isinstance(p.get("os"), str) else ""
    arch = p.get("architecture") if isinstance(p.get("architecture"), str) else ""
    variant = p.get("variant") if isinstance(p.get("variant"), str) else ""
    if not os_ and not arch:
        return ""
    return limits.cut("/".join(x for x in (os_, arch, variant) if x))


def _desc(d: Any) -> Desc | None:
    if not isinstance(d, dict):
        return None
    dgst, mt, size = d.get("digest"), d.get("mediaType"), d.get("size")
    if not isinstance(dgst, str) or not DIGEST.fullmatch(dgst):
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return None
    ann = d.get("annotations")
    return Desc(
        media_type=limits.cut(mt) if isinstance(mt, str) else "",
        digest=dgst,
        size=size,
        platform=_platform_text(d.get("platform")),
        annotations=limits.str_map(ann, "annotations", []) if isinstance(ann, dict) else {},
    )


class BlobReader:
    """Reads JSON blobs of one namespace's content store, once each."""

    def __init__(self, content_dir: str, present: Callable[[str], bool]) -> None:
        self.content_dir = content_dir
        self.present = present
        self._docs: dict[str, Any] = {}
        self.skipped: list[Skipped] = []

    def path(self, digest: str) -> str:
        """The blob file of a digest."""
        algo, _, hexd = digest.partition(":")
        return os.path.join(self.content_dir, "blobs", algo, hexd)

    def raw(self, digest: str) -> bytes | None:
        """The blob's bytes (None when missing or unreadable; the reason is recorded)."""
        path = self.path(digest)
        try:
            return fs.read_bytes(path, BLOB_CAP)
        except FileNotFoundError:
            return None
        except ReaderError as e:
            self.skipped.append(Skipped(path, str(e)))
            return None

    def json(self, digest: str) -> Any:
        """The blob parsed as JSON (None when missing, unreadable or not JSON)."""
        if digest in self._docs:
            return self._docs[digest]
        doc: Any = None
        raw = self.raw(digest)
        if raw is not None:
            try:
                doc = limits.loads(raw)
            except (ValueError, RecursionError):
                self.skipped.append(Skipped(self.path(digest), "not a JSON document"))
        self._docs[digest] = doc
        return doc

    def children(self, d: Desc) -> list[Desc]:
        """containerd ``images.Children``: an index's manifests, a manifest's config+layers."""
        if d.media_type not in INDEX_TYPES and d.media_type not in MANIFEST_TYPES:
            return []
        doc = self.json(d.digest)
        if not isinstance(doc, dict):
            return []
        out: list[Desc] = []
        if d.media_type in MANIFEST_TYPES:
            cfg = _desc(doc.get("config"))
            if cfg is not None:
                out.append(cfg)
            items = doc.get("layers")
        else:
            items = doc.get("manifests")
        for x in items if isinstance(items, list) else []:
            c = _desc(x)
            if c is not None:
                out.append(c)
        return out

    def present_walk(self, top: Desc) -> list[Desc]:
        """Every present descriptor under `top` (itself first), as walkPresentChildren."""
        out: list[Desc] = []
        stack = [top]
        while stack and len(out) < MAX_VISITS:
            d = stack.pop()
            if not self.present(d.digest):
                continue
            out.append(d)
            stack.extend(reversed(self.children(d)))
        return out

    def reachable_manifests(self, top: Desc) -> list[Desc]:
        """Manifests reachable from `top`, present or not (walkReachableImageManifests)."""
        if top.media_type in MANIFEST_TYPES:
            return [top]
        if top.media_type not in INDEX_TYPES:
            return []
        out: list[Desc] = []
        stack = [top]
        visits = 0
        while stack and visits < MAX_VISITS:
            d = stack.pop()
            visits += 1
            if d.media_type in MANIFEST_TYPES:
                out.append(d)
            if d.media_type in INDEX_TYPES or d.media_type in MANIFEST_TYPES:
                stack.extend(reversed(self.children(d)))
        return out


def _is_pseudo(reader: BlobReader, d: Desc) -> bool:
    """moby ``ImageManifest.IsPseudoImage`` (a manifest that cannot be read is not pseudo)."""
    if ATTESTATION_TYPE in d.annotations:
        return True
    if d.platform == "unknown/unknown":
        return True
    doc = reader.json(d.digest) if reader.present(d.digest) else None
    if not isinstance(doc, dict):
        return False
    layers = doc.get("layers")
    if not isinstance(layers, list) or not layers:
        return False
    for x in layers:
        mt = x.get("mediaType") if isinstance(x, dict) else None
        if isinstance(mt, str) and mt.startswith(LAYER_PREFIXES):
            return False
    return True


def _manifest_ref(reader: BlobReader, d: Desc) -> tuple[ManifestRef, Image | None]:
    present = reader.present(d.digest)
    content = tuple((x.digest, x.size) for x in reader.present_walk(d))
    cfg_desc = (
        next((c for c in reader.children(d) if c.media_type not in MANIFEST_TYPES), None)
        if present
        else None
    )
    config: Image | None = None
    if cfg_desc is not None and reader.present(cfg_desc.digest):
        raw = reader.raw(cfg_desc.digest)
        if raw is not None:
            try:
                config = parse_config(cfg_desc.digest, reader.path(cfg_desc.digest), raw)
            except ReaderError as e:
                reader.skipped.append(Skipped(reader.path(cfg_desc.digest), str(e)))
    plat = d.platform
    if not plat and config is not None and (config.os or config.architecture):
        plat = f"{config.os}/{config.architecture}"
    ref = ManifestRef(
        digest=d.digest,
        platform=plat,
        present=present,
        attestation=ATTESTATION_TYPE in d.annotations,
        pseudo=_is_pseudo(reader, d),
        config=cfg_desc.digest if cfg_desc is not None else None,
        diff_ids=config.diff_ids if config is not None else (),
        content=content,
        layers=_layer_digests(reader, d) if present else (),
    )
    return ref, config


def _layer_digests(reader: BlobReader, d: Desc) -> tuple[str, ...]:
    """A manifest's ``layers`` digests in order (() for an index or an unreadable blob)."""
    if d.media_type not in MANIFEST_TYPES:
        return ()
    doc = reader.json(d.digest)
    items = doc.get("layers") if isinstance(doc, dict) else None
    out = []
    for x in items if isinstance(items, list) else []:
        c = _desc(x)
        if c is None:
            return ()  # a layer Go could not decode: containerd's walk fails there too
        out.append(c.digest)
    return tuple(out)


def familiar(name: str) -> str:
    """Docker's familiar form of a normalized name (``docker.io/library/x:1`` → ``x:1``)."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            if prefix == "docker.io/" and "/" not in rest.split(":")[0].split("@")[0]:
                return name  # docker.io/x without a namespace is not familiar-able as is
            return rest
    return name


def _repo(name: str) -> str:
    """The repository part of a reference (no tag, no digest)."""
    base = name.split("@", 1)[0]
    slash = base.rfind("/")
    colon = base.rfind(":")
    return base[:colon] if colon > slash else base


def read_images(
    records: Mapping[str, ImageRecord], reader: BlobReader, host: str | None = None
) -> dict[str, Image]:
    """One Image per target digest, as ``docker images`` lists them (moby ``Images``).

    A dangling record (``moby-dangling@<digest>``) is kept only when no named record has the
    same target. The image's own fields (config, diff_ids, created, history) are those of the
    manifest Docker shows: the host platform's when present, else the first runnable one.
    """
    want = host or host_platform()
    by_target: dict[str, list[ImageRecord]] = {}
    for name in sorted(records):
        rec = records[name]
        by_target.setdefault(rec.digest, []).append(rec)
    images: dict[str, Image] = {}
    for target, recs in sorted(by_target.items()):
        named = [r for r in recs if not r.name.startswith(DANGLING_PREFIX)]
        top = Desc(recs[0].media_type, target, recs[0].size or 0)
        manifests: list[ManifestRef] = []
        configs: list[tuple[ManifestRef, Image]] = []
        for d in reader.reachable_manifests(top):
            ref, cfg = _manifest_ref(reader, d)
            manifests.append(ref)
            if cfg is not None and not ref.pseudo:
                configs.append((ref, cfg))
        best = next((c for c in configs if c[0].platform == want), None) or (
            configs[0] if configs else None
        )
        tags = tuple(familiar(r.name) for r in named)
        digests = tuple(sorted({f"{familiar(_repo(r.name))}@{target}" for r in named}))
        base = best[1] if best is not None else None
        platforms = tuple(sorted({r.platform for r, _ in configs if r.present and r.platform}))
        images[target] = Image(
            id=target,
            config_path=base.config_path if base else reader.path(target),
            diff_ids=base.diff_ids if base else (),
            created=base.created if base else None,
            os=base.os if base else "",
            architecture=base.architecture if base else "",
            history=base.history if base else (),
            labels=base.labels if base else {},
            parent=recs[0].labels.get("org.mobyproject.image.parent") or None,
            tags=tags,
            digests=digests,
            truncated=base.truncated if base else (),
            platforms=platforms,
            manifests=tuple(manifests),
            target_content=tuple((x.digest, x.size) for x in reader.present_walk(top)),
            names=tuple(r.name for r in recs),
        )
    return images
