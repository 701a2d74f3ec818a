"""Docker's identifiers: their shapes, the ChainID rule and the short form, said once.

Pure functions and patterns shared by the readers (what a valid ID looks like), analysis
(which dirs look like BuildKit's) and the presenters (short IDs).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

#: A graphdriver or container ID: 64 lowercase hex characters.
HEX64 = re.compile(r"[0-9a-f]{64}")
#: A content digest as Docker writes it: ``sha256:`` + 64 hex.
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
#: BuildKit's IDs (identity.NewID): 25 lowercase base-36 characters; also the overlay2 dir
#: names of BuildKit snapshots (shared/docker-format.md §7).
BUILDKIT_ID = re.compile(r"[0-9a-z]{25}")


def chain_ids(diff_ids: Iterable[str]) -> tuple[str, ...]:
    """OCI ChainIDs: chain[0] = diff[0]; chain[n] = sha256(chain[n-1] + " " + diff[n])."""
    out: list[str] = []
    for d in diff_ids:
        if not out:
            out.append(d)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return tuple(out)


def short(ident: str | None) -> str:
    """The 12-character short form of an ID, as `docker images` shows it (no sha256: prefix)."""
    if not ident:
        return ""
    return ident.removeprefix("sha256:")[:12]
