"""The one way text reaches the screen: :class:`Inert`, built only by :func:`t` and :func:`line`.

Strings from the data root (tags, names, paths, label keys and values, mount destinations,
history lines, finding details) are hostile: a container label key holding OSC 52 once wrote
to the operator's clipboard. Two things must never happen to them:

- reach the terminal raw: control, format and surrogate characters are escaped as visible
  text (:func:`inspector.textsafe.clean`);
- be parsed as markup: Textual reads a plain ``str`` given to a widget (a Static, a table
  cell, a notification) as markup, so ``[@click=app.quit]x`` would become a live action.
  An :class:`Inert` is a :class:`rich.text.Text`, which is never parsed.

:class:`Inert` escapes in every constructor and every method that adds characters, so an
Inert cannot hold a control character however it is built. Code in ``inspector/tui/`` hands
widgets only Inert text (or Rich tables and groups made of it) and string literals; a guard
in ``tests/test_hygiene.py`` fails the build when a ``Text(...)``, a raw ``str`` or an
f-string reaches ``Static``, ``update``, ``notify``, a table row and the like.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import JustifyMethod, OverflowMethod
from rich.style import Style
from rich.text import Span, Text

from inspector.ids import short
from inspector.paths import inside
from inspector.report.text import size as _size
from inspector.textsafe import clean

__all__ = ["Inert", "clip", "inside", "line", "rel", "short", "size", "stamp", "t"]

StyleType = str | Style
Part = str | Text | tuple[str, StyleType]
"""A piece of :func:`line`: a string (escaped), Inert text, or (string, style)."""


def _unsafe(ch: str) -> bool:
    return ch != "\\" and clean(ch) != ch


def _settle(s: str) -> str:
    """Escape only what a terminal would act on; backslashes stay (idempotent).

    For text that is already Inert being rewritten by Rich itself (``rstrip`` sets
    ``plain`` to a shorter copy): escaping its backslashes again would double them.
    """
    if s.isprintable():
        return s
    return "".join(clean(ch) if _unsafe(ch) else ch for ch in s)


def _escape(text: str, spans: Sequence[Span] = ()) -> tuple[str, list[Span]]:
    """`text` escaped with :func:`clean`, and `spans` moved to cover the same characters."""
    escaped = clean(text)
    if escaped == text:
        return text, list(spans)
    pieces = [clean(ch) for ch in text]  # clean() maps each character on its own
    ends = [0]
    for piece in pieces:
        ends.append(ends[-1] + len(piece))
    last = len(text)
    moved = [
        Span(ends[min(s.start, last)], ends[min(s.end, last)], s.style)
        for s in spans
        if s.start < s.end
    ]
    return "".join(pieces), moved


class Inert(Text):
    """Rich text that holds no control character and is never parsed as markup.

    Build it with :func:`t` or :func:`line`. Everything that adds characters escapes them
    (the constructor, ``append``, ``append_text``, ``append_tokens``, ``assemble``,
    ``styled``), and ``plain`` can only be set to escaped text; methods that return new
    text (``copy``, slicing, ``+``) return plain :class:`rich.text.Text`, which the type
    checker does not accept where an Inert is expected.
    """

    __slots__ = ()

    def __init__(
        self,
        text: str = "",
        style: StyleType = "",
        *,
        justify: JustifyMethod | None = None,
        overflow: OverflowMethod | None = None,
        no_wrap: bool | None = None,
        end: str = "\n",
        tab_size: int | None = None,
        spans: list[Span] | None = None,
    ) -> None:
        escaped, moved = _escape(text, spans or [])
        super().__init__(
            escaped,
            style,
            justify=justify,
            overflow=overflow,
            no_wrap=no_wrap,
            end=end,
            tab_size=tab_size,
            spans=moved,
        )

    @property
    def plain(self) -> str:
        """The text as a single string (escaped)."""
        return Text.plain.fget(self)  # type: ignore[attr-defined,no-any-return]

    @plain.setter
    def plain(self, new_text: str) -> None:
        Text.plain.fset(self, _settle(new_text))  # type: ignore[attr-defined]

    def append(self, text: Text | str, style: StyleType | None = None) -> Inert:
        if isinstance(text, str):
            super().append(clean(text), style)
        else:
            super().append(_inert(text), style)
        return self

    def append_text(self, text: Text) -> Inert:
        super().append_text(_inert(text))
        return self

    def append_tokens(self, tokens: Iterable[tuple[str, StyleType | None]]) -> Inert:
        super().append_tokens((clean(content), style) for content, style in tokens)
        return self

    @classmethod
    def from_markup(cls, *args: Any, **kwargs: Any) -> Text:
        raise TypeError("Inert text is never parsed as markup")

    @classmethod
    def from_ansi(cls, *args: Any, **kwargs: Any) -> Text:
        raise TypeError("Inert text never interprets ANSI escapes")


def _inert(text: Text) -> Inert:
    """`text` as Inert: its characters escaped, its styles kept on the same characters."""
    if isinstance(text, Inert):
        return text
    plain, spans = _escape(text.plain, text.spans)
    out = Inert(
        style=text.style,
        justify=text.justify,
        overflow=text.overflow,
        no_wrap=text.no_wrap,
        end=text.end,
        tab_size=text.tab_size,
    )
    out.plain = plain  # already escaped: the setter leaves it as it is
    out.spans = spans
    return out


def clip(s: str, width: int | None) -> str:
    """`s` cut to `width` cells with a trailing ellipsis (None: unchanged)."""
    if width is None or len(s) <= width:
        return s
    return s[: max(width - 1, 0)] + "…"


def t(s: str | None, style: str = "", width: int | None = None, justify: str = "left") -> Inert:
    """One string as Inert text, cut to `width` after escaping (what is shown is counted)."""
    no_wrap = True if width is not None else None  # None: the container decides
    text = Inert(s or "", style=style, no_wrap=no_wrap, end="")
    if width is not None:
        text.plain = clip(text.plain, width)
    if justify == "right":
        text.justify = "right"
    return text


def line(*parts: Part, style: StyleType = "") -> Inert:
    """Inert text from pieces, like ``Text.assemble``: strings are escaped, Inert kept.

    Also the Inert form of ``Text("literal", style)``: a line ending in a newline, as a
    title or a message in a Rich group needs.
    """
    text = Inert(style=style)
    for part in parts:
        if isinstance(part, tuple):
            text.append(*part)
        else:
            text.append(part)
    return text


def size(n: int | None) -> str:
    """Decimal units like Docker's own output ("-" for unknown)."""
    return _size(n)


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
