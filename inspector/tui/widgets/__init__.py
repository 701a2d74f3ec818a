"""Widgets: the table with filter and sort, the overview, the status bar, one view per tab."""
