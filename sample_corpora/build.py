#!/usr/bin/env python3
"""Build the project's sample corpus and its labeled query set from plain-text sources.

    python sample_corpora/build.py                   # regenerate documents/ and queryset/ from sources/
    python sample_corpora/build.py --check           # rebuild in memory, compare with the committed files
    python sample_corpora/build.py --stats           # print the document table (Markdown) used in README.md
    python sample_corpora/build.py --export-corpus   # write queryset/corpus.jsonl with the project's loaders

Sources live in ``sources/``: one YAML file per document (``sources/<topic>/<lang>-<slug>.yaml``,
mirroring ``documents/<topic>/<lang>-<slug>.<format>``) and ``sources/queries.yaml`` for the
queries and their relevance judgements. YAML is not a format the indexer reads, so pointing
the indexer at ``sample_corpora/`` indexes the generated documents and not their sources.

Document body markup (a small subset of Markdown, one block per line):

    # Title                 document title (first line, exactly once)
    ## Heading              section heading (slide title in PPTX)
    ### Subheading
    - item                  bullet list item
    ===                     page break (PDF, DOCX), new slide (PPTX), new chapter (EPUB)
    any other line          a paragraph; blank lines between blocks are optional

Scanned documents: a ``.png`` or ``.tiff`` path, or ``scan: true`` on a ``.pdf``, renders the
pages as images (benchmarks/page_images.py, Debian's Noto fonts, 200 dpi, the sheet turned a
little) with no text layer, so only OCR reads them; ``vertical: true`` sets Japanese in columns.

Builds are deterministic: fixed metadata and timestamps, no random ids, ZIP members written
with a fixed date, so rebuilding with the pinned library versions gives byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import io
import json
import re
import sys
import unicodedata
import uuid
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SOURCES = HERE / "sources"
DOCUMENTS = HERE / "documents"
QUERYSET = HERE / "queryset"

AUTHOR = "Multilingual Search project"
FIXED_DATE = dt.datetime(2025, 1, 1, 0, 0, 0)
PDF_DATE = "D:20250101000000Z"
ZIP_DATE = (2025, 1, 1, 0, 0, 0)
UUID_NAMESPACE = uuid.UUID("5b1f2f3e-4d0a-4c8e-9a61-0c4f1a9b7e21")

FORMATS = ("pdf", "docx", "pptx", "html", "md", "txt", "epub", "png", "tiff")
IMAGE_FORMATS = ("png", "tiff")  # scanned pages, one per frame
SCAN_DPI = 200
BINARY_FORMATS = ("pdf", "docx", "pptx", "epub")
RTL_LANGUAGES = {"ar", "he", "fa", "ur"}
# Scripts that PDF text extraction cannot give back in logical order (shaping, reordering):
# documents in these languages are kept in formats that store plain Unicode.
NO_PDF_LANGUAGES = {"ar", "he", "fa", "ur", "hi", "bn", "ta", "th"}
CHAR_COUNTED = {"zh", "ja"}  # languages written without spaces: sizes are given in characters

LANGUAGE_NAMES = {
    "ar": "Arabic",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nl": "Dutch",
    "pt": "Portuguese",
    "ru": "Russian",
    "tr": "Turkish",
    "zh": "Chinese",
}

MAX_TOTAL_CHARS = 66_000  # whole corpus, plain text: indexing budget (about 21k e5 tokens; README, tests)


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    kind: str  # "title" | "heading" | "subheading" | "para" | "bullet"
    text: str


@dataclass
class Source:
    path: str  # document path relative to documents/, POSIX
    language: str
    topic: str
    format: str
    title: str
    pages: list[list[Block]]
    description: str = ""
    source_file: str = ""
    scan: bool = False  # pages rendered as images, no text layer: only OCR reads them
    vertical: bool = False  # (scans) Japanese set in vertical columns

    @property
    def blocks(self) -> list[Block]:
        return [block for page in self.pages for block in page]

    @property
    def text(self) -> str:
        """The document's plain text: one block per paragraph, blank lines between blocks."""
        return "\n\n".join(block.text for block in self.blocks)

    def page_texts(self) -> list[str]:
        return ["\n\n".join(block.text for block in page) for page in self.pages]


