"""Bytes of a .txt/.md/.html file -> str, in whatever encoding it was saved.

Order matters: a BOM is proof, valid UTF-8 is near-proof, a file that is
mostly UTF-8 with a few bad bytes is UTF-8 with damage (decode with
replacement rather than guess a legacy code page that garbles every other
character), UTF-16 without a BOM shows as NUL bytes in every other position,
and only then is charset-normalizer asked to guess.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from charset_normalizer import from_bytes

from indexer.extract.formats import ExtractionError

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Signatures of common binary formats that people rename or mislabel.
_MAGIC = (
    b"%PDF-",
    b"PK\x03\x04",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"\x7fELF",
    b"MZ",
    b"\x1f\x8b",
    b"BZh",
    b"7z\xbc\xaf",
    b"Rar!",
    b"\xd0\xcf\x11\xe0",  # OLE: .doc, .xls, .msg
    b"SQLite format 3",
    b"OggS",
    b"ID3",
    b"\x00\x00\x00\x18ftyp",
    b"\x00\x00\x00\x20ftyp",
)
_SAMPLE = 64 * 1024
_CHAOS_MARGIN = 0.05
# Bytes that never occur in text in an 8-bit or UTF-8 encoding (tab, LF, CR, FF and ESC do).
_CONTROL_BYTES = frozenset(set(range(0x09)) | {0x0B} | set(range(0x0E, 0x1B)) | set(range(0x1C, 0x20)))
_NOISE_CATEGORIES = frozenset({"Cc", "Cn", "Co", "Cs"})  # controls, unassigned, private use, surrogates
_TEXT_CONTROLS = frozenset("\t\n\r\f\v\x1b")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


HEAD_BYTES = 4 * _SAMPLE  # what the encoding is decided from (all of it only for the UTF-8 check)


@dataclass(frozen=True)
class TextEncoding:
    """How a file's bytes become text: a codec, its error handling, and a BOM to skip."""

    name: str
    errors: str = "replace"
    skip: int = 0  # bytes of byte-order mark


def decode_text(data: bytes, html: bool = False) -> str:
    """Decode file bytes to text; ExtractionError for empty or binary content."""
    if not data.strip():
        raise ExtractionError("empty")
    encoding = detect_encoding(data[:HEAD_BYTES], lambda: _valid_utf8(data), html)
    return check_text(data[encoding.skip :].decode(encoding.name, errors=encoding.errors))


def detect_encoding(head: bytes, valid_utf8: Callable[[], bool], html: bool = False) -> TextEncoding:
    """The encoding of a file from its first HEAD_BYTES and a check that the whole is valid UTF-8
    (asked only when it matters, so a caller streaming a large file reads it once more at most)."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return TextEncoding(encoding, skip=len(bom))
    utf16 = _utf16_without_bom(head)
    if utf16:
        return TextEncoding(utf16)
    if head.startswith(_MAGIC) or _looks_binary(head[:_SAMPLE]):
        raise ExtractionError("binary content, not text")
    if valid_utf8():
        return TextEncoding("utf-8", errors="strict")
    if _mostly_utf8(head):
        return TextEncoding("utf-8")
    if html:
        declared = _declared_charset(head)
        if declared:
            return TextEncoding(declared)
    guessed = _guess_encoding(head)
    if guessed is None:
        raise ExtractionError("binary content, not text (no text encoding fits)")
    return TextEncoding(guessed)


def _valid_utf8(data: bytes) -> bool:
    try:
        codecs.decode(data, "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _guess_encoding(data: bytes) -> str | None:
    """charset-normalizer's guess, with a tie-break it lacks for short Western text.

    On a two-sentence French cp1252 file its best match is cp1257 (chaos 0.0)
    while cp1252 scores chaos 0.038 but higher coherence; every 8-bit code page
    "fits" such text. Among matches about as clean as the best, take the most
    coherent one, and on a tie the one that could be cp1252, by far the most
    common legacy encoding.
    """
    results = from_bytes(data)
    best = results.best()
    if best is None:
        return None
    close = [m for m in results if m.chaos <= best.chaos + _CHAOS_MARGIN]
    return str(max(close, key=lambda m: (m.coherence, "cp1252" in m.could_be_from_charset)).encoding)


def _utf16_without_bom(data: bytes) -> str | None:
    """NUL high bytes in most code units at one parity: ASCII-range text saved as UTF-16."""
    sample = data[:_SAMPLE]
    if len(sample) < 4:
        return None
    units = len(sample) // 2
    even_nul = sample[0::2].count(0) / units
    odd_nul = sample[1::2].count(0) / units
    if odd_nul > 0.4 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.4 and odd_nul < 0.05:
        return "utf-16-be"
    return None


def _looks_binary(sample: bytes) -> bool:
    """Control bytes that text never contains; NULs are judged apart (stray NULs get stripped)."""
    if not sample:
        return False
    nul = sample.count(0)
    controls = sum(1 for b in sample if b in _CONTROL_BYTES) - nul
    return controls > 0.03 * len(sample) or nul > 0.3 * len(sample)


def _mostly_utf8(data: bytes) -> bool:
    """More well-formed multi-byte sequences than broken ones: UTF-8 with damage, not a code page."""
    text = data[: 4 * _SAMPLE].decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    multibyte = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    return multibyte > broken


def _declared_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:4096])
    if not match:
        return None
    name = match.group(1).decode("ascii", errors="ignore")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def check_text(text: str) -> str:
    """Strip NULs; refuse what decoded into noise (random bytes read as UTF-16 land all over
    unassigned and private-use code points, which real text almost never uses)."""
    text = text.replace("\x00", "")
    if not text.strip():
        raise ExtractionError("empty")
    sample = text[:_SAMPLE]
    bad = sum(
        1
        for ch in sample
        if ch == "\ufffd" or (ch not in _TEXT_CONTROLS and unicodedata.category(ch) in _NOISE_CATEGORIES)
    )
    if bad > 0.1 * len(sample):
        raise ExtractionError("binary content, not text")
    return text
