"""The docker-inspector TUI: a thin App over the same Report the JSON export uses.

Loading happens in one thread worker running the shared pipeline (inspector.pipeline.run):
the report of the metadata alone is shown at once, then the trees are walked while progress
is posted, and the measured report replaces the first one. From the command line the
pipeline's stages run instead in a process forked before Textual was imported
(inspector.tui.loader, inspector.background): the worker shows what it sends, the root's
counts first (:meth:`InspectorApp.load_prefetched`). Workers only post messages;
failures of any worker are turned into a notification in
:meth:`InspectorApp.on_worker_state_changed`.

Use :func:`make_app` to build the app (CLI, tests, screenshot script) and :func:`run` to
run it in the terminal.
"""

from __future__ import annotations

import dataclasses
import os
import time

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.worker import Worker, WorkerState, get_current_worker

from inspector import pipeline
from inspector.analysis.efficiency import ImageEfficiency
from inspector.analysis.results import Report
from inspector.background import ForkedRun
from inspector.errors import InspectorError, UsageError
from inspector.inventory import Glance
from inspector.model import Inventory, Measurements, Skipped
from inspector.options import DEFAULT_DAEMON_CONFIG, Options
from inspector.tui import heap
from inspector.tui.rows import EfficiencyView, Prepared, prepare
from inspector.tui.safe import inside, t
from inspector.tui.screens.export import ExportScreen, check_path
from inspector.tui.screens.help import HelpScreen
from inspector.tui.screens.image import ImageScreen
from inspector.tui.screens.main import TABS, MainScreen
from inspector.tui.threads import POLL, LoadCancelled
from inspector.tui.threads import interruptible as _interruptible
from inspector.tui.widgets.overview import Overview
from inspector.tui.widgets.status import glance_text, summary

__all__ = ["POLL", "InspectorApp", "LoadCancelled", "MeasureFn", "make_app", "run"]

MeasureFn = pipeline.MeasureFn
"""How the tree walk is run (``pipeline.measure_root``; tests pass a slow fake)."""

#: Efficiency results are posted to the screen at most this often (seconds): a 500-image
#: host must not rebuild the Images table 500 times.
EFFICIENCY_EVERY = 0.25