def parse_body(body: str, where: str) -> list[list[Block]]:
    pages: list[list[Block]] = [[]]
    for number, raw in enumerate(body.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line == "===":
            pages.append([])
            continue
        if raw != raw.lstrip():
            raise ValueError(f"{where}:{number}: indented line (paragraphs are single lines)")
        if line.startswith("### "):
            block = Block("subheading", line[4:].strip())
        elif line.startswith("## "):
            block = Block("heading", line[3:].strip())
        elif line.startswith("# "):
            block = Block("title", line[2:].strip())
        elif line.startswith("- "):
            block = Block("bullet", line[2:].strip())
        else:
            block = Block("para", line)
        pages[-1].append(block)
    if any(not page for page in pages):
        raise ValueError(f"{where}: empty page")
    titles = [b for page in pages for b in page if b.kind == "title"]
    if len(titles) != 1 or pages[0][0].kind != "title":
        raise ValueError(f"{where}: the body must start with exactly one '# Title' line")
    return pages


def load_source(path: Path) -> Source:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    where = path.relative_to(HERE).as_posix()
    missing = {"path", "language", "topic", "body"} - set(data)
    if missing:
        raise ValueError(f"{where}: missing keys {sorted(missing)}")
    rel = data["path"]
    fmt = rel.rsplit(".", 1)[-1]
    if fmt not in FORMATS:
        raise ValueError(f"{where}: unsupported format {fmt!r}")
    expected = path.relative_to(SOURCES).with_suffix("").as_posix()
    if rel.rsplit(".", 1)[0] != expected:
        raise ValueError(f"{where}: path {rel!r} does not mirror the source file name {expected!r}")
    pages = parse_body(data["body"], where)
    language = data["language"]
    scan = bool(data.get("scan")) or fmt in IMAGE_FORMATS
    if fmt == "pdf" and language in NO_PDF_LANGUAGES and not scan:
        raise ValueError(f"{where}: {language} text does not survive PDF extraction; use another format")
    return Source(
        path=rel,
        language=language,
        topic=data["topic"],
        format=fmt,
        title=pages[0][0].text,
        pages=pages,
        description=data.get("description", ""),
        source_file=where,
        scan=scan,
        vertical=bool(data.get("vertical")),
    )


def load_sources() -> list[Source]:
    sources = [load_source(p) for p in sorted(SOURCES.glob("*/*.yaml"))]
    seen: set[str] = set()
    for src in sources:
        if src.path in seen:
            raise ValueError(f"duplicate document path {src.path}")
        seen.add(src.path)
    return sources


# --------------------------------------------------------------------------------------------
# Text helpers shared by the renderers, the checks and the statistics
# --------------------------------------------------------------------------------------------


def normalize(text: str) -> str:
    """Comparison form: NFKC, bullets dropped, all whitespace removed."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u2022", "")
    return re.sub(r"\s+", "", text)


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def size_of(src: Source) -> tuple[int, str]:
    """Words (characters for Chinese and Japanese) of a document's text, for the tables."""
    if src.language in CHAR_COUNTED:
        return len(_CJK.findall(src.text)), "chars"
    return sum(1 for token in src.text.split() if any(ch.isalnum() for ch in token)), "words"


# --------------------------------------------------------------------------------------------
# Renderers: each returns the file's bytes
# --------------------------------------------------------------------------------------------


def _html_blocks(blocks: list[Block], h1: str = "h1") -> str:
    out: list[str] = []
    in_list = False
    tags = {"title": h1, "heading": "h2", "subheading": "h3", "para": "p"}
    for block in blocks:
        if block.kind == "bullet":
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"  <li>{html.escape(block.text, quote=False)}</li>")
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        tag = tags[block.kind]
        out.append(f"<{tag}>{html.escape(block.text, quote=False)}</{tag}>")
    if in_list:
        out.append("</ul>")
    return "\n".join(out)


PDF_CSS = """
body { font-family: sans-serif; font-size: 11pt; line-height: 1.45; color: #1a1a1a; }
h1 { font-size: 19pt; margin: 0 0 14pt 0; color: #123a5a; }
h2 { font-size: 13.5pt; margin: 14pt 0 5pt 0; color: #123a5a; }
h3 { font-size: 12pt; margin: 10pt 0 4pt 0; }
p { margin: 0 0 7pt 0; text-align: left; }
ul { margin: 0 0 7pt 0; }
li { margin: 0 0 3pt 0; }
"""


