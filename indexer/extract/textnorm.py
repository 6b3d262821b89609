"""Text clean-up shared by all extractors, so every format yields the same kind of text.

The text is what result cards quote, so it keeps the document's own characters:
NFC only (the same characters, composed), never NFKC, which would turn Chinese
full-width punctuation (，：) into ASCII. Matching normalises on its own side
(the model's tokenizer, the highlighter's n-grams). The one exception is the
Latin typographic ligatures (ﬁ, ﬂ): a PDF's typesetting, not the author's
characters, and they break word search. Whitespace is collapsed so chunk spans
and token counts do not depend on a PDF's layout.
"""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls except tab and newline, the BOM, soft hyphen, noncharacters, and the bidi embeddings,
# overrides and isolates (U+202A-E, U+2066-9): they reorder what is displayed after them (a passage
# could show other words than it holds); the bidi marks (LRM, RLM) belong to right-to-left text and stay.
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\ufeff\ufffe\uffff\u202a-\u202e\u2066-\u2069]"
)
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\s*\n\s*")

# Scripts written without spaces between words: a line break inside them is not a space.
_NO_SPACE_SCRIPT = (
    r"\u0e00-\u0eff"  # Thai, Lao
    r"\u1000-\u109f"  # Myanmar
    r"\u1780-\u17ff"  # Khmer
    r"\u2e80-\u2fdf\u3000-\u303f"  # CJK radicals, CJK punctuation
    r"\u3040-\u30ff\u31f0-\u31ff"  # Hiragana, Katakana
    r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    r"\uff00-\uffef"  # full/half-width forms
    r"\U00020000-\U0003134f"  # Han extensions
)
NO_SPACE_CHAR = re.compile(f"[{_NO_SPACE_SCRIPT}]")

# Sentence-final marks after which a short line is a sentence, not a heading.
_FINAL_PUNCT = ".。!！।॥۔…"


_LIGATURES = re.compile("[\ufb00-\ufb06]")


def normalize_text(text: str) -> str:
    """NFC, ligatures unfolded, invisible characters removed, whitespace collapsed; single newlines kept."""
    text = unicodedata.normalize("NFC", text)
    text = _LIGATURES.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    text = _LINE_BREAKS.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    text = _HORIZONTAL_SPACE.sub(" ", text)
    return _BLANK_LINES.sub("\n", text).strip()


def join_lines(lines: list[str]) -> str:
    """Join the lines of one paragraph: undo line-break hyphenation, no space inside CJK/Thai."""
    out = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if not out:
            out = line
        elif out.endswith("\u00ad"):
            out = out[:-1] + line
        elif out[-1] in "-\u2010" and len(out) > 1 and out[-2].isalpha():
            # "Silbentren-\nnung" -> "Silbentrennung"; "Lithium-\nIonen" keeps its hyphen.
            out = (out[:-1] if line[0].islower() else out) + line
        elif NO_SPACE_CHAR.match(out[-1]) and NO_SPACE_CHAR.match(line[0]):
            out += line
        else:
            out += " " + line
    return out


def plausible_heading(text: str, max_chars: int = 160) -> bool:
    """Whether text classified as a title by a heuristic could really be one.

    unstructured's title rule is written for English (word count by spaces, a POS
    tagger for verbs), so a whole Japanese paragraph or a short pptx bullet
    passes it. A heading is one line, short, and not a finished sentence.
    """
    text = text.strip()
    if not text or "\n" in text:
        return False
    width = len(text) + len(NO_SPACE_CHAR.findall(text))  # CJK characters carry about two Latin ones
    if width > max_chars:
        return False
    if text[-1] in _FINAL_PUNCT and not re.search(r"(^|\s)\d+(\.\d+)*\.$", text):  # "2." numbering is fine
        return False
    inner = text[:-1]
    return not any(mark in inner for mark in "。！？")
