"""Showing user data on a terminal or in a log line, harmlessly.

Host names, import names, URLs and log tails come from users and from
sources; printed raw, an escape sequence recolours or rewrites the
terminal, a newline forges a table row, a C1 control (U+009B is a
one-character CSI on many terminals) starts an escape of its own and a
bidi control (U+202E) reverses the text after it.  `printable` is the
one function every command, table and log formatter uses to show such
values: it writes each of these characters as a visible escape and cuts
the result to a width, with an ellipsis.
"""

from __future__ import annotations

import unicodedata

__all__ = ["ELLIPSIS", "os_error_text", "printable"]

ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# Unicode categories shown as escapes: Cc (C0, DEL and C1 controls), Cf
# (format characters: the bidi embeddings, overrides and isolates
# U+202A-U+202E and U+2066-U+2069, the marks U+200E, U+200F and U+061C,
# zero-width characters), Zl and Zp (line and paragraph separators,
# which some terminals and editors break lines at), Cs (lone
# surrogates, which cannot even be encoded) and Co (private use).
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co"})


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _needs_escape(char: str) -> bool:
    # ASCII printables are the common case; look nothing up for them.
    if " " <= char <= "~":
        return False
    return unicodedata.category(char) in _ESCAPED_CATEGORIES


def printable(value, width: int | None = None, *,
              multiline: bool = False) -> str:
    """`value` as text that is safe to print: one line, at most `width`.

    Control, format (bidi), separator, surrogate and private-use
    characters are written as Python-style escapes (``\\x1b``,
    ``\\u202e``, ``\\n``).

    :param value: anything; None is shown as "", other objects as
        ``str(value)``.
    :param width: the most characters returned; a longer result is cut
        and ends with an ellipsis ("…").  None means no limit.
    :param multiline: keep newlines (each "\\r\\n" and lone "\\r"
        becomes one), for printing a log; `width` then applies to each
        line.
    """
    text = "" if value is None else str(value)
    if multiline:
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return "\n".join(printable(line, width) for line in lines)
    if not (text.isascii() and text.isprintable()):
        text = "".join(_escape(c) if _needs_escape(c) else c for c in text)
    if width is not None and len(text) > width:
        text = text[:max(width - 1, 0)] + ELLIPSIS
    return text


def os_error_text(error: OSError) -> str:
    """What went wrong in an `OSError`, without the file names it holds
    (a job's log is shown to users; the machine's paths are not theirs):
    "File name too long", not "[Errno 36] File name too long: '/srv/...'".
    """
    return error.strerror or type(error).__name__