def render_pdf(src: Source) -> bytes:
    import pymupdf

    mediabox = pymupdf.paper_rect("a4")
    where = mediabox + (62, 62, -62, -62)  # noqa: RUF005 - Rect arithmetic: the margins inset the page
    buffer = io.BytesIO()
    writer = pymupdf.DocumentWriter(buffer)
    pages_written = 0
    for page in src.pages:
        body = f'<body lang="{src.language}">\n{_html_blocks(page)}\n</body>'
        story = pymupdf.Story(html=body, user_css=PDF_CSS)
        more = 1
        while more:
            device = writer.begin_page(mediabox)
            more, _ = story.place(where)
            story.draw(device)
            writer.end_page()
            pages_written += 1
    writer.close()
    if pages_written != len(src.pages):
        raise ValueError(
            f"{src.path}: a source page overflowed its PDF page ({pages_written} != {len(src.pages)})"
        )
    doc = pymupdf.open("pdf", buffer.getvalue())
    doc.set_metadata(
        {
            "title": src.title,
            "author": AUTHOR,
            "subject": src.description or src.topic,
            "keywords": f"sample corpus, {src.topic}, {src.language}",
            "creator": "sample_corpora/build.py",
            "producer": "PyMuPDF",
            "creationDate": PDF_DATE,
            "modDate": PDF_DATE,
        }
    )
    doc.set_language(src.language)
    doc.subset_fonts()  # embed only the glyphs used: the CJK fallback font is several MB whole
    data = doc.tobytes(garbage=4, deflate=True, no_new_id=True)
    doc.close()
    return data


