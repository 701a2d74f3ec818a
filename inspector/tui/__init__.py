"""The interactive terminal UI (Textual): ``inspector.tui.app.make_app`` builds it, ``run`` runs it.

Layout: ``app.py`` (thin App, the load/export workers, the one worker-error handler),
``app.tcss`` (styles), ``screens/`` (main tabs, image drill-down, detail pages, help, export),
``widgets/`` (the filterable/sortable table, overview, status bar, one view per tab),
``rows.py`` and ``details.py`` (pure Report → table rows / detail sections),
``safe.py`` (the one way text reaches the screen: ``Inert``, escaped, never markup) and
``sample.py`` (filesystem-neutral report for screenshots and snapshot tests).
"""
