"""Read image/<driver>/repositories.json: tags and digest references of images."""

from __future__ import annotations

import json
import os

from inspector.errors import ReaderError
from inspector.ids import DIGEST
from inspector.model import Skipped
from inspector.readers import fs

CAP = 64 * 1024 * 1024


def parse_references(path: str, raw: bytes) -> dict[str, tuple[list[str], list[str]]]:
    """Map image ID → (tags, digest references) from repositories.json bytes (pure)."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ReaderError(f"{path}: invalid JSON ({e})") from e
    repos = doc.get("Repositories") if isinstance(doc, dict) else None
    if not isinstance(repos, dict):
        raise ReaderError(f"{path}: no Repositories object")
    out: dict[str, tuple[list[str], list[str]]] = {}
    for refs in repos.values():
        if not isinstance(refs, dict):
            continue
        for ref, image_id in refs.items():
            if not isinstance(ref, str) or not isinstance(image_id, str):
                continue
            if not DIGEST.fullmatch(image_id):
                continue
            tags, digests = out.setdefault(image_id, ([], []))
            (digests if "@" in ref else tags).append(ref)
    for tags, digests in out.values():
        tags.sort()
        digests.sort()
    return out


def read_references(image_dir: str) -> tuple[dict[str, tuple[list[str], list[str]]], list[Skipped]]:
    """Read repositories.json in image/<driver>; a missing file means no references."""
    path = os.path.join(image_dir, "repositories.json")
    try:
        return parse_references(path, fs.read_bytes(path, CAP)), []
    except FileNotFoundError:
        return {}, []
    except ReaderError as e:
        return {}, [Skipped(path, str(e))]
