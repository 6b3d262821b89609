"""The natural-language part of a text: what a language identifier should read.

Why: technical documents quote commands, paths, URLs, options, package names and
tables in the middle of their prose. Those are written the same in every translation
and look like English (or Finnish, or nothing) to a statistical detector. In the Debian
Reference's Japanese chapters they outnumbered the Japanese letters of many chunks, so
the chunk went to an English-trained guess and came out "und" (search/text/language.py
and benchmarks/chunk_languages.py have the figures). Taking them out leaves the words
a translator wrote.

What goes: shell lines (``$ cmd``, ``# cmd``, ``user@host:~$``), URLs and e-mail
addresses, and every word that carries code marks (``/ \\ = _ $ @ { } < > [ ] | # * ~ ^```),
mixes letters and digits (``ch09``, ``x86_64``, ``cron(8)``), is an option (``-l``,
``--force``), joins letters with a dot (``mkfs.vfat``, ``foo.conf``), is an upper-case
acronym (``USB``, ``DKMS``) or is written in camel case (``LibreOffice``). Runs of Han,
kana and Hangul are words of their own here (they are written without spaces), so
a Chinese sentence never goes because a number touches it.
"""

from __future__ import annotations

import re

# CJK ideographs, kana, Hangul and full-width forms: cut apart from adjacent ASCII runs.
_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
_URL = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)\S+|[\w.+-]+@[\w-]+\.[\w.-]+", re.IGNORECASE)
# A shell prompt at the start of a line: "$ ls", "# apt install", "% make", "user@host:~$ ", ">>> ".
_PROMPT = re.compile(r"^[ \t]*(?:[$#%]|>>>|[\w.-]+@[\w.-]+:\S*[$#])[ \t].*$", re.MULTILINE)
_W = rf"[^\s{_CJK}]"  # a character of a word (CJK runs are words of their own)
_L = rf"[^\W\d_{_CJK}]"  # a letter of such a word
_Q = r"[\"'(\[{«“‘„‚<`*]*"  # what may open a word
_E = r"[\"')\]}.,;:!?»”’>`*]*"  # what may close it
_CODE_WORD = re.compile(
    rf"(?<!{_W})(?:"
    rf"{_W}*[/\\=_$@{{}}<>\[\]|#*~^`]{_W}*"  # code marks: paths, assignments, variables, tables
    rf"|{_W}*(?:\d{_W}*{_L}|{_L}{_W}*\d){_W}*"  # letters and digits: ch09, x86_64, cron(8)
    rf"|{_Q}--?[A-Za-z]{_W}*"  # options
    rf"|{_W}*[A-Za-z0-9]\.[A-Za-z0-9]{_W}*"  # dotted names: mkfs.vfat, foo.conf
    rf"|{_W}*[a-z][A-Z]{_W}*"  # camel case: LibreOffice, wl-copy's IBus
    rf"|{_Q}[A-Z]{{2,}}{_E}"  # acronyms: USB, DKMS
    rf")(?!{_W})"
)
_SPACES = re.compile(r"[ \t]+")


def prose_text(text: str) -> str:
    """``text`` without the code it quotes, one line per line that kept a word (see the module doc)."""
    text = _PROMPT.sub("", text)
    if "://" in text or "@" in text or "www." in text:
        text = _URL.sub(" ", text)
    text = _CODE_WORD.sub(" ", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if any(ch.isalpha() for ch in line))
