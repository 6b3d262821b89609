"""Sentence, word and character spans in any script, as offsets into the original string.

Offsets rather than strings because a chunk must be an exact slice of
Document.text. Rules per writing system:

* Latin, Cyrillic, Greek, ...: ``. ! ? …`` followed by whitespace. A period
  after a single letter ("J. R. R.", "e.g."), after a common abbreviation, or
  before a lower-case word does not end a sentence; the cost of a wrong split
  is only a smaller unit, which packing puts back together.
* CJK ``。！？`` (and their NFKC forms ``! ?`` or ``.`` directly followed by CJK),
  Devanagari ``। ॥``, Arabic ``؟ ۔`` and ``.``, Myanmar ``။``, Khmer ``។``,
  Ethiopic ``።``: no space needed after them.
* Thai, Lao, Khmer, Myanmar: no sentence punctuation; a space between two
  letters of these scripts separates sentences or clauses.
* A line break always separates (list rows, table rows, verse).
"""

from __future__ import annotations

import re
import unicodedata
from itertools import pairwise

Span = tuple[int, int]

_STRONG = "。｡！？।॥؟۔။።៕"
_WEAK = ".!?…‼⁇⁈⁉"
_CLOSERS = "\"'”’“‘»)]}）」』】〉》›"
_TERMINATOR = re.compile(f"[{re.escape(_STRONG + _WEAK)}]+[{re.escape(_CLOSERS)}]*")
_SPACED_SCRIPT = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"  # Thai, Lao, Myanmar, Khmer
_SPACE_BETWEEN_UNSPACED = re.compile(f"(?<=[{_SPACED_SCRIPT}])[^\\S\\n]+(?=[{_SPACED_SCRIPT}])")
_NO_SPACE_AFTER = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f\u0e00-\u0eff]"
)
_WORD_BEFORE = re.compile(r"(\w+)\W*$")
_NON_SPACE = re.compile(r"\S+")
_NEXT_NON_SPACE = re.compile(r"\s*(\S)")
ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "sra",
        "srta",
        "jr",
        "st",
        "vs",
        "etc",
        "no",
        "nr",
        "nos",
        "fig",
        "figs",
        "vol",
        "vols",
        "ca",
        "cf",
        "approx",
        "dept",
        "est",
        "inc",
        "ltd",
        "co",
        "corp",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "p",
        "pp",
        "pag",
        "pág",
        "ed",
        "eds",
        "al",
        "resp",
        "bzw",
        "usw",
        "ggf",
        "vgl",
        "evtl",
        "inkl",
        "ca",
        "geb",
        "gest",
        "str",
        "hr",
        "fr",
        "mme",
        "mlle",
        "env",
        "av",
        "dott",
        "sig",
        "sigg",
        "ecc",
        "ул",
        "им",
        "гг",
        "тыс",
        "млн",
        "млрд",
    ]
)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentences of ``text[start:end]``, trimmed of surrounding whitespace; together they
    contain every non-whitespace character of the range."""
    end = len(text) if end is None else end
    cuts = {start, end}
    segment = text[start:end]
    for match in _TERMINATOR.finditer(segment):
        if _ends_sentence(segment, match):
            cuts.add(start + match.end())
    for match in _SPACE_BETWEEN_UNSPACED.finditer(segment):
        cuts.add(start + match.start())
    pos = segment.find("\n")
    while pos != -1:
        cuts.add(start + pos)
        pos = segment.find("\n", pos + 1)
    return _trimmed(text, sorted(cuts))


def word_spans(text: str, start: int, end: int) -> list[Span]:
    """Whitespace-separated words of a range (one span for CJK or Thai without spaces)."""
    return [(m.start(), m.end()) for m in _NON_SPACE.finditer(text, start, end)]


def cluster_spans(text: str, start: int, end: int) -> list[Span]:
    """User-perceived characters: a base character with its combining marks, joiners and
    variation selectors, so a cut never separates a Devanagari vowel sign from its consonant."""
    spans: list[Span] = []
    begin = start
    for i in range(start + 1, end):
        ch, prev = text[i], text[i - 1]
        if ch.isspace() or prev.isspace():
            if i > begin:
                spans.append((begin, i))
            begin = i
            continue
        if _extends(ch) or prev == "\u200d" or unicodedata.combining(prev) == 9:  # 9: virama joins consonants
            continue
        spans.append((begin, i))
        begin = i
    if end > begin:
        spans.append((begin, end))
    return [s for s in spans if not text[s[0] : s[1]].isspace()]


def window_spans(text: str, start: int, end: int, limit: int) -> list[Span]:
    """``text[start:end]`` in pieces of at most ``limit`` characters, cut at the last whitespace
    before each limit (else between two user-perceived characters; only a single character
    longer than the limit is cut inside), trimmed of whitespace.

    A bound on how much text any later step looks at in one go: a 10 MB line becomes windows
    that can be counted and split with a small working set.
    """
    spans: list[Span] = []
    pos = start
    while True:
        a, b = trim_span(text, pos, end)
        if a >= b:
            return spans
        if b - a <= limit:
            spans.append((a, b))
            return spans
        stop = a + limit
        floor = a + limit // 2
        cut = max(text.rfind(" ", floor, stop + 1), text.rfind("\n", floor, stop + 1))
        if cut <= a:
            cut = stop
            while cut > a and not cluster_boundary(text, cut):
                cut -= 1
            if cut == a:  # one "character" longer than the limit (a base under thousands of marks)
                cut = stop
        spans.append(trim_span(text, a, cut))
        pos = cut


def cluster_boundary(text: str, i: int) -> bool:
    """Whether a cut before ``text[i]`` keeps every user-perceived character whole (as cluster_spans)."""
    ch, prev = text[i], text[i - 1]
    if ch.isspace() or prev.isspace():
        return True
    return not (_extends(ch) or prev == "\u200d" or unicodedata.combining(prev) == 9)


def trim_span(text: str, a: int, b: int) -> Span:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _extends(ch: str) -> bool:
    return (
        unicodedata.category(ch)[0] == "M"
        or ch in "\u200c\u200d"
        or "\ufe00" <= ch <= "\ufe0f"
        or "\U0001f3fb" <= ch <= "\U0001f3ff"
        or "\U000e0020" <= ch <= "\U000e007f"
    )


def _ends_sentence(segment: str, match: re.Match[str]) -> bool:
    marks = match.group().rstrip(_CLOSERS)
    after = match.end()
    if after >= len(segment):
        return True
    nxt = segment[after]
    if any(m in _STRONG for m in marks):
        return True
    if not nxt.isspace():
        return bool(_NO_SPACE_AFTER.match(nxt))  # "。" became "." under NFKC? CJK follows directly
    if marks.strip(".") or marks == "...":
        return True  # ! ? … and ellipses end sentences when a space follows
    word = _WORD_BEFORE.search(segment, max(0, match.start() - 40), match.start() + 1)
    if word:
        before = word.group(1)
        if (len(before) == 1 and before.isalpha()) or before.lower() in ABBREVIATIONS:
            return False
    # A match, not segment[after:].lstrip(): that copied the rest of the text at every period.
    nxt_match = _NEXT_NON_SPACE.match(segment, after)
    following = nxt_match.group(1) if nxt_match else ""
    return not (following.isalpha() and following.islower())


def _trimmed(text: str, cuts: list[int]) -> list[Span]:
    spans: list[Span] = []
    for a, b in pairwise(cuts):
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            spans.append((a, b))
    return spans