class InspectorApp(App[int]):
    """Overview, Images, Layers, Containers, Volumes, Findings and Build cache of one root."""

    CSS_PATH = "app.tcss"
    TITLE = "docker-inspector"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS = [
        *(
            Binding(str(i), f"show_tab('{tab}')", title, show=False)
            for i, (tab, title) in enumerate(TABS, start=1)
        ),
        Binding("question_mark", "help", "Help"),
        Binding("e", "export", "Export"),
        Binding("q", "quit", "Quit"),
    ]

    class ReportReady(Message):
        """A report to show; `final` once sizes are measured (or no measuring follows)."""

        def __init__(self, prepared: Prepared, final: bool) -> None:
            self.prepared = prepared
            self.final = final
            super().__init__()

    class Glanced(Message):
        """Counts from the root's listings, shown until the first report comes."""

        def __init__(self, glance: Glance) -> None:
            self.glance = glance
            super().__init__()

    class LoadProgress(Message):
        """Progress of the load worker."""

        def __init__(self, stage: str, done: int, total: int) -> None:
            self.stage = stage
            self.done = done
            self.total = total
            super().__init__()

    class Exported(Message):
        """The JSON report was written."""

        def __init__(self, path: str, size: int) -> None:
            self.path = path
            self.size = size
            super().__init__()

    class EfficiencyUpdate(Message):
        """dive's numbers so far (every result, not only the new ones: a newer update
        replaces an older one still queued)."""

        def __init__(self, view: EfficiencyView) -> None:
            self.view = view
            super().__init__()

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, InspectorApp.EfficiencyUpdate)

    def __init__(
        self,
        root: str | None = None,
        report: Report | None = None,
        *,
        root_label: str | None = None,
        measure: bool = True,
        measure_fn: MeasureFn | None = None,
        daemon_config: str | None = DEFAULT_DAEMON_CONFIG,
        efficiency: bool = True,
        containerd_root: str | None = None,
        prefetch: ForkedRun | None = None,
    ) -> None:
        super().__init__()
        if root is None and report is None:
            raise ValueError("give a data root or a report")
        self.root = root
        self.daemon_config = daemon_config
        self.containerd_root = containerd_root
        self.efficiency: EfficiencyView | None = (
            EfficiencyView(running=True) if efficiency else None
        )
        """dive's numbers per image as far as computed (None: not computed in this app)."""
        self._efficiency_started = False
        self.report: Report | None = report
        self.root_label = root_label or root or (report.inventory.root.path if report else "")
        self.measure = measure
        self.measure_fn: MeasureFn | None = measure_fn
        """Replaces the measure stage (tests); None: the pipeline's own."""
        self.measuring = False
        """True while the load worker reads or measures the root."""
        self.prefetch = prefetch
        """The forked pipeline run started before Textual was imported (None: read in a
        thread worker here)."""
        self.glance: Glance | None = None
        """The root's counts from its listings, once known (before the first report)."""

    def get_default_screen(self) -> MainScreen:
        return MainScreen(self.root_label)

    @property
    def main(self) -> MainScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    def on_ready(self) -> None:
        self.main.switch_to("overview")
        if self.report is not None:
            self._show(prepare(self.report), final=True)
        else:
            assert self.root is not None
            self.main.status.busy("Reading metadata…")
            self.measuring = True
            if self.prefetch is not None:
                self.load_prefetched(self.prefetch)
            else:
                self.load(self.root)

    # -- loading ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load(self, root: str) -> None:
        """Run the pipeline: show its first report, then the measured one. Only posts messages."""
        worker = get_current_worker()

        def first(report: Report) -> None:
            self.post_message(self.ReportReady(prepare(report), final=False))
            self.post_message(self.LoadProgress("measuring", 0, 0))

        def progress(stage: str, done: int, total: int) -> None:
            if worker.is_cancelled:
                raise LoadCancelled
            self.post_message(self.LoadProgress(stage, done, total))

        opts = Options(
            sizes=self.measure,
            daemon_config=self.daemon_config,
            containerd_root=self.containerd_root,
        )
        final = _interruptible(
            lambda: pipeline.run(root, opts, progress, first, self.measure_fn), worker
        )
        if worker.is_cancelled:
            raise LoadCancelled
        self.post_message(self.ReportReady(prepare(final), final=True))

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load_prefetched(self, prefetch: ForkedRun) -> None:
        """Post what the forked pipeline run sends, as :meth:`load` would; stop it on quit.

        The child reads and measures; the reports are analysed here, as pipeline.run does
        (the first from the Inventory alone, the final one with the Measurements).
        """
        worker = get_current_worker()
        opts = prefetch.options
        inv: Inventory | None = None
        try:
            for kind, payload in prefetch.frames(lambda: worker.is_cancelled):
                if kind == "glance" and isinstance(payload, Glance):
                    self.post_message(self.Glanced(payload))
                elif kind == "inventory" and isinstance(payload, Inventory):
                    inv = payload
                    report = pipeline.analyse(inv, None, opts)
                    self.post_message(self.ReportReady(prepare(report), not opts.sizes))
                    if not opts.sizes:
                        return
                    self.post_message(self.LoadProgress("measuring", 0, 0))
                elif kind == "progress" and isinstance(payload, tuple):
                    self.post_message(self.LoadProgress(*payload))
                elif kind == "measured" and inv is not None:
                    meas = payload if isinstance(payload, Measurements) else None
                    if meas is not None:
                        self.post_message(self.LoadProgress("analysing", 0, 0))
                    final = pipeline.analyse(inv, meas, opts)
                    if worker.is_cancelled:
                        raise LoadCancelled
                    self.post_message(self.ReportReady(prepare(final), final=True))
                    return
                elif kind == "error" and isinstance(payload, BaseException):
                    raise payload
            if worker.is_cancelled:
                raise LoadCancelled
            raise InspectorError("the process reading the data root ended without a report")
        finally:
            prefetch.close()

    def on_inspector_app_glanced(self, message: Glanced) -> None:
        self.glance = message.glance
        if (
            self.report is not None
            or not self.measuring
            or not any(n is not None for n in message.glance)
        ):
            return
        text = glance_text(message.glance)
        self.main.status.busy(f"Reading metadata: {text}…")
        self.main.query_one(Overview).show_glance(text)

    def on_inspector_app_report_ready(self, message: ReportReady) -> None:
        self._show(message.prepared, message.final)

    def on_inspector_app_load_progress(self, message: LoadProgress) -> None:
        if not self.measuring:
            return
        if message.total:
            text = f"{message.stage.capitalize()} {message.done}/{message.total} dirs…"
        else:
            text = f"{message.stage.capitalize()}…"
        self.main.status.busy(text, message.done, message.total)

    def _show(self, prepared: Prepared, final: bool) -> None:
        self.report = prepared.report
        prepared.index.efficiency = self.efficiency
        self.main.show_report(prepared)
        if final:
            self.measuring = False
            self.main.status.done(summary(prepared.report, self.root_label))
            self._start_efficiency(prepared.report)
            heap.settle()  # the report out of full collections (inspector.tui.heap)
        else:
            self.main.status.busy("Measuring…")

    def on_unmount(self) -> None:
        heap.release()

    # -- efficiency ---------------------------------------------------------------------

    def _start_efficiency(self, report: Report) -> None:
        """dive's numbers for every image, in the background, once the sizes are shown."""
        if self.efficiency is None or self._efficiency_started:
            return
        self._efficiency_started = True
        root = self.root or report.inventory.root.given
        ids = tuple(r.image.id for r in report.images)
        if not ids or not os.path.isdir(root):
            # No image, or a report built by hand (tests) without a root to read.
            self._efficiency_changed(None)
            return
        self._efficiency_changed(EfficiencyView(running=True, total=len(ids)))
        self.compute_efficiency(root, ids)

    @work(thread=True, exclusive=True, group="efficiency", exit_on_error=False)
    def compute_efficiency(self, root: str, ids: tuple[str, ...]) -> None:
        """Run ``pipeline.efficiency`` over every image; post what is known as it comes."""
        worker = get_current_worker()
        results: dict[str, ImageEfficiency | Skipped] = {}
        posted = time.monotonic()

        def each(iid: str, result: ImageEfficiency | Skipped) -> None:
            nonlocal posted
            if worker.is_cancelled:
                raise LoadCancelled
            results[iid] = result
            if time.monotonic() - posted >= EFFICIENCY_EVERY:
                posted = time.monotonic()
                view = EfficiencyView(dict(results), True, len(results), len(ids))
                self.post_message(self.EfficiencyUpdate(view))

        opts = Options(daemon_config=self.daemon_config, containerd_root=self.containerd_root)
        _interruptible(lambda: pipeline.efficiency(root, opts, ids=ids, each=each), worker)
        if worker.is_cancelled:
            raise LoadCancelled
        view = EfficiencyView(dict(results), False, len(results), len(ids))
        self.post_message(self.EfficiencyUpdate(view))

    def on_inspector_app_efficiency_update(self, message: EfficiencyUpdate) -> None:
        self._efficiency_changed(message.view)

    def _efficiency_changed(self, view: EfficiencyView | None) -> None:
        """Show new efficiency numbers on the Images tab and on open image pages (None: they
        are not computed in this app)."""
        self.efficiency = view
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                if screen.prepared is not None:
                    screen.prepared.index.efficiency = view
                    screen.refresh_tab("images")
            elif isinstance(screen, ImageScreen):
                screen.ix.efficiency = view
                screen.refresh_efficiency()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures end up: a notification, never a traceback."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, LoadCancelled):
            return
        if isinstance(error, InspectorError):
            text = str(error)
        elif isinstance(error, OSError):
            text = f"{error.strerror or error}: {error.filename or ''}".rstrip(": ")
        else:
            text = f"internal error: {type(error).__name__}: {error} (please report this)"
        group = event.worker.group
        loading = group == "load"
        if group == "efficiency":
            view = self.efficiency or EfficiencyView()
            self._efficiency_changed(dataclasses.replace(view, running=False, error=text))
        self.notify(
            t(text).plain,  # escaped; markup=False keeps brackets in it literal
            title=(
                "Efficiency not computed"
                if group == "efficiency"
                else "Browsing failed"
                if group == "browse"
                else "Loading failed"
                if loading
                else "Export failed"
            ),
            severity="error",
            markup=False,
            timeout=15,
        )
        if loading:
            self.measuring = False
            self.main.status.failed(f"Loading failed: {text}")

    # -- export -------------------------------------------------------------------------

    def roots(self) -> list[str]:
        """The data root as given and as read: a report must go outside both."""
        out = [self.root] if self.root else []
        if self.report is not None:
            out.append(self.report.inventory.root.path)
        return out

    def action_export(self) -> None:
        if self.report is None:
            self.notify("Nothing to export yet: still reading the data root.", markup=False)
            return

        def done(path: str | None) -> None:
            if path is not None:
                self.export(path)

        self.push_screen(ExportScreen(self.roots()), done)

    @work(thread=True, group="export", exit_on_error=False)
    def export(self, path: str) -> None:
        """Write the JSON report of the current report to `path` (outside the root).

        The dialog's check is on the name, when it was typed; the binding one is made by
        outputs.write_file on the directory at write time (a fresh temp file renamed over
        `path`: a symlink there is replaced, never written through).
        """
        from inspector import outputs
        from inspector.report import json_report

        report = self.report
        if report is None:
            raise UsageError("nothing to export yet")
        problem = check_path(path, self.roots())
        if problem is not None or any(inside(path, r) for r in self.roots()):
            raise UsageError(problem or "that path is inside the data root")
        data = json_report.render(report).encode("utf-8")
        try:
            outputs.write_file(
                path, data, self.roots(), label="export to", hint="; write the report elsewhere"
            )
        except OSError as e:
            raise UsageError(f"cannot write {path}: {e.strerror or e}") from e
        self.post_message(self.Exported(path, len(data)))

    def on_inspector_app_exported(self, message: Exported) -> None:
        note = "" if self.report is None or self.report.measured else " (sizes not measured yet)"
        self.notify(
            t(f"Report written to {os.path.abspath(message.path)}{note}").plain,
            title="Exported",
            markup=False,
        )

    # -- other actions ------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        """Go back to the main screen (closing detail pages and dialogs) and show a tab."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.main.switch_to(tab)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Quit at once, cancelling the loader (also while measuring)."""
        self.workers.cancel_all()
        self.exit(0)


