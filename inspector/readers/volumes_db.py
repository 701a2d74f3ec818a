"""Read ``volumes/metadata.db``: the volume service's bbolt index of names, drivers and labels.

One top-level bucket, ``volumes``; each key is a volume name, each value the JSON document
``{"Name","Driver","Labels","Options"}`` written by moby's ``daemon/volume/service/db.go``
(``Labels``/``Options`` are ``null`` when empty; an empty value is ignored, as the daemon does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from inspector.readers.bbolt import DEFAULT_CAP, BoltBucket, load_bolt

__all__ = ["Skip", "VolumeMeta", "parse_volume_metadata", "read_volume_metadata"]

_BUCKET = b"volumes"


@dataclass(frozen=True, slots=True)
class VolumeMeta:
    """One volume's entry in ``volumes/metadata.db``."""

    name: str
    """Volume name (the bbolt key, decoded with surrogateescape: never fails)."""
    driver: str
    """Volume driver, e.g. ``local``; ``""`` when the document has none."""
    labels: dict[str, str]
    """Labels as stored; ``{}`` for ``null``."""
    options: dict[str, str]
    """Driver options (``-o``) as stored; ``{}`` for ``null``."""


#: (volume name, reason) for one entry that could not be decoded.
Skip = tuple[str, str]


def _str_map(value: object, field: str) -> dict[str, str]:
    """A JSON object of strings, or {} for null; ValueError for anything else."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{field} is {type(value).__name__}, not an object")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(v, str):
            raise ValueError(f"{field}[{k!r}] is {type(v).__name__}, not a string")
        out[k] = v
    return out


def _decode(name: str, raw: bytes) -> VolumeMeta:
    """Decode one entry; ValueError says what is wrong with it."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"invalid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ValueError(f"JSON {type(doc).__name__}, not an object")
    driver = doc.get("Driver")
    if driver is None:
        driver = ""
    if not isinstance(driver, str):
        raise ValueError(f"Driver is {type(driver).__name__}, not a string")
    return VolumeMeta(
        name=name,
        driver=driver,
        labels=_str_map(doc.get("Labels"), "Labels"),
        options=_str_map(doc.get("Options"), "Options"),
    )


def parse_volume_metadata(root: BoltBucket) -> tuple[dict[str, VolumeMeta], list[Skip]]:
    """Decode the ``volumes`` bucket of an already-parsed database (pure; for tests too).

    Returns (name -> metadata in the database's key order, skipped entries).
    """
    volumes: dict[str, VolumeMeta] = {}
    skipped: list[Skip] = []
    bucket = root.bucket(_BUCKET)
    if bucket is None:
        # A fresh daemon creates the bucket on start; a missing one just means no volumes.
        return volumes, skipped
    for key, raw in bucket.items():
        # The key, not the JSON "Name", is what the daemon looks volumes up by.
        name = key.decode("utf-8", errors="surrogateescape")
        if isinstance(raw, BoltBucket):
            skipped.append((name, "a nested bucket where a JSON value was expected"))
            continue
        if not raw:
            continue  # the daemon ignores empty values too
        try:
            volumes[name] = _decode(name, raw)
        except ValueError as e:
            skipped.append((name, str(e)))
    return volumes, skipped


def read_volume_metadata(
    path: str, cap: int = DEFAULT_CAP
) -> tuple[dict[str, VolumeMeta], list[Skip]]:
    """Read ``volumes/metadata.db`` at ``path``: (name -> metadata, skipped entries).

    A bad entry becomes a (name, reason) skip instead of failing the whole file. A missing
    file raises FileNotFoundError; a file that is not a readable bbolt database raises
    BoltError (a ReaderError naming the file).
    """
    return parse_volume_metadata(load_bolt(path, cap))
