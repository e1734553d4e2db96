"""`codeimport.text`: user data shown harmlessly."""

from __future__ import annotations

import errno

import pytest

from codeimport.text import ELLIPSIS
from codeimport.text import os_error_text
from codeimport.text import printable

BIDI_CONTROLS = ("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                 "\u200e\u200f\u061c")


def test_printable_leaves_ordinary_text_alone():
    assert printable("~vcs-imports/gnome-terminal/import") == (
        "~vcs-imports/gnome-terminal/import")
    assert printable("Grüße, 日本語, emoji \U0001f600") == (
        "Grüße, 日本語, emoji \U0001f600")
    assert printable(None) == ""
    assert printable(42) == "42"


@pytest.mark.parametrize("char, shown", [
    ("\x1b", "\\x1b"), ("\x07", "\\x07"), ("\x00", "\\x00"),
    ("\x7f", "\\x7f"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"),
    ("\x85", "\\x85"), ("\x9b", "\\x9b"), ("\x9d", "\\x9d"),
    ("\u2028", "\\u2028"), ("\u2029", "\\u2029"), ("\u200b", "\\u200b"),
    ("\ufeff", "\\ufeff"), ("\ud800", "\\ud800"), ("\ue000", "\\ue000"),
    ("\U000e0001", "\\U000e0001"),
])
def test_printable_escapes_control_and_format_characters(char, shown):
    assert printable(f"a{char}b") == f"a{shown}b"


def test_printable_escapes_every_bidi_control():
    shown = printable(BIDI_CONTROLS)
    assert shown == "".join(f"\\u{ord(c):04x}" for c in BIDI_CONTROLS)
    assert shown.isascii() and shown.isprintable()


def test_printable_escapes_every_c0_and_c1_control():
    controls = "".join(map(chr, [*range(0x20), *range(0x7f, 0xa0)]))
    assert printable(controls).isprintable()


def test_printable_cuts_to_the_width_with_an_ellipsis():
    assert printable("x" * 10, 10) == "x" * 10
    assert printable("x" * 11, 10) == "x" * 9 + ELLIPSIS
    # The width counts what is shown, escapes included.
    assert printable("\x1b" * 5, 10) == "\\x1b\\x1b\\" + ELLIPSIS
    assert printable("abc", 1) == ELLIPSIS


def test_printable_multiline_keeps_line_breaks_only():
    text = "one\r\ntwo\rthree\n\x1b[2Jfour\u202e\tx"
    assert printable(text, multiline=True) == (
        "one\ntwo\nthree\n\\x1b[2Jfour\\u202e\\tx")
    assert printable("abcdef\nxy", 4, multiline=True) == (
        "abc" + ELLIPSIS + "\nxy")


def test_os_error_text_names_no_file():
    error = OSError(errno.ENAMETOOLONG, "File name too long", "/srv/x" * 9)
    assert os_error_text(error) == "File name too long"
    assert os_error_text(BrokenPipeError()) == "BrokenPipeError"