def make_app(
    root: str | None = None,
    report: Report | None = None,
    *,
    root_label: str | None = None,
    measure: bool = True,
    measure_fn: MeasureFn | None = None,
    daemon_config: str | None = DEFAULT_DAEMON_CONFIG,
    efficiency: bool = True,
    containerd_root: str | None = None,
    prefetch: ForkedRun | None = None,
) -> InspectorApp:
    """The app over a data root (read and measured in the background) or a ready report.

    root: the data root to read (shown as given). report: show this report instead of
    reading (tests, screenshots). root_label: how to name the root on screen (default:
    `root` as given). measure: walk the trees after the first display (default True).
    daemon_config: dockerd's config file, evidence of which tree it uses (inspector.trees).
    efficiency: compute dive's numbers for every image once the sizes are shown (default
    True; the Images tab fills its WASTED and EFFICIENCY columns as they come).
    containerd_root: ``--containerd-root``, the containerd root of the image store (None:
    detected). prefetch: the pipeline run on `root` forked before Textual was imported
    (:func:`inspector.tui.loader.start`, with the same options); None: read in a thread.
    """
    return InspectorApp(
        root,
        report,
        root_label=root_label,
        measure=measure,
        measure_fn=measure_fn,
        daemon_config=daemon_config,
        efficiency=efficiency,
        containerd_root=containerd_root,
        prefetch=prefetch,
    )


def run(
    root: str,
    daemon_config: str | None = DEFAULT_DAEMON_CONFIG,
    containerd_root: str | None = None,
    prefetch: ForkedRun | None = None,
) -> int:
    """`docker-inspector tui`: check the root, run the app in the terminal, return 0.

    `prefetch`: the run :func:`inspector.tui.loader.start` forked (it checked the root).
    """
    from inspector import trees
    from inspector.root import open_root

    if prefetch is None:
        # A missing or unreadable root fails here, as a plain CLI error; the tree checked is
        # the one the report will be about (a userns-remap root under `root`).
        open_root(trees.locate(root, daemon_config).reported, containerd_root)
    app = make_app(
        root, daemon_config=daemon_config, containerd_root=containerd_root, prefetch=prefetch
    )
    try:
        app.run()
    finally:
        if prefetch is not None:
            prefetch.close()
    return app.return_code or 0
