"""`audit`: check thresholds for cron and monitoring; exit 1 when one is crossed.

One run: read the settings (config file, then options), take the per-root lock in the state
dir, scan the root offline, optionally ask the daemon and compare, compute growth since the
previous run, evaluate the checks, write the Prometheus textfile and the new state, print.

The package, one job per module: args (the options), settings (config file + options),
state (state dir, lock, snapshot file), checks (growth, thresholds: pure), run (one run, in
order). The result types are in inspector.analysis.results and the presenters in
inspector.report (audit_text, audit_json, prometheus), so neither side imports the other.

Output contract (cron mails whatever a job prints):

- nothing on stdout when no threshold is crossed (unless --verbose);
- one plain line per crossed threshold, with its numbers and top offenders;
- --json: one JSON document instead, always;
- diagnostics on stderr; exit 0 none crossed, 1 crossed, 2 usage/root/daemon/lock problem.

Nothing is ever written under the data root: the state dir and the Prometheus file are refused
there, and the lock lives in the state dir. Names are checked early (a friendly message before
the scan); the binding check is made when writing, on the opened directories
(inspector.outputs): the state dir is opened and checked once, and the lock and state file are
opened relative to that descriptor.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Where each public name lives: imported on first use (PEP 562), so that `import
#: inspector.audit.args` for the command line's options does not load the whole audit.
_EXPORTS = {
    "AuditResult": "inspector.analysis.results",
    "Check": "inspector.analysis.results",
    "Growth": "inspector.analysis.results",
    "ObjectGrowth": "inspector.analysis.results",
    "add_arguments": "inspector.audit.args",
    "evaluate": "inspector.audit.checks",
    "growth": "inspector.audit.checks",
    "run": "inspector.audit.run",
    "AuditSettings": "inspector.audit.settings",
    "resolve": "inspector.audit.settings",
    "STATE_VERSION": "inspector.audit.state",
    "LockBusy": "inspector.audit.state",
    "default_state_dir": "inspector.audit.state",
    "root_key": "inspector.audit.state",
    "JSON_VERSION": "inspector.report.audit_json",
    "to_dict": "inspector.report.audit_json",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'inspector.audit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    # Importing the submodule `run` binds the package attribute `run` to that module: the
    # function must win, as it did when this package imported everything eagerly.
    globals()[name] = value
    return value


__all__ = [
    "JSON_VERSION",
    "STATE_VERSION",
    "AuditResult",
    "AuditSettings",
    "Check",
    "Growth",
    "LockBusy",
    "ObjectGrowth",
    "add_arguments",
    "default_state_dir",
    "evaluate",
    "growth",
    "resolve",
    "root_key",
    "run",
    "to_dict",
]
