"""Audit settings: from a TOML config file and the command line (which wins).

A config file holds the same settings as the audit's options, with underscores instead of
dashes::

    max_disk_usage = "85%"
    max_orphan_bytes = "10G"
    max_log_size = "1G"
    fail_on = ["orphan_dir", "leftover_removing_dir"]
    state_dir = "/var/lib/docker-inspector"      # relative paths: to the file's directory
    prometheus = "/var/lib/node_exporter/textfile/docker_inspector.prom"
    compare_daemon = false
    docker_host = "unix:///run/docker.sock"

Sizes are strings with a unit ("50G", "1.5GiB", "100MB") or integers (bytes); percentages are
strings ("85%") or numbers (85). Unknown keys and wrong types are usage errors: a typo in a
monitoring config must not silently disable a threshold.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from inspector.analysis.results import Kind
from inspector.errors import UsageError
from inspector.units import parse_percent, parse_size

ValueType = Literal["size", "percent", "kinds", "path", "bool", "str"]

#: Every setting a config file may hold, and how its value is read.
SETTINGS: Mapping[str, ValueType] = {
    "max_disk_usage": "percent",
    "max_root_size": "size",
    "max_orphan_bytes": "size",
    "max_log_size": "size",
    "max_unused_volume_bytes": "size",
    "max_build_cache": "size",
    "max_growth": "size",
    "fail_on": "kinds",
    "state_dir": "path",
    "prometheus": "path",
    "compare_daemon": "bool",
    "docker_host": "str",
}

#: Finding kinds `fail_on` accepts (the JSON contract's names).
KIND_NAMES = tuple(k.value for k in Kind)


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """The audit's effective settings; None means "no such threshold"."""

    max_disk_usage: float | None = None
    """Percent of the filesystem holding the root that may be in use."""
    max_root_size: int | None = None
    """Allocated bytes under the root."""
    max_orphan_bytes: int | None = None
    """Bytes of findings whose kind is in ORPHAN_KINDS."""
    max_log_size: int | None = None
    """Log bytes of any one container."""
    max_unused_volume_bytes: int | None = None
    """Bytes of volumes no container references."""
    max_build_cache: int | None = None
    """Allocated bytes of BuildKit's snapshots and state."""
    max_growth: int | None = None
    """Growth of the allocated bytes under the root since the previous run."""
    fail_on: tuple[Kind, ...] = ()
    """Finding kinds that fail the audit when found at all."""
    state_dir: str | None = None
    """Where the previous run's numbers and the lock live (None: the XDG default)."""
    prometheus: str | None = None
    """Textfile-collector file to write."""
    compare_daemon: bool = False
    docker_host: str | None = None


def option_name(key: str) -> str:
    """The command-line spelling of a setting (max_root_size → --max-root-size)."""
    return "--" + key.replace("_", "-")


def _kinds(values: list[str], where: str) -> tuple[Kind, ...]:
    out: list[Kind] = []
    for v in values:
        try:
            kind = Kind(v)
        except ValueError:
            raise UsageError(
                f"{where}: unknown finding kind {v!r}; valid kinds: {', '.join(KIND_NAMES)}"
            ) from None
        if kind not in out:
            out.append(kind)
    return tuple(out)


def _convert(key: str, value: object, where: str, base_dir: str | None) -> object:
    """One raw value (TOML or command line) → its typed value; UsageError names `where`."""
    kind = SETTINGS[key]
    # bool is an int subclass in Python: `max_growth = true` must not mean 1 byte.
    if kind in ("size", "percent"):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise UsageError(f'{where}: expected a string like "10G" or a number')
        if kind == "size":
            if isinstance(value, float):
                raise UsageError(f"{where}: a size in bytes must be an integer or a string")
            if isinstance(value, int):
                if value < 0:
                    raise UsageError(f"{where}: a size cannot be negative")
                return value
            try:
                return parse_size(value)
            except UsageError as e:
                raise UsageError(f"{where}: {e}") from None
        try:
            return parse_percent(str(value))
        except UsageError as e:
            raise UsageError(f"{where}: {e}") from None
    if kind == "kinds":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{where}: expected a list of finding kinds")
        return _kinds(value, where)
    if kind == "path":
        if not isinstance(value, str) or not value:
            raise UsageError(f"{where}: expected a path")
        path = os.path.expanduser(value)
        if base_dir is not None and not os.path.isabs(path):
            path = os.path.join(base_dir, path)
        return os.path.abspath(path)
    if kind == "bool":
        if not isinstance(value, bool):
            raise UsageError(f"{where}: expected true or false")
        return value
    if not isinstance(value, str) or not value:
        raise UsageError(f"{where}: expected a string")
    return value


def load_file(path: str) -> dict[str, object]:
    """Read and validate a TOML config file; typed values by setting name."""
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"config file {path}: no such file") from None
    except OSError as e:
        raise UsageError(f"config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"config file {path}: invalid TOML: {e}") from None
    unknown = sorted(k for k in doc if k not in SETTINGS)
    if unknown:
        raise UsageError(
            f"config file {path}: unknown key(s) {', '.join(repr(k) for k in unknown)}; "
            f"valid keys: {', '.join(SETTINGS)}"
        )
    base = os.path.dirname(os.path.abspath(path))
    return {k: _convert(k, v, f"config file {path}: {k}", base) for k, v in doc.items()}


def from_command_line(ns: argparse.Namespace) -> dict[str, object]:
    """Typed values of the settings given on the command line (options left out are absent)."""
    out: dict[str, object] = {}
    for key in SETTINGS:
        raw = getattr(ns, key, None)
        if raw is None:
            continue
        out[key] = _convert(key, raw, option_name(key), None)
    return out


def resolve(ns: argparse.Namespace) -> AuditSettings:
    """The effective settings: the config file (`ns.config`), then the command line over it.

    A list option given on the command line (--fail-on) replaces the file's list.
    """
    values: dict[str, object] = {}
    config_path: str | None = getattr(ns, "config", None)
    if config_path is not None:
        values.update(load_file(config_path))
    values.update(from_command_line(ns))
    return AuditSettings(**values)  # type: ignore[arg-type]
