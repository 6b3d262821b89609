"""Text that comes from files, shown where it can do harm: a terminal, a page, a message.

A file name, an id or a line of a query set is written by whoever filled the folder. In a
terminal, ESC and the other C0/C1 controls can set the window title, clear the screen or
rewrite earlier lines; anywhere, the bidi embedding, override and isolate characters
(U+202A-U+202E, U+2066-U+2069) reorder what follows them, so ``rtl\\u202egnp.txt`` reads as
``rtltxt.png``. Names and excerpts are therefore shown with those characters escaped, visibly
(``\\x1b``, ``\\u202e``), and cut to a length a message can carry.
"""

from __future__ import annotations

import json
import re

# C0 and C1 controls, DEL, the line/paragraph separators, the bidi marks, embeddings, overrides and isolates.
_UNSAFE_IN_NAMES = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# In running text, tab and newline are text; the bidi marks (LRM, RLM, ALM) belong to right-to-left writing.
_UNSAFE_IN_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# What json.dumps(ensure_ascii=False) leaves raw inside strings (it escapes C0 controls itself).
_UNSAFE_IN_JSON = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
EXCERPT_CHARS = 60


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown_name(text: object) -> str:
    """A file name, path or id as it may be printed or rendered: every control and bidi character escaped."""
    return _UNSAFE_IN_NAMES.sub(_escaped, str(text))


def shown_text(text: object) -> str:
    """Running text (a passage, a message) for a terminal: controls escaped, tabs and newlines kept."""
    return _UNSAFE_IN_TEXT.sub(_escaped, str(text))


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """A short, quoted, escaped excerpt of untrusted content for an error message: ``'abc…'``.

    Messages name a bad id or value so the user can find it, never more than ``limit``
    characters of it: a file read by mistake (a key file behind a symlink) must not be
    printed whole into an error, a log or a pop-up.
    """
    text = shown_name(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "'" + text.replace("'", "\\'") + "'"


def safe_json(data: object) -> str:
    """JSON for a terminal: indented, non-ASCII text as is, but every control and bidi character
    that ``json.dumps`` leaves raw written as a ``\\uXXXX`` escape (the same string once decoded)."""
    text = json.dumps(data, ensure_ascii=False, indent=2)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
