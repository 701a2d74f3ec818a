"""Screens: the tabbed main screen, detail screens, help and export dialogs."""
