"""Make names from a hostile data root safe to print.

Names come from files containers wrote: they may hold ANSI escapes, newlines, bidi overrides
or bytes that are not UTF-8 (decoded by os.fsdecode into lone surrogates). `clean` turns each
such character into a visible escape, so a terminal never receives a control sequence.
"""

from __future__ import annotations

import unicodedata

#: Unicode format characters that reorder or hide text (bidi controls, zero-width).
_FORMAT_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _escape_char(ch: str) -> str:
    o = ord(ch)
    if 0xDC80 <= o <= 0xDCFF:  # surrogateescape'd byte from a non-UTF-8 file name
        return f"\\x{o - 0xDC00:02x}"
    if o < 0x100:
        return f"\\x{o:02x}"
    if o < 0x10000:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


def clean(text: str) -> str:
    """Escape control, format and surrogate characters (and backslashes) as visible text."""
    if text.isprintable() and "\\" not in text:
        return text
    out: list[str] = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == " " or (ch.isprintable() and unicodedata.category(ch) not in _FORMAT_CATEGORIES):
            out.append(ch)
        else:
            out.append(_escape_char(ch))
    return "".join(out)