def _normalize_zip(data: bytes, first: str | None = None) -> bytes:
    """Rewrite a ZIP container with fixed timestamps and attributes (deterministic bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        names = zin.namelist()
        if first and first in names:
            names.remove(first)
            names.insert(0, first)
        for name in names:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zout.writestr(info, zin.read(name))
    return out.getvalue()


_WORD_LANG = {
    "zh": "zh-CN",
    "ja": "ja-JP",
    "ko": "ko-KR",
    "ar": "ar-SA",
    "hi": "hi-IN",
    "en": "en-GB",
    "de": "de-DE",
    "fr": "fr-FR",
    "es": "es-ES",
    "it": "it-IT",
    "pt": "pt-BR",
    "ru": "ru-RU",
    "tr": "tr-TR",
    "nl": "nl-NL",
}


def _set_core_properties(core: Any, src: Source) -> None:  # python-docx/pptx core properties
    core.title = src.title
    core.author = AUTHOR
    core.last_modified_by = AUTHOR
    core.subject = src.description or src.topic
    core.keywords = f"sample corpus; {src.topic}; {src.language}"
    core.comments = (
        "Generated by sample_corpora/build.py from sources/" + src.source_file.split("sources/", 1)[-1]
    )
    core.category = src.topic
    core.language = _WORD_LANG.get(src.language, src.language)
    core.created = FIXED_DATE
    core.modified = FIXED_DATE
    core.last_printed = FIXED_DATE
    core.revision = 1


def render_docx(src: Source) -> bytes:
    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    document = docx.Document()
    _set_core_properties(document.core_properties, src)
    tag = _WORD_LANG.get(src.language, src.language)
    # Default proofing language for Latin, East Asian and complex-script text.
    rpr_default = document.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    for old in rpr_default.findall(qn("w:lang")):
        rpr_default.remove(old)
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), tag if src.language not in {"zh", "ja", "ko", "ar", "hi"} else "en-GB")
    lang.set(qn("w:eastAsia"), tag if src.language in {"zh", "ja", "ko"} else "zh-CN")
    lang.set(qn("w:bidi"), tag if src.language in {"ar", "hi"} else "ar-SA")
    rpr_default.append(lang)
    rtl = src.language in RTL_LANGUAGES
    styles = {"title": None, "heading": None, "subheading": None, "para": None, "bullet": "List Bullet"}
    for page_number, page in enumerate(src.pages):
        for index, block in enumerate(page):
            if block.kind == "title":
                paragraph = document.add_heading(block.text, level=0)
            elif block.kind == "heading":
                paragraph = document.add_heading(block.text, level=1)
            elif block.kind == "subheading":
                paragraph = document.add_heading(block.text, level=2)
            else:
                paragraph = document.add_paragraph(block.text, style=styles[block.kind])
            if page_number and index == 0:
                paragraph.paragraph_format.page_break_before = True
            if rtl:
                ppr = paragraph._p.get_or_add_pPr()
                ppr.append(OxmlElement("w:bidi"))
                for run in paragraph.runs:
                    run._r.get_or_add_rPr().append(OxmlElement("w:rtl"))
    buffer = io.BytesIO()
    document.save(buffer)
    return _normalize_zip(buffer.getvalue())


def render_pptx(src: Source) -> bytes:
    from pptx import Presentation
    from pptx.util import Pt

    prs = Presentation()
    _set_core_properties(prs.core_properties, src)
    first = src.pages[0]
    slide = prs.slides.add_slide(prs.slide_layouts[0])
    slide.shapes.title.text = first[0].text
    rest = [b.text for b in first[1:]]
    if rest:
        slide.placeholders[1].text_frame.text = "\n".join(rest)
    for page in src.pages[1:]:
        if page[0].kind != "heading":
            raise ValueError(f"{src.path}: every slide after the first starts with a '## ' title")
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = page[0].text
        frame = slide.placeholders[1].text_frame
        for index, block in enumerate(page[1:]):
            paragraph = frame.paragraphs[0] if index == 0 else frame.add_paragraph()
            paragraph.text = block.text
            for run in paragraph.runs:
                run.font.size = Pt(18)
    buffer = io.BytesIO()
    prs.save(buffer)
    return _normalize_zip(buffer.getvalue())


def render_html(src: Source) -> str:
    direction = "rtl" if src.language in RTL_LANGUAGES else "ltr"
    description = html.escape(src.description or src.title)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{src.language}" dir="{direction}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="author" content="{AUTHOR}">\n'
        f'<meta name="description" content="{description}">\n'
        f"<title>{html.escape(src.title, quote=False)}</title>\n"
        "<style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;"
        "line-height:1.55}h1,h2{color:#123a5a}</style>\n"
        "</head>\n"
        "<body>\n"
        "<article>\n"
        f"{_html_blocks(src.blocks)}\n"
        "</article>\n"
        "</body>\n"
        "</html>\n"
    )


def render_md(src: Source) -> str:
    prefix = {"title": "# ", "heading": "## ", "subheading": "### ", "para": "", "bullet": "- "}
    lines: list[str] = []
    previous = ""
    for block in src.blocks:
        if lines and not (block.kind == "bullet" and previous == "bullet"):
            lines.append("")
        lines.append(prefix[block.kind] + block.text)
        previous = block.kind
    return "\n".join(lines) + "\n"


def render_txt(src: Source) -> str:
    lines: list[str] = []
    previous = ""
    for block in src.blocks:
        if lines and not (block.kind == "bullet" and previous == "bullet"):
            lines.append("")
        lines.append(("- " if block.kind == "bullet" else "") + block.text)
        previous = block.kind
    return "\n".join(lines) + "\n"


def render_epub(src: Source) -> bytes:
    identifier = f"urn:uuid:{uuid.uuid5(UUID_NAMESPACE, src.path)}"
    lang = src.language
    chapters: list[tuple[str, str, str]] = []  # (file name, heading, xhtml)
    for number, page in enumerate(src.pages, 1):
        name = f"chapter-{number:02d}.xhtml"
        heading = page[0].text
        body = _html_blocks(page)
        chapters.append(
            (
                name,
                heading,
                '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
                f'<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" '
                f'lang="{lang}" xml:lang="{lang}">\n'
                f"<head><title>{html.escape(heading, quote=False)}</title></head>\n"
                f"<body>\n<section>\n{body}\n</section>\n</body>\n</html>\n",
            )
        )
    nav_items = "\n".join(
        f'      <li><a href="{name}">{html.escape(heading, quote=False)}</a></li>'
        for name, heading, _ in chapters
    )
    nav = (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
        f'<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" lang="{lang}" '
        f'xml:lang="{lang}">\n<head><title>{html.escape(src.title, quote=False)}</title></head>\n<body>\n'
        f'  <nav epub:type="toc" id="toc">\n    <h1>{html.escape(src.title, quote=False)}</h1>\n    <ol>\n'
        f"{nav_items}\n    </ol>\n  </nav>\n</body>\n</html>\n"
    )
    manifest = "\n".join(
        f'    <item id="c{number:02d}" href="{name}" media-type="application/xhtml+xml"/>'
        for number, (name, _, _) in enumerate(chapters, 1)
    )
    spine = "\n".join(f'    <itemref idref="c{number:02d}"/>' for number in range(1, len(chapters) + 1))
    opf = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="book-id" '
        f'xml:lang="{lang}">\n'
        '  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
        f'    <dc:identifier id="book-id">{identifier}</dc:identifier>\n'
        f"    <dc:title>{html.escape(src.title, quote=False)}</dc:title>\n"
        f"    <dc:language>{lang}</dc:language>\n"
        f"    <dc:creator>{AUTHOR}</dc:creator>\n"
        f"    <dc:date>2025-01-01</dc:date>\n"
        '    <meta property="dcterms:modified">2025-01-01T00:00:00Z</meta>\n'
        "  </metadata>\n"
        "  <manifest>\n"
        '    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>\n'
        f"{manifest}\n"
        "  </manifest>\n"
        "  <spine>\n"
        f"{spine}\n"
        "  </spine>\n"
        "</package>\n"
    )
    container = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">\n'
        '  <rootfiles>\n    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>\n'
        "  </rootfiles>\n</container>\n"
    )
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr("META-INF/container.xml", container)
        zf.writestr("OEBPS/content.opf", opf)
        zf.writestr("OEBPS/nav.xhtml", nav)
        for name, _, xhtml in chapters:
            zf.writestr(f"OEBPS/{name}", xhtml)
    return _normalize_zip(raw.getvalue(), first="mimetype")


def _scan_images(src: Source) -> list[Any]:
    """Each source page as a grey page image, as a scanner gives it (deterministic)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from benchmarks.page_images import SCRIPT_OF, Degradation, degrade, render_page, render_pages

    script = SCRIPT_OF[src.language]
    images = []
    for number, page in enumerate(src.pages):
        paragraphs = [block.text for block in page]
        if src.vertical:
            image = render_page(paragraphs, script, SCAN_DPI, vertical=True, points=12)
        else:
            rendered = render_pages(paragraphs, script, SCAN_DPI)
            if len(rendered) != 1:
                raise ValueError(f"{src.path}: a source page overflowed its scanned page")
            image = rendered[0]
        images.append(degrade(image, Degradation(skew=0.4 if number % 2 == 0 else -0.3)))
    return images


