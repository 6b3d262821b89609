"""A folder of hostile, broken and awkward files, with the reason each one must be reported with.

``make_bad_corpus(folder)`` maps each created file name (relative to ``folder``,
as the walk reports it) to a keyword expected in its reason, or to ``LOADS``
for files that must be extracted despite looking odd (good files, unicode
names, damaged-but-readable text).
"""

from __future__ import annotations

import io
import os
import random
import zipfile
from pathlib import Path

import pymupdf

LOADS = ""  # expected "reason" of a file that must load

HUGE_BYTES = 50 * 1024 * 1024


def make_bad_corpus(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}
    rng = random.Random(1234)

    def write(name: str, data: bytes, reason: str) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        expected[name] = reason

    good_pdf = _pdf(["Chapter one", "The river flows slowly through the old town."] * 3, pages=2)
    # PDFs
    write("good.pdf", good_pdf, LOADS)
    write("truncated.pdf", good_pdf[:300], "corrupt")
    write("corrupt.pdf", b"%PDF-1.7\n" + bytes(rng.randrange(256) for _ in range(4000)), "corrupt")
    write("not-a-pdf.pdf", b"just some words, not a PDF at all\n" * 20, "corrupt")
    write("encrypted.pdf", _pdf(["Secret minutes of the meeting."], password="s3cret"), "encrypted")
    write("scanned.pdf", _image_only_pdf(), "no extractable text")
    write("empty.pdf", b"", "empty")
    # Zip-based formats
    write("zip-bomb.docx", _zip_bomb("word/document.xml"), "zip bomb")
    write("zip-bomb.epub", _zip_bomb("OEBPS/chapter.xhtml"), "zip bomb")
    write("corrupt.docx", bytes(rng.randrange(256) for _ in range(3000)), "corrupt")
    pptx_like = _zip({"[Content_Types].xml": b"<Types/>", "ppt/media/image1.bin": rng.randbytes(6000)})
    write("truncated.pptx", pptx_like[:3000], "corrupt")
    write("no-document.docx", _zip({"[Content_Types].xml": b"<Types/>"}), "DOCX")
    write("no-container.epub", _zip({"mimetype": b"application/epub+zip"}), "corrupt EPUB")
    # Text files that are not text
    write("png-renamed.txt", b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(2000)), "binary")
    write("elf-renamed.md", b"\x7fELF\x02\x01\x01" + bytes(1000), "binary")
    write("random-bytes.html", bytes(rng.randrange(256) for _ in range(5000)), "binary")
    write("utf16-garbage.txt", b"\xff\xfe" + bytes(rng.randrange(256) for _ in range(4000)), "binary")
    # Damaged or odd text that must still load
    write(
        "invalid-utf8.txt",
        "Grüße aus Köln, schöne Straße. ".encode() * 20 + b"\xff\xfe\xc3(" + b" end",
        LOADS,
    )
    write(
        "utf16-lone-surrogate.txt",
        b"\xff\xfe" + "Hello there, ".encode("utf-16-le") * 10 + b"\x00\xd8" + "tail".encode("utf-16-le"),
        LOADS,
    )
    write(
        "nul-bytes.txt", b"Text with\x00 NUL bytes\x00 inside it, written by a buggy tool.\x00\n" * 10, LOADS
    )
    write(
        "deeply-nested.html",
        b"<html><body>" + b"<div>" * 5000 + b"<p>Deep text here.</p>" + b"</div>" * 5000 + b"</body></html>",
        "no text",
    )
    write("empty.txt", b"", "empty")
    write("whitespace.md", b"  \n\t\n   \r\n", "empty")
    write("bom-only.txt", b"\xef\xbb\xbf", "empty")
    # Too large: must be skipped by size before a byte is read
    with open(folder / "huge-single-line.txt", "wb") as handle:
        handle.truncate(HUGE_BYTES)  # sparse: cheap to create, 50 MB to anyone who reads it
    expected["huge-single-line.txt"] = "too large"
    # Unicode file names (good files)
    for name in (
        "日本語のファイル.txt",
        "русский файл.md",
        "ελληνικά.html",
        "한국어 문서.txt",
        "emoji 📄 notes.txt",
        "cafe\u0301-nfd.txt",
    ):
        write(name, f"A readable file called {name}. It has a sentence or two of text.".encode(), LOADS)
    write("عربي/ملف.txt", "هذا ملف نصي مكتوب باللغة العربية وفيه جملة كاملة.".encode(), LOADS)
    # Names and links the walk itself must handle
    _write_bytes_name(folder, b"bad-\xff-name.txt", b"content under an undecodable name")
    expected["bad-\ufffd-name.txt"] = "not valid UTF-8"
    (folder / "loop").mkdir()
    os.symlink("..", folder / "loop" / "back-to-root")
    expected["loop/back-to-root"] = "symlink loop"
    os.symlink("self-link.txt", folder / "self-link.txt")
    expected["self-link.txt"] = "symlink loop"
    os.symlink("does-not-exist.md", folder / "dangling.md")
    expected["dangling.md"] = "broken symlink"
    os.mkfifo(folder / "pipe.txt")
    expected["pipe.txt"] = "not a regular file"
    unreadable = folder / "unreadable.txt"
    unreadable.write_bytes(b"private words")
    unreadable.chmod(0)
    expected["unreadable.txt"] = "permission denied"  # as root the test simulates it
    # Ignored or merely unsupported
    (folder / ".hidden.txt").write_bytes(b"hidden")
    (folder / ".git").mkdir()
    (folder / ".git" / "notes.md").write_bytes(b"# hidden folder")
    (folder / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "notes.rtf").write_bytes(b"{\\rtf1 hello}")
    return expected


def _pdf(lines: list[str], pages: int = 1, password: str | None = None) -> bytes:
    doc = pymupdf.open()
    for _ in range(pages):
        page = doc.new_page()
        page.insert_text((72, 72), "\n".join(lines), fontsize=11)
    kwargs = (
        {"encryption": pymupdf.PDF_ENCRYPT_AES_256, "user_pw": password, "owner_pw": password}
        if password
        else {}
    )
    return doc.tobytes(**kwargs)


def _image_only_pdf() -> bytes:
    """A "scan": one page holding a picture and no text layer."""
    pixmap = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 64, 64), False)
    pixmap.set_rect(pixmap.irect, (200, 200, 200))
    doc = pymupdf.open()
    doc.new_page().insert_image(pymupdf.Rect(72, 72, 272, 272), pixmap=pixmap)
    return doc.tobytes()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _zip_bomb(member: str) -> bytes:
    """30 MB of zeros deflated to ~30 KB: ratio ~1000:1."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        with archive.open(member, "w") as handle:
            block = bytes(1024 * 1024)
            for _ in range(30):
                handle.write(block)
    return buffer.getvalue()


def _write_bytes_name(folder: Path, name: bytes, data: bytes) -> None:
    fd = os.open(os.path.join(os.fsencode(folder), name), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
