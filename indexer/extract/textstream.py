"""A text file read in parts of bounded size, so any file's working set stays small.

A plain-text or Markdown file can be one 200 MB line. Decoded whole, normalised and
partitioned, such a file took gigabytes; read here it arrives as parts of about
PART_CHARS characters, each cut at a paragraph break where there is one (else a line
break, a space, or between two characters), decoded incrementally in the encoding
``detect_encoding`` chose from the file's head, with NULs dropped and line ends
made ``\\n``. Each part is then extracted, chunked and embedded before the next is read.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path

from indexer.extract.decode import HEAD_BYTES, TextEncoding, check_text, detect_encoding
from indexer.extract.formats import ExtractionError
from search.text.sentences import cluster_boundary

PART_CHARS = 1 << 20  # characters per part: what extraction and chunking of a text file hold at once
READ_BYTES = 1 << 20
NOISE_SAMPLE = 1 << 16  # characters checked for binary content read as text
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")


def open_text(path: Path, html: bool = False) -> TextEncoding:
    """The file's encoding, or ExtractionError for an empty, binary or undecodable file."""
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
    if not head.strip() and _blank(path):
        raise ExtractionError("empty")
    return detect_encoding(head, lambda: _valid_utf8(path), html)


def text_parts(path: Path, encoding: TextEncoding, part_chars: int = PART_CHARS) -> Iterator[str]:
    """The decoded text in parts of at most about ``part_chars`` characters, in order.

    Joined with nothing in between, the parts are the whole text (NULs dropped, ``\\r\\n`` and
    ``\\r`` made ``\\n``); each ends at a paragraph break when the part has one in its second half.
    """
    buffer = ""
    for block in decoded_blocks(path, encoding):
        buffer += block
        while len(buffer) >= part_chars + part_chars // 2:
            cut = _cut(buffer, part_chars)
            yield buffer[:cut]
            buffer = buffer[cut:]
    while len(buffer) > part_chars:
        cut = _cut(buffer, part_chars)
        yield buffer[:cut]
        buffer = buffer[cut:]
    if buffer:
        yield buffer


def decoded_blocks(path: Path, encoding: TextEncoding) -> Iterator[str]:
    """The file decoded READ_BYTES at a time, NULs dropped, line ends made ``\\n``; the first
    NOISE_SAMPLE characters are checked for binary content read as text, as decode_text does."""
    decoder = codecs.getincrementaldecoder(encoding.name)(errors=encoding.errors)
    held = ""
    seen = ""
    with open(path, "rb") as handle:
        handle.seek(encoding.skip)
        while True:
            block = handle.read(READ_BYTES)
            final = not block
            text = held + decoder.decode(block, final=final)
            held = ""
            if not final and text.endswith("\r"):  # it may be the first half of \r\n
                text, held = text[:-1], "\r"
            text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
            if len(seen) < NOISE_SAMPLE:
                seen += text[: NOISE_SAMPLE - len(seen)]
                if (len(seen) >= NOISE_SAMPLE or final) and seen.strip():
                    check_text(seen)
            if text:
                yield text
            if final:
                return


def _cut(buffer: str, part_chars: int) -> int:
    """Where to end a part: the last paragraph break, line break or space in the second half of
    its allowance, else between two characters."""
    floor = part_chars // 2
    last = None
    for match in _PARAGRAPH_BREAK.finditer(buffer, floor, part_chars):
        last = match.end()
    if last is not None:
        return last
    for mark in ("\n", " "):
        found = buffer.rfind(mark, floor, part_chars)
        if found != -1:
            return found + 1
    cut = part_chars
    while cut > 1 and not cluster_boundary(buffer, cut):
        cut -= 1
    return cut if cut > 1 else part_chars


def _valid_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        with open(path, "rb") as handle:
            while block := handle.read(READ_BYTES):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _blank(path: Path) -> bool:
    with open(path, "rb") as handle:
        while block := handle.read(READ_BYTES):
            if block.strip():
                return False
    return True