def render_scan(src: Source) -> bytes:
    images = _scan_images(src)
    buffer = io.BytesIO()
    if src.format == "png":
        if len(images) != 1:
            raise ValueError(f"{src.path}: a PNG holds one page")
        images[0].save(buffer, "PNG", dpi=(SCAN_DPI, SCAN_DPI), optimize=True)
        return buffer.getvalue()
    if src.format == "tiff":
        images[0].save(
            buffer,
            "TIFF",
            save_all=True,
            append_images=images[1:],
            dpi=(SCAN_DPI, SCAN_DPI),
            compression="tiff_deflate",
        )
        return buffer.getvalue()
    import pymupdf

    doc = pymupdf.open()
    for image in images:
        png = io.BytesIO()
        image.save(png, "PNG", optimize=True)
        page = doc.new_page(width=image.width * 72 / SCAN_DPI, height=image.height * 72 / SCAN_DPI)
        page.insert_image(page.rect, stream=png.getvalue())
    doc.set_metadata(
        {
            "title": src.title,
            "author": AUTHOR,
            "subject": src.description or src.topic,
            "keywords": f"sample corpus, {src.topic}, {src.language}, scanned",
            "creator": "sample_corpora/build.py",
            "producer": "PyMuPDF",
            "creationDate": PDF_DATE,
            "modDate": PDF_DATE,
        }
    )
    doc.set_language(src.language)
    data: bytes = doc.tobytes(garbage=4, deflate=True, no_new_id=True)
    doc.close()
    return data


def render(src: Source) -> bytes:
    if src.scan:
        return render_scan(src)
    renderer = {
        "pdf": render_pdf,
        "docx": render_docx,
        "pptx": render_pptx,
        "epub": render_epub,
        "html": render_html,
        "md": render_md,
        "txt": render_txt,
    }[src.format]
    data: str | bytes = renderer(src)  # type: ignore[operator,assignment,unused-ignore]
    return data.encode("utf-8") if isinstance(data, str) else data


# --------------------------------------------------------------------------------------------
# Read-back: extract the text of a generated file, per page where the format has pages
# --------------------------------------------------------------------------------------------


def extract_pages(path: Path) -> list[str]:
    """Text of a generated document, one string per page/slide/chapter (one for flat formats)."""
    fmt = path.suffix.lstrip(".")
    if fmt == "pdf":
        import pymupdf

        with pymupdf.open(path) as doc:
            return [page.get_text() for page in doc]
    if fmt == "docx":
        import docx

        pages: list[list[str]] = [[]]
        for paragraph in docx.Document(str(path)).paragraphs:
            if paragraph.paragraph_format.page_break_before and pages[-1]:
                pages.append([])
            pages[-1].append(paragraph.text)
        return ["\n".join(p) for p in pages]
    if fmt == "pptx":
        from pptx import Presentation

        out = []
        for slide in Presentation(str(path)).slides:
            texts = [shape.text_frame.text for shape in slide.shapes if shape.has_text_frame]
            out.append("\n".join(texts))
        return out
    if fmt == "epub":
        from lxml import etree

        with zipfile.ZipFile(path) as zf:
            names = sorted(n for n in zf.namelist() if re.fullmatch(r"OEBPS/chapter-\d+\.xhtml", n))
            return ["\n".join(etree.fromstring(zf.read(n)).find("{*}body").itertext()) for n in names]
    if fmt == "html":
        from lxml import html as lhtml

        tree = lhtml.fromstring(path.read_bytes())
        return ["\n".join(tree.body.itertext())]
    text = path.read_text(encoding="utf-8")
    if fmt == "md":
        text = re.sub(r"(?m)^(#{1,3} |- )", "", text)
    elif fmt == "txt":
        text = re.sub(r"(?m)^- ", "", text)
    return [text]


