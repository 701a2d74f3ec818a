"""Read ``volumes/metadata.db``: the volume service's bbolt index of names, drivers and labels.

One top-level bucket, ``volumes``; each key is a volume name, each value the JSON document
``{"Name","Driver","Labels","Options"}`` written by moby's ``daemon/volume/service/db.go``
(``Labels``/``Options`` are ``null`` when empty; an empty value is ignored, as the daemon does).

The file is hostile input, so what is kept per volume is bounded: a value over
:data:`VALUE_CAP` bytes is never read, at most :data:`MAX_ENTRIES` labels and options are kept,
and strings are cut at :data:`MAX_STRING` characters (the per-object limits of
:mod:`inspector.readers.limits`). An unread value is a skip entry; what was cut is said in the
volume's ``truncated``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from inspector.model import Skipped
from inspector.readers import limits
from inspector.readers.bbolt import DEFAULT_CAP, BoltBucket, load_bolt

__all__ = [
    "MAX_ENTRIES",
    "MAX_STRING",
    "VALUE_CAP",
    "VolumeMeta",
    "parse_volume_metadata",
    "read_volume_metadata",
]

_BUCKET = b"volumes"

#: Largest value read: the daemon writes a few hundred bytes per volume, so anything near this
#: is crafted, and reading it (then json.loads of it) would cost many times its size.
VALUE_CAP = 1024 * 1024
#: Labels kept per volume, and options kept per volume: the first ones in key order.
MAX_ENTRIES = limits.MAX_ENTRIES
#: Longer keys, values and drivers are cut to this many characters.
MAX_STRING = limits.MAX_TEXT


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
    truncated: tuple[str, ...] = ()
    """What was cut to the per-object limits, in plain words."""


def _str_map(value: object, field: str, notes: list[str]) -> dict[str, str]:
    """A JSON object of strings, or {} for null; ValueError for anything else.

    Keeps at most MAX_ENTRIES entries and cuts long strings, adding a note for each.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{field} is {type(value).__name__}, not an object")
    for k, v in value.items():
        if not isinstance(v, str):
            raise ValueError(f"{field}[{k!r}] is {type(v).__name__}, not a string")
    keys: list[str] = list(value)
    word = field.lower()
    if len(keys) > MAX_ENTRIES:
        notes.append(f"{len(keys):,} {word}; only the first {MAX_ENTRIES} are kept")
        keys = sorted(keys)[:MAX_ENTRIES]
    out: dict[str, str] = {}
    cut = 0
    for k in keys:
        v = value[k]
        if len(k) > MAX_STRING or len(v) > MAX_STRING:
            cut += 1
        # Two keys cut to the same prefix: the first one (in key order) is kept.
        out.setdefault(k[:MAX_STRING], v[:MAX_STRING])
    if cut:
        notes.append(
            f"{cut:,} of the {word} had a key or value over {MAX_STRING} characters: cut to "
            f"{MAX_STRING}"
        )
    return out


def _decode(name: str, raw: bytes, notes: list[str]) -> VolumeMeta:
    """Decode one entry; ValueError says what is wrong with it, ``notes`` what was cut."""
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
    if len(driver) > MAX_STRING:
        notes.append(f"Driver of {len(driver):,} characters: cut to {MAX_STRING}")
        driver = driver[:MAX_STRING]
    labels = _str_map(doc.get("Labels"), "Labels", notes)
    options = _str_map(doc.get("Options"), "Options", notes)
    return VolumeMeta(name, driver, labels, options, tuple(notes))


def parse_volume_metadata(
    root: BoltBucket, max_value: int = VALUE_CAP
) -> tuple[dict[str, VolumeMeta], list[Skipped]]:
    """Decode the ``volumes`` bucket of an already-parsed database (pure; for tests too).

    Returns (name -> metadata in the database's key order, skipped entries). ``max_value`` is
    the cap the database was parsed with: an entry left unread over it (the bucket's
    ``oversized``) becomes a skip naming both sizes. A volume whose labels or options were
    cut is kept; its ``truncated`` says what was cut.
    """
    volumes: dict[str, VolumeMeta] = {}
    skipped: list[Skipped] = []
    bucket = root.bucket(_BUCKET)
    if bucket is None:
        # A fresh daemon creates the bucket on start; a missing one just means no volumes.
        return volumes, skipped
    entries: list[tuple[bytes, bytes | BoltBucket | int]] = list(bucket.items())
    if bucket.oversized:
        # Report them in key order among the others (both lists are already sorted).
        entries = sorted([*entries, *bucket.oversized.items()], key=lambda e: e[0])
    for key, raw in entries:
        # The key, not the JSON "Name", is what the daemon looks volumes up by.
        name = key.decode("utf-8", errors="surrogateescape")
        if isinstance(raw, int):
            skipped.append(
                Skipped(name, f"value of {raw:,} bytes, over the {max_value:,}-byte cap: not read")
            )
            continue
        if isinstance(raw, BoltBucket):
            skipped.append(Skipped(name, "a nested bucket where a JSON value was expected"))
            continue
        if not raw:
            continue  # the daemon ignores empty values too
        try:
            volumes[name] = _decode(name, raw, [])
        except ValueError as e:
            skipped.append(Skipped(name, str(e)))
    return volumes, skipped


def read_volume_metadata(
    path: str, cap: int = DEFAULT_CAP, max_value: int = VALUE_CAP
) -> tuple[dict[str, VolumeMeta], list[Skipped]]:
    """Read ``volumes/metadata.db`` at ``path``: (name -> metadata, skipped entries).

    A bad entry becomes a (name, reason) skip instead of failing the whole file; so does a
    value over ``max_value`` bytes, which is never read. A missing file raises
    FileNotFoundError; a file that is not a readable bbolt database raises BoltError (a
    ReaderError naming the file).
    """
    return parse_volume_metadata(load_bolt(path, cap, max_value=max_value), max_value)
