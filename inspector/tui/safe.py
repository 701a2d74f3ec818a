"""Turn hostile strings from the data root into inert text for Textual.

Textual parses a plain ``str`` given to a widget (a DataTable cell, a Static, a
notification) as *markup*: a tag named ``[@click=app.quit]x`` would become a live action
and ``[bold red]`` would restyle the screen. Every string that comes from the data root
(tags, names, paths, labels, history lines, finding details) goes through :func:`t`, which
escapes control characters (:func:`inspector.textsafe.clean`) and wraps the result in a
:class:`rich.text.Text`, which Textual never parses as markup.
"""

from __future__ import annotations

from rich.text import Text

from inspector.paths import inside
from inspector.report.text import size as _size
from inspector.textsafe import clean

__all__ = ["clip", "inside", "rel", "short", "size", "stamp", "t"]


def clip(s: str, width: int | None) -> str:
    """`s` cut to `width` cells with a trailing ellipsis (None: unchanged)."""
    if width is None or len(s) <= width:
        return s
    return s[: max(width - 1, 0)] + "…"


def t(s: str | None, style: str = "", width: int | None = None, justify: str = "left") -> Text:
    """Inert text: control characters escaped, never parsed as markup."""
    no_wrap = True if width is not None else None  # None: the container decides
    text = Text(clip(clean(s or ""), width), style=style, no_wrap=no_wrap, end="")
    if justify == "right":
        text.justify = "right"
    return text


def size(n: int | None) -> str:
    """Decimal units like Docker's own output ("-" for unknown)."""
    return _size(n)


def short(ident: str | None) -> str:
    """The 12-character short form of an ID (sha256: prefix dropped)."""
    if not ident:
        return ""
    return ident.removeprefix("sha256:")[:12]


def stamp(when: str | None) -> str:
    """An RFC 3339 time as ``YYYY-MM-DD HH:MM`` (deterministic: no "3 days ago")."""
    if not when:
        return ""
    return when[:16].replace("T", " ")


def rel(path: str | None, root: str) -> str:
    """`path` relative to the data root when it lies under it (shorter and machine-neutral)."""
    if not path:
        return ""
    base = root.rstrip("/")
    if path == base:
        return "."
    if base and path.startswith(base + "/"):
        return path[len(base) + 1 :]
    return path