def scan_pages(path: Path) -> tuple[int, str]:
    """Pages of a scanned document and the text of its text layer (which must be empty)."""
    if path.suffix == ".pdf":
        import pymupdf

        with pymupdf.open(path) as doc:
            return doc.page_count, "".join(page.get_text() for page in doc)
    from PIL import Image

    with Image.open(path) as image:
        return getattr(image, "n_frames", 1), ""


def roundtrip_problems(src: Source, path: Path) -> list[str]:
    """Differences between a generated file's extracted text and its source (empty list: identical).

    A scan has no text to extract: its pages are counted and its text layer must be empty (what
    OCR reads back is checked in tests/test_sample_corpora.py where Tesseract is installed)."""
    problems: list[str] = []
    if src.scan:
        pages, text = scan_pages(path)
        if pages != len(src.pages):
            problems.append(f"{src.path}: {pages} scanned pages, source has {len(src.pages)}")
        if text.strip():
            problems.append(f"{src.path}: a scan with a text layer")
        return problems
    got = extract_pages(path)
    want = src.page_texts() if src.format in BINARY_FORMATS else [src.text]
    if len(got) != len(want):
        return [f"{src.path}: {len(got)} pages/slides extracted, source has {len(want)}"]
    for number, (g, w) in enumerate(zip(got, want), 1):
        if normalize(g) != normalize(w):
            a, b = normalize(g), normalize(w)
            i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
            problems.append(
                f"{src.path} page {number}: differs at {i}: got {a[i : i + 40]!r}, want {b[i : i + 40]!r}"
            )
    if "\ufffd" in "".join(got):
        problems.append(f"{src.path}: replacement characters in extracted text")
    return problems


# --------------------------------------------------------------------------------------------
# Query set
# --------------------------------------------------------------------------------------------


@dataclass
class QuerySpec:
    qid: str
    text: str
    language: str
    kind: str  # "keyword" | "question" | "fact"
    topic: str
    qrels: dict[str, int] = field(default_factory=dict)


def load_queries(sources: list[Source]) -> tuple[dict, list[QuerySpec]]:
    data = yaml.safe_load((SOURCES / "queries.yaml").read_text(encoding="utf-8"))
    by_topic: dict[str, list[str]] = defaultdict(list)
    for src in sources:
        by_topic[src.topic].append(src.path)
    paths = {src.path for src in sources}
    specs: list[QuerySpec] = []
    seen: set[str] = set()
    for item in data["queries"]:
        qid = item["id"]
        if qid in seen:
            raise ValueError(f"duplicate query id {qid}")
        seen.add(qid)
        kind, topic = item["type"], item["topic"]
        if kind not in {"keyword", "question", "fact"}:
            raise ValueError(f"{qid}: unknown type {kind!r}")
        if topic not in by_topic:
            raise ValueError(f"{qid}: unknown topic {topic!r}")
        # Topical queries: every document of the topic is at least partially relevant (1);
        # `rel` raises documents to 2 (or, exceptionally, lowers one to 0).
        # Fact queries: only the documents listed in `rel` are relevant.
        qrels = dict.fromkeys(by_topic[topic], 1) if kind != "fact" else {}
        for path, grade in (item.get("rel") or {}).items():
            if path not in paths:
                raise ValueError(f"{qid}: unknown document {path}")
            if grade not in (0, 1, 2):
                raise ValueError(f"{qid}: grade must be 0, 1 or 2")
            qrels[path] = grade
        qrels = {p: g for p, g in qrels.items() if g > 0}
        if not any(g == 2 for g in qrels.values()):
            raise ValueError(f"{qid}: no highly relevant (2) document")
        specs.append(QuerySpec(qid, item["text"].strip(), item["lang"], kind, topic, qrels))
    return data, specs


