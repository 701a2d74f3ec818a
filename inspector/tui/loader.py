"""Start reading the root before Textual is imported: the TUI's first screen sooner.

Importing Textual and drawing the first screen takes ~0.8 s of one core here; reading a
5,000-layer root's metadata ~1.2-1.5 s. In one interpreter (a thread worker shares the GIL
with Textual's event loop) they came one after the other, and the first report after ~5 s.
``docker-inspector tui`` calls :func:`start` first thing: the pipeline runs in a forked
process (:mod:`inspector.background`) while this one checks the root and starts the app,
which shows the child's results as they come (the glance's counts first). Nothing here
imports Textual.
"""

from __future__ import annotations

from inspector import background
from inspector.background import ForkedRun
from inspector.options import DEFAULT_DAEMON_CONFIG, Options


def start(
    root: str,
    daemon_config: str | None = DEFAULT_DAEMON_CONFIG,
    containerd_root: str | None = None,
    *,
    measure: bool = True,
) -> ForkedRun | None:
    """Fork the pipeline run on `root`, then check the root while the child reads it.

    None where forking is unsafe (the app then reads in a thread worker); RootError and the
    like, the child stopped, when the root cannot be read: a plain CLI error, before the
    terminal is taken over.
    """
    opts = Options(sizes=measure, daemon_config=daemon_config, containerd_root=containerd_root)
    run = background.start(root, opts)
    try:
        from inspector import trees
        from inspector.root import open_root

        # The tree checked is the one the report is about (a userns-remap root in it).
        open_root(trees.locate(root, daemon_config).reported, containerd_root)
    except BaseException:
        if run is not None:
            run.close()
        raise
    return run


__all__ = ["ForkedRun", "start"]
