"""The audit as plain text: one line per crossed threshold (cron mails it), or, verbose,
every check, the growth since the previous run and the daemon comparison.

Every name from the root (labels, paths, the daemon's answers) goes through clean(): cron
mails this output and operators read it in a terminal.
"""

from __future__ import annotations

from inspector.analysis.dockerdf import cells, docker_df
from inspector.analysis.results import AuditResult, Check, Kind, Offender
from inspector.report.audit_json import iso_utc
from inspector.report.text import size
from inspector.textsafe import clean


def _size(n: int | float | None) -> str:
    if n is None:
        return "-"
    return size(int(n))


def _signed(n: int) -> str:
    return ("+" if n >= 0 else "-") + _size(abs(n))


def _value(c: Check, v: int | float | None) -> str:
    if v is None:
        return "unknown"
    if c.unit == "percent":
        return f"{v:.1f}%"
    if c.unit == "findings":
        return f"{int(v)} finding(s)"
    if c.name == "max_growth":
        return f"{_signed(int(v))} ({int(v)} bytes)"
    return f"{_size(v)} ({int(v)} bytes)"


def _offender(c: Check, o: Offender) -> str:
    label = clean(o.label)
    where = f" {clean(o.path)}" if o.path else ""
    if c.unit == "findings":
        return f"{label}{where} ({_size(o.value)})"
    amount = _signed(o.value) if c.name == "max_growth" else _size(o.value)
    return f"{label}{where} {amount}"


def check_line(c: Check) -> str:
    """One plain line: name, value, limit, numbers, top offenders."""
    if c.unit == "findings":
        head = f"{c.name}: {_value(c, c.value)}"
    elif c.configured:
        rel = "over" if c.crossed else "within"
        head = f"{c.name}: {c.what} is {_value(c, c.value)}, {rel} the limit {_value(c, c.limit)}"
    else:
        head = f"{c.name}: {c.what} is {_value(c, c.value)} (no limit)"
    if c.extra:
        head += f" [{c.extra}]"
    if c.offenders:
        head += "; top: " + ", ".join(_offender(c, o) for o in c.offenders)
    return head


def render(r: AuditResult, verbose: bool = False) -> str:
    """Crossed lines only; with `verbose`, every check, growth and the daemon summary."""
    if not verbose:
        return "".join(check_line(c) + "\n" for c in r.crossed)
    lines: list[str] = [f"audit of {clean(r.report.inventory.root.path)}"]
    for c in r.checks:
        status = "CROSSED" if c.crossed else ("ok" if c.configured else "-")
        lines.append(f"{status:8} {check_line(c)}")
    # The same cells as the report's "Docker's view" (one function computes both).
    for _, typ, row in docker_df(r.report).rows():
        total, active, sz, reclaim = cells(row)
        lines.append(
            f"docker system df: {typ}: total {total}, active {active}, size {sz}, "
            f"reclaimable {reclaim}"
        )
    g = r.growth
    if not r.growth_tracked:
        lines.append(
            "growth: skipped (no state is kept between runs without --max-growth or --state-dir)"
        )
    elif g is None:
        lines.append("growth: no previous run recorded for this root (first run)")
    else:
        lines.append(
            f"growth: since {iso_utc(g.previous_time)} ({g.interval:.0f} s): root "
            f"{_signed(g.total_disk)} ({g.total_disk} bytes) allocated"
        )
        for name, (a, d) in g.categories.items():
            lines.append(f"growth: category {name} {_signed(d)} on disk, {_signed(a)} apparent")
        for o in g.containers:
            new = " (new)" if o.previous is None else ""
            lines.append(
                f"growth: container {clean(o.name)} ({o.id[:12]}) {_signed(o.growth)} "
                f"({o.growth} bytes; now {o.current}){new}"
            )
        for o in g.volumes:
            new = " (new)" if o.previous is None else ""
            lines.append(
                f"growth: volume {clean(o.name)} {_signed(o.growth)} "
                f"({o.growth} bytes; now {o.current}){new}"
            )
    if r.daemon is not None:
        lines.append(
            f"daemon: {clean(r.daemon.host)} (Docker {clean(r.daemon.server_version)}, root "
            f"{clean(r.daemon.root_dir)}): {len(r.mismatches)} difference(s)"
        )
        for f in r.findings:
            if f.kind is Kind.DAEMON_MISMATCH:
                lines.append(f"daemon_mismatch: {clean(f.detail)}")
    for n in r.notes:
        lines.append(f"note: {clean(n)}")
    return "\n".join(lines) + "\n"


__all__ = ["check_line", "render"]
