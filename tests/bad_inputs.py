"""A folder of hostile, broken and awkward files, with the reason each one must be reported with.

``make_bad_corpus(folder)`` maps each created file name (relative to ``folder``,
as the walk reports it) to a keyword expected in its reason, or to ``LOADS``
for files that must be extracted despite looking odd (good files, unicode
names, damaged-but-readable text).
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import random
import zipfile
from pathlib import Path

import pymupdf

LOADS = ""  # expected "reason" of a file that must load

HUGE_BYTES = 50 * 1024 * 1024  # one line, no newline
BIG_BYTES = 20 * 1024 * 1024  # many short paragraphs


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
        LOADS,  # the streaming parser keeps no tree, so depth costs nothing (the tree parser found no text)
    )
    write("empty.txt", b"", "empty")
    write("whitespace.md", b"  \n\t\n   \r\n", "empty")
    write("bom-only.txt", b"\xef\xbb\xbf", "empty")
    # Text in other encodings that must be decoded, not skipped
    german = "Wildbienen sind für die Bestäubung unverzichtbar. Viele Arten stehen auf der Roten Liste."
    russian = "Бородинский хлеб пекут из ржаной муки с солодом и кориандром, у него тёмный цвет."
    write("utf16-le-bom.txt", codecs.BOM_UTF16_LE + (german + "\n").encode("utf-16-le") * 5, LOADS)
    write("utf16-be-bom.md", codecs.BOM_UTF16_BE + ("# Хлеб\n\n" + russian).encode("utf-16-be"), LOADS)
    write(
        "utf16-le-no-bom.txt",
        ("Plain English saved as UTF-16 without a byte order mark. " * 5).encode("utf-16-le"),
        LOADS,
    )
    write("utf8-bom.html", codecs.BOM_UTF8 + f"<html><body><p>{german}</p></body></html>".encode(), LOADS)
    write(
        "cp1252.txt", "Le café de la Forêt-Noire coûte très cher à Noël, hélas.\n".encode("cp1252") * 5, LOADS
    )
    # More binary content behind text extensions
    write("zip-renamed.txt", _zip({"a.bin": rng.randbytes(2000)}), "binary")
    write("gzip-renamed.md", gzip.compress(rng.randbytes(3000)), "binary")
    write("nul-only.txt", bytes(4096), "binary")
    # Too large: skipped by size before a byte is read. Real text, so a regression that reads it shows.
    _write_repeated(folder / "big-20mb.txt", (german + "\n\n").encode(), BIG_BYTES)
    expected["big-20mb.txt"] = "too large"
    _write_repeated(folder / "huge-single-line.txt", (german + " ").encode(), HUGE_BYTES)
    expected["huge-single-line.txt"] = "too large"
    # Good files in the formats not covered above
    write("good.docx", _docx(["Bienen im Garten", german, "Honeybees make honey from nectar."]), LOADS)
    write("good.pptx", _pptx("Coral reefs", "Coral bleaching happens when the water stays too warm."), LOADS)
    write(
        "good.epub",
        _epub("<h1>Incunabula</h1><p>Books printed before 1501 are called incunabula.</p>"),
        LOADS,
    )
    write("good.md", f"# Wildbienen\n\n{german}\n".encode(), LOADS)
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
    (folder / "notes.rtf").write_bytes(b"{\\rtf1 hello}")
    # Images are read by OCR: one that stops after its signature, one that is not an image at all
    write("picture.png", b"\x89PNG\r\n\x1a\n", "corrupt or unreadable image")
    write(
        "photo.jpg",
        b"\xff\xd8\xff\xe0" + bytes(rng.randrange(256) for _ in range(2000)),
        "corrupt or unreadable image",
    )
    return expected


def _pdf(lines: list[str], pages: int = 1, password: str | None = None) -> bytes:
    doc = pymupdf.open()
    for _ in range(pages):
        page = doc.new_page()
        page.insert_text((72, 72), "\n".join(lines), fontsize=11)
    kwargs = (
        {"encryption": pymupdf.PDF_ENCRYPT_AES_256, "user_pw": password, "owner_pw": password}  # type: ignore[attr-defined]
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


def _write_repeated(path: Path, unit: bytes, size: int) -> None:
    """``size`` bytes of ``unit`` repeated, written in 1 MB blocks."""
    block = unit * (1024 * 1024 // len(unit))
    with open(path, "wb") as handle:
        left = size
        while left > 0:
            handle.write(block[:left])
            left -= len(block)


def _docx(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(paragraphs[0], level=1)
    for paragraph in paragraphs[1:]:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _pptx(title: str, body: str) -> bytes:
    from pptx import Presentation

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = title
    slide.placeholders[1].text = body
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def _epub(body: str) -> bytes:
    """A minimal EPUB 3: container, package document, one chapter."""
    opf = (
        '<?xml version="1.0" encoding="utf-8"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Book</dc:title></metadata>'
        '<manifest><item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/></manifest>'
        '<spine><itemref idref="c1"/></spine></package>'
    )
    container = (
        '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
        '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
        "</rootfiles></container>"
    )
    chapter = f'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><body>{body}</body></html>'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", container)
        archive.writestr("OEBPS/content.opf", opf)
        archive.writestr("OEBPS/c1.xhtml", chapter, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _write_bytes_name(folder: Path, name: bytes, data: bytes) -> None:
    fd = os.open(os.path.join(os.fsencode(folder), name), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


# ---- good files -----------------------------------------------------------------------------------

GOOD_TEXTS: dict[str, tuple[str, ...]] = {
    "en": (
        "Honeybees are social insects that live in large colonies and make honey from the nectar of flowers.",
        "The varroa mite arrived in Europe in the nineteen seventies and has weakened many colonies since then.",
        "Beekeepers check their hives every week in spring, looking for queen cells and signs of disease.",
    ),
    "de": (
        "Wildbienen sind für die Bestäubung vieler Pflanzen unverzichtbar und leben meist allein.",
        "In Deutschland gibt es mehr als fünfhundert Arten, von denen viele auf der Roten Liste stehen.",
        "Ein naturnaher Garten mit offenen Bodenstellen und alten Stängeln hilft ihnen beim Nisten.",
    ),
    "fr": (
        "Le blanchissement des coraux se produit lorsque l'eau reste trop chaude pendant plusieurs semaines.",
        "Les algues qui vivent dans les tissus du corail sont alors expulsées et le squelette blanc apparaît.",
        "Si la chaleur ne dure pas trop longtemps, les coraux peuvent retrouver leurs algues et survivre.",
    ),
    "es": (
        "La masa madre es una mezcla de harina y agua fermentada por levaduras y bacterias salvajes.",
        "Para mantenerla activa hay que alimentarla cada día con harina fresca y agua templada.",
        "El pan de masa madre tiene una corteza crujiente y un sabor ligeramente ácido muy apreciado.",
    ),
}


def good_paragraphs(language: str, topic: int = 0) -> list[str]:
    """Several paragraphs of real-language text, varied by ``topic`` so files differ."""
    base = GOOD_TEXTS[language]
    return [f"§{topic}.{i} {base[(i + topic) % len(base)]}" for i in range(6)]


def make_good_corpus(folder: Path) -> dict[str, str]:
    """A small readable folder in four languages and four formats; name -> its language."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    def text_file(name: str, language: str, topic: int, heading: str | None = None) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "\n\n".join(good_paragraphs(language, topic))
        path.write_text(f"# {heading}\n\n{body}\n" if heading else body + "\n", encoding="utf-8")
        files[name] = language

    text_file("en/bees.txt", "en", 0)
    text_file("en/hives.md", "en", 1, heading="Hive inspections")
    text_file("de/wildbienen.md", "de", 0, heading="Wildbienen im Garten")
    text_file("de/nisthilfen.txt", "de", 2)
    text_file("fr/coraux.txt", "fr", 0)
    text_file("es/masa-madre.md", "es", 0, heading="Masa madre")
    html = "".join(f"<p>{p}</p>" for p in good_paragraphs("fr", 1))
    (folder / "fr/recifs.html").write_text(
        f"<html><head><title>Récifs</title></head><body><h1>Récifs</h1>{html}</body></html>", encoding="utf-8"
    )
    files["fr/recifs.html"] = "fr"
    pdf_pages = [good_paragraphs("en", 2)[:3], good_paragraphs("en", 3)[:3]]
    (folder / "en/report.pdf").write_bytes(_pdf_pages(pdf_pages))
    files["en/report.pdf"] = "en"
    return files


def _pdf_pages(pages: list[list[str]]) -> bytes:
    """One PDF page per list of paragraphs, each paragraph wrapped into its own text block."""
    doc = pymupdf.open()
    for paragraphs in pages:
        page = doc.new_page()
        y = 72.0
        for paragraph in paragraphs:
            rect = pymupdf.Rect(72, y, 520, y + 80)
            page.insert_textbox(rect, paragraph, fontsize=11)
            y += 90
    return doc.tobytes()