def is_cross_lingual(spec: QuerySpec, language_of: dict[str, str]) -> bool:
    """Cross-lingual: none of the query's highly relevant (grade 2) documents is in its language."""
    return all(language_of[p] != spec.language for p, g in spec.qrels.items() if g == 2)


def is_strictly_cross_lingual(spec: QuerySpec, language_of: dict[str, str]) -> bool:
    """Strictly cross-lingual: no relevant document of any grade is in the query's language."""
    return all(language_of[p] != spec.language for p in spec.qrels)


def queryset_files(sources: list[Source]) -> dict[str, bytes]:
    meta, specs = load_queries(sources)
    language_of = {src.path: src.language for src in sources}
    queries = "".join(
        json.dumps(
            {
                "_id": s.qid,
                "text": s.text,
                "language": s.language,
                "metadata": {"topic": s.topic, "type": s.kind},
            },
            ensure_ascii=False,
        )
        + "\n"
        for s in specs
    )
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(
        f"{s.qid}\t{path}\t{grade}\n" for s in specs for path, grade in sorted(s.qrels.items())
    )
    query_languages = Counter(s.language for s in specs)
    cross = sum(is_cross_lingual(s, language_of) for s in specs)
    strict = sum(is_strictly_cross_lingual(s, language_of) for s in specs)
    info = {
        "name": meta["name"],
        "description": meta["description"].strip(),
        "version": meta["version"],
        "license": meta["license"],
        "languages": sorted(query_languages),
        "document_languages": sorted({src.language for src in sources}),
        "counts": {
            "documents": len(sources),
            "queries": len(specs),
            "qrels": sum(len(s.qrels) for s in specs),
            "queries_by_language": dict(sorted(query_languages.items())),
            "queries_by_type": dict(sorted(Counter(s.kind for s in specs).items())),
            "cross_lingual_queries": cross,
            "strictly_cross_lingual_queries": strict,
        },
        "files": {
            "queries": "queries.jsonl",
            "qrels": "qrels.tsv",
            "corpus": "corpus.jsonl",
            "documents": "../documents/",
        },
        "corpus_ids": "corpus-id = document path relative to sample_corpora/documents/ (POSIX separators)",
        "corpus_note": meta["corpus_note"].strip(),
        "relevance": meta["relevance"],
        "query_types": meta["query_types"],
        "cross_lingual_definition": meta["cross_lingual_definition"].strip(),
        "how_it_was_made": meta["how_it_was_made"].strip(),
    }
    return {
        "queries.jsonl": queries.encode("utf-8"),
        "qrels.tsv": qrels.encode("utf-8"),
        "queryset.json": (json.dumps(info, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
    }


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def expected_files(sources: list[Source]) -> dict[Path, bytes]:
    files = {DOCUMENTS / src.path: render(src) for src in sources}
    files.update({QUERYSET / name: data for name, data in queryset_files(sources).items()})
    return files


def build() -> int:
    sources = load_sources()
    files = expected_files(sources)
    for stale in sorted(p for p in DOCUMENTS.rglob("*") if p.is_file() and p not in files):
        print(f"removing stale {stale.relative_to(HERE)}")
        stale.unlink()
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            print(f"wrote {path.relative_to(HERE)}")
    for folder in sorted((p for p in DOCUMENTS.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    problems = [msg for src in sources for msg in roundtrip_problems(src, DOCUMENTS / src.path)]
    for msg in problems:
        print("ROUND-TRIP:", msg, file=sys.stderr)
    total = sum(len(src.text) for src in sources)
    print(
        f"{len(sources)} documents, {total} characters of text; queryset: {len(files) - len(sources)} files"
    )
    if total > MAX_TOTAL_CHARS:
        print(f"warning: corpus text exceeds the budget of {MAX_TOTAL_CHARS} characters", file=sys.stderr)
    return 1 if problems or total > MAX_TOTAL_CHARS else 0


def check() -> int:
    sources = load_sources()
    files = expected_files(sources)
    bad = [p for p, data in files.items() if not p.exists() or p.read_bytes() != data]
    extra = [p for p in DOCUMENTS.rglob("*") if p.is_file() and p not in files]
    for p in bad:
        print(f"out of date: {p.relative_to(HERE)}")
    for p in extra:
        print(f"not generated from a source: {p.relative_to(HERE)}")
    problems = [msg for src in sources for msg in roundtrip_problems(src, DOCUMENTS / src.path)]
    for msg in problems:
        print("ROUND-TRIP:", msg)
    if not (bad or extra or problems):
        print(f"ok: {len(files)} files up to date, text round-trips for {len(sources)} documents")
    return 1 if bad or extra or problems else 0


def stats() -> int:
    sources = load_sources()
    print("| document | language | format | pages | topic | size |")
    print("| --- | --- | --- | --- | --- | --- |")
    for src in sorted(sources, key=lambda s: (s.path.startswith("misc/"), s.path)):
        n, unit = size_of(src)
        pages = {"pdf": "pages", "docx": "pages", "pptx": "slides", "epub": "chapters"}.get(src.format)
        pages = "pages" if src.scan else pages
        extent = f"{len(src.pages)} {pages if len(src.pages) > 1 else pages[:-1]}" if pages else ""
        kind = src.format.upper() + (" (scan)" if src.scan else "")
        print(f"| `{src.path}` | {src.language} | {kind} | {extent} | {src.topic} | {n} {unit} |")
    print()
    topics = sorted({s.topic for s in sources})
    print("| topic | " + " | ".join(["languages", "formats", "documents"]) + " |")
    print("| --- | --- | --- | --- |")
    for topic in topics:
        docs = [s for s in sources if s.topic == topic]
        langs = ", ".join(sorted(s.language for s in docs))
        fmts = ", ".join(sorted({s.format.upper() for s in docs}))
        print(f"| {topic} | {langs} | {fmts} | {len(docs)} |")
    print()
    total = sum(len(s.text) for s in sources)
    print(
        f"documents: {len(sources)}; characters: {total}; languages: "
        + ", ".join(f"{k} {v}" for k, v in sorted(Counter(s.language for s in sources).items()))
        + "; formats: "
        + ", ".join(f"{k} {v}" for k, v in sorted(Counter(s.format for s in sources).items()))
    )
    _, specs = load_queries(sources)
    language_of = {s.path: s.language for s in sources}
    per_lang = Counter(q.language for q in specs)
    cross = Counter(q.language for q in specs if is_cross_lingual(q, language_of))
    strict = Counter(q.language for q in specs if is_strictly_cross_lingual(q, language_of))
    print()
    print("| query language | queries | cross-lingual | strictly cross-lingual |")
    print("| --- | --- | --- | --- |")
    for lang in sorted(per_lang):
        print(f"| {lang} | {per_lang[lang]} | {cross[lang]} | {strict[lang]} |")
    print(f"| all | {len(specs)} | {sum(cross.values())} | {sum(strict.values())} |")
    return 0


def export_corpus() -> int:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        from indexer.extract.loaders import LoaderConfig, load_document
    except ImportError as exc:
        print(
            "cannot export corpus.jsonl: the project's loaders (indexer.extract.loaders.load_document) are not "
            f"importable ({exc}). Run this from a checkout that has indexer/extract/loaders.py, with the project's "
            "dependencies installed.",
            file=sys.stderr,
        )
        return 2
    sources = load_sources()
    config = LoaderConfig()
    lines: list[str] = []
    failures: list[str] = []
    for src in sorted(sources, key=lambda s: s.path):
        path = DOCUMENTS / src.path
        try:
            doc = load_document(path, DOCUMENTS, config, content_hash=None)
        except Exception as exc:  # noqa: BLE001 - report every document that fails
            failures.append(f"{src.path}: {type(exc).__name__}: {exc}")
            continue
        if doc is None or not (doc.text or "").strip():
            failures.append(f"{src.path}: no text extracted")
            continue
        # The labelled language, like the qrels, is ground truth; detection is only cross-checked.
        if doc.language != src.language:
            print(f"note: {src.path}: detected {doc.language!r}, labelled {src.language!r}", file=sys.stderr)
        record = {
            "_id": src.path,
            "title": doc.title or src.title,
            "text": doc.text,
            "language": src.language,
        }
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    QUERYSET.mkdir(parents=True, exist_ok=True)
    (QUERYSET / "corpus.jsonl").write_text("".join(lines), encoding="utf-8")
    print(f"wrote queryset/corpus.jsonl: {len(lines)} documents")
    for msg in failures:
        print("failed:", msg, file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--check", action="store_true", help="verify that the committed files match the sources"
    )
    group.add_argument("--stats", action="store_true", help="print document and query tables")
    group.add_argument(
        "--export-corpus",
        action="store_true",
        help="write queryset/corpus.jsonl with indexer.extract.loaders",
    )
    args = parser.parse_args(argv)
    if args.check:
        return check()
    if args.stats:
        return stats()
    if args.export_corpus:
        return export_corpus()
    return build()


if __name__ == "__main__":
    sys.exit(main())
