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

from inspector.analysis.results import AuditResult, Check, Growth, ObjectGrowth
from inspector.audit.args import add_arguments
from inspector.audit.checks import evaluate, growth
from inspector.audit.run import run
from inspector.audit.settings import AuditSettings, resolve
from inspector.audit.state import STATE_VERSION, LockBusy, default_state_dir, root_key
from inspector.report.audit_json import JSON_VERSION, to_dict

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
