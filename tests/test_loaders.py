"""Extraction per format: sections, kinds, pages, titles, languages, encodings; all under a network guard."""

from __future__ import annotations

import codecs
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import docx
import pymupdf
import pytest
from pptx import Presentation
from pptx.util import Inches

from indexer.extract.loaders import ExtractionError, LoaderConfig, load_document
from indexer.extract.pdf import NO_TEXT
from search.core.types import SECTION_SEPARATOR

pytestmark = pytest.mark.usefixtures("no_network")

CONFIG = LoaderConfig()
REPO = Path(__file__).resolve().parents[1]

GERMAN = (
    "Wildbienen sind für die Bestäubung vieler Pflanzen unverzichtbar. In Deutschland leben mehr als "
    "fünfhundert Arten, von denen viele gefährdet sind."
)
ENGLISH = (
    "Honeybees are social insects that live in large colonies and make honey from the nectar of flowers."
)
FRENCH = (
    "Le blanchissement des coraux se produit lorsque l'eau devient trop chaude pendant plusieurs semaines."
)
RUSSIAN = "Бородинский хлеб пекут из ржаной муки с добавлением солода и кориандра, у него тёмный цвет."
ARABIC = "تعد الشعاب المرجانية في البحر الأحمر من أكثر الشعاب مقاومة لارتفاع درجات الحرارة في العالم."
GREEK = "Η Ακρόπολη της Αθήνας είναι ένα από τα πιο γνωστά μνημεία του κόσμου και την επισκέπτονται πολλοί."
JAPANESE = "沖縄県の石垣島と西表島の間に広がる石西礁湖は、日本最大のサンゴ礁域である。数百種の造礁サンゴが生息している。"
CHINESE = "西湖龙井是中国最著名的绿茶之一，产于浙江省杭州市西湖周围的山区。龙井茶的外形扁平光滑，色泽翠绿。"
KOREAN = "보성은 한국에서 가장 유명한 녹차 생산지입니다. 계단식 차밭이 언덕을 따라 넓게 펼쳐져 있습니다."


def load(path: Path, config: LoaderConfig = CONFIG):  # type: ignore[no-untyped-def]
    return load_document(path, path.parent, config)


def kinds(doc) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(s.kind, s.text) for s in doc.sections]


# ---------------------------------------------------------------- PDF


def _text_pdf(path: Path, pages: list[list[tuple[str, str, float]]], title: str = "", **save: object) -> Path:
    """pages: [(text, fontname, size)] per page, written top-down; \\n inside text makes lines of one block."""
    doc = pymupdf.open()
    for number, blocks in enumerate(pages, start=1):
        page = doc.new_page()
        y = 72.0
        for text, font, size in blocks:
            page.insert_text((72, y), text, fontname=font, fontsize=size)
            y += size * 1.4 * (text.count("\n") + 1) + 14
        page.insert_text((300, 800), str(number), fontname="helv", fontsize=9)  # a page number to be dropped
    if title:
        doc.set_metadata({"title": title})
    doc.save(path, **save)
    return path


def _html_pdf(path: Path, html: str) -> Path:
    """Story lays out HTML with fallback fonts for CJK, Greek and Cyrillic."""
    story = pymupdf.Story(html=html)
    writer = pymupdf.DocumentWriter(str(path))
    more = True
    while more:
        device = writer.begin_page(pymupdf.paper_rect("a4"))
        more, _ = story.place(pymupdf.paper_rect("a4") + (72, 72, -72, -72))  # noqa: RUF005 - Rect arithmetic
        story.draw(device)
        writer.end_page()
    writer.close()
    return path


def test_pdf_pages_headings_and_paragraphs(tmp_path: Path) -> None:
    path = _text_pdf(
        tmp_path / "bees.pdf",
        [
            [
                ("Wildbienen in Gefahr", "hebo", 20),
                ("Warum Bienen wichtig sind", "hebo", 14),
                (
                    "Die Silbentren-\nnung ist ein altes Problem bei\nLithium-\nIonen-Akkus und anderen\nWörtern.",
                    "helv",
                    11,
                ),
            ],
            [("Ursachen", "hebo", 14), (GERMAN, "helv", 11)],
            [(GERMAN.replace("Wildbienen", "Hummeln"), "helv", 11)],
        ],
        title="Wildbienen (Metadaten)",
    )
    doc = load(path)
    assert doc.format == "pdf"
    assert doc.language == "de"
    assert doc.title == "Wildbienen (Metadaten)"
    assert [s.page for s in doc.sections] == [1, 1, 1, 2, 2, 3]
    assert [s.kind for s in doc.sections] == ["title", "title", "text", "title", "text", "text"]
    assert doc.sections[0].text == "Wildbienen in Gefahr"
    paragraph = doc.sections[2].text
    assert (
        "Silbentrennung ist ein altes Problem bei Lithium-Ionen-Akkus" in paragraph
    )  # de-hyphenated, joined
    assert "\n" not in paragraph
    assert all(s.text not in {"1", "2", "3"} for s in doc.sections)  # page numbers dropped


def test_pdf_in_cjk_greek_and_cyrillic(tmp_path: Path) -> None:
    for name, heading, body, language in [
        ("ja.pdf", "サンゴ礁の白化", JAPANESE, "ja"),
        ("zh.pdf", "西湖龙井", CHINESE, "zh"),
        ("el.pdf", "Ακρόπολη", GREEK, "el"),
        ("ru.pdf", "Бородинский хлеб", RUSSIAN, "ru"),
    ]:
        doc = load(_html_pdf(tmp_path / name, f"<h1>{heading}</h1><p>{body}</p><p>{body}</p>"))
        assert doc.language == language, name
        assert doc.sections[0].kind == "title" and doc.sections[0].text == heading, name
        assert doc.title == heading
        assert body[:12] in doc.sections[1].text, name
        assert all(s.page == 1 for s in doc.sections)


def test_pdf_line_breaks_inside_cjk_add_no_space(tmp_path: Path) -> None:
    path = _text_pdf(
        tmp_path / "cjk-lines.pdf", [[("日本最大のサンゴ礁域\nである。数百種の造礁", "japan", 11)]]
    )
    assert load(path).sections[0].text == "日本最大のサンゴ礁域である。数百種の造礁"


def test_encrypted_pdf(tmp_path: Path) -> None:
    path = _text_pdf(
        tmp_path / "secret.pdf",
        [[(ENGLISH, "helv", 11)]],
        encryption=pymupdf.PDF_ENCRYPT_AES_256,  # type: ignore[attr-defined]
        user_pw="user",
        owner_pw="owner",
    )
    with pytest.raises(ExtractionError) as err:
        load(path)
    assert str(err.value) == "encrypted PDF (password required)"


def test_pdf_with_only_an_owner_password_is_readable(tmp_path: Path) -> None:
    path = _text_pdf(
        tmp_path / "owner.pdf",
        [[(ENGLISH, "helv", 11)]],
        encryption=pymupdf.PDF_ENCRYPT_AES_256,  # type: ignore[attr-defined]
        owner_pw="owner",
    )
    assert load(path).language == "en"


def test_truncated_and_corrupt_pdf(tmp_path: Path) -> None:
    data = _text_pdf(tmp_path / "whole.pdf", [[(ENGLISH, "helv", 11)]] * 3).read_bytes()
    (tmp_path / "cut.pdf").write_bytes(data[:200])
    (tmp_path / "noise.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(3000))
    for name in ("cut.pdf", "noise.pdf"):
        with pytest.raises(ExtractionError, match="corrupt or truncated PDF"):
            load(tmp_path / name)


def test_pdf_truncated_at_the_end_is_repaired(tmp_path: Path) -> None:
    """MuPDF rebuilds a lost cross-reference table: the pages that are there are still read."""
    data = _text_pdf(tmp_path / "whole.pdf", [[(ENGLISH, "helv", 11)]] * 3).read_bytes()
    (tmp_path / "tail-cut.pdf").write_bytes(data[: len(data) - 300])
    assert "Honeybees" in load(tmp_path / "tail-cut.pdf").text


def test_a_cut_pdf_is_never_reported_as_a_scan(tmp_path: Path) -> None:
    """Wherever a text PDF is cut, it loads (MuPDF repairs it) or is reported corrupt or truncated:
    never "no extractable text (scanned PDF?)", which would send the user looking for OCR."""
    data = _text_pdf(tmp_path / "whole.pdf", [[(ENGLISH, "helv", 11)]] * 3).read_bytes()
    outcomes = set()
    for cut in range(64, len(data), 61):
        (tmp_path / "cut.pdf").write_bytes(data[:cut])
        try:
            load(tmp_path / "cut.pdf")
            outcomes.add("loads")
        except ExtractionError as exc:
            assert str(exc).startswith("corrupt or truncated PDF"), (cut, str(exc))
            outcomes.add("corrupt")
    assert outcomes == {"loads", "corrupt"}


def test_scanned_pdf_without_text(tmp_path: Path) -> None:
    pixmap = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 32, 32), False)
    doc = pymupdf.open()
    doc.new_page().insert_image(pymupdf.Rect(72, 72, 400, 400), pixmap=pixmap)
    doc.save(str(tmp_path / "scan.pdf"))
    with pytest.raises(ExtractionError) as err:
        load(tmp_path / "scan.pdf", LoaderConfig(ocr=None))
    assert str(err.value) == NO_TEXT == "no extractable text (scanned PDF? OCR is off)"
    with pytest.raises(ExtractionError) as err:  # read by OCR where Tesseract is (tests/test_ocr.py)
        load(tmp_path / "scan.pdf")
    assert str(err.value).startswith("no extractable text (scanned PDF")


def test_mupdf_complaints_do_not_reach_stderr(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    data = _text_pdf(tmp_path / "whole.pdf", [[(ENGLISH, "helv", 11)]]).read_bytes()
    (tmp_path / "broken.pdf").write_bytes(data[: len(data) // 2] + b"garbage" + data[len(data) // 2 :])
    try:
        load(tmp_path / "broken.pdf")
    except ExtractionError:
        pass
    captured = capfd.readouterr()
    assert "error" not in (captured.err + captured.out).lower()


# ---------------------------------------------------------------- DOCX


def test_docx_titles_paragraphs_lists_tables(tmp_path: Path) -> None:
    d = docx.Document()
    d.add_heading("Wildbienen und das Insektensterben", 0)
    d.add_heading("Mehr als nur die Honigbiene", level=1)
    d.add_paragraph(GERMAN)
    d.add_paragraph("Heimische Wildblumen aussäen.", style="List Bullet")
    d.add_paragraph("Totholz liegen lassen.", style="List Bullet")
    table = d.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "Art", (0, 1): "Status", (1, 0): "Hummel", (1, 1): "gefährdet"}.items():
        table.cell(r, c).text = text
    d.add_heading("Arabisch", level=1)
    d.add_paragraph(ARABIC)
    d.add_paragraph("Ligatur: ﬁnden und Breite: ＡＢＣ１２３")  # the ligature is unfolded, full width kept
    d.save(str(tmp_path / "bienen.docx"))

    doc = load(tmp_path / "bienen.docx")
    assert doc.format == "docx"
    assert doc.language == "de"
    assert doc.title == "Wildbienen und das Insektensterben"
    assert kinds(doc)[:5] == [
        ("title", "Wildbienen und das Insektensterben"),
        ("title", "Mehr als nur die Honigbiene"),
        ("text", GERMAN),
        ("list", "Heimische Wildblumen aussäen."),
        ("list", "Totholz liegen lassen."),
    ]
    assert ("table", "Art | Status\nHummel | gefährdet") in kinds(doc)
    assert ("text", ARABIC) in kinds(doc)
    assert doc.sections[-1].text == "Ligatur: finden und Breite: ＡＢＣ１２３"


# ---------------------------------------------------------------- PPTX


def test_pptx_slides_are_pages_and_only_slide_titles_are_titles(tmp_path: Path) -> None:
    prs = Presentation()
    first = prs.slides.add_slide(prs.slide_layouts[0])
    first.shapes.title.text = "Le blanchissement des coraux"
    first.placeholders[1].text = "Pourquoi la chaleur tue les récifs"
    second = prs.slides.add_slide(prs.slide_layouts[1])
    second.shapes.title.text = "Les causes"
    body = second.placeholders[1].text_frame
    body.text = "L'eau devient trop chaude"
    body.add_paragraph().text = "Les algues quittent le corail"
    third = prs.slides.add_slide(prs.slide_layouts[5])
    third.shapes.title.text = "Chiffres"
    table = third.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for (r, c), text in {(0, 0): "Année", (0, 1): "Blanchi", (1, 0): "2016", (1, 1): "30 %"}.items():
        table.cell(r, c).text = text
    third.notes_slide.notes_text_frame.text = FRENCH
    prs.save(str(tmp_path / "coraux.pptx"))

    doc = load(tmp_path / "coraux.pptx")
    assert doc.format == "pptx"
    assert doc.language == "fr"
    assert doc.title == "Le blanchissement des coraux"
    titles = [(s.text, s.page) for s in doc.sections if s.kind == "title"]
    assert titles == [("Le blanchissement des coraux", 1), ("Les causes", 2), ("Chiffres", 3)]
    by_text = {s.text: s for s in doc.sections}
    assert by_text["Les algues quittent le corail"].page == 2
    assert by_text["Les algues quittent le corail"].kind != "title"  # body text, even if short
    assert by_text["Année | Blanchi\n2016 | 30 %"].kind == "table"
    assert by_text[FRENCH].page == 3  # speaker notes are searchable


# ---------------------------------------------------------------- HTML, Markdown


def test_html_structure_and_no_scripts(tmp_path: Path) -> None:
    html = f"""<!DOCTYPE html><html lang="el"><head><meta charset="utf-8"><title>Η Ακρόπολη</title>
    <style>p {{ color: red }}</style><script>var secret = "do not index";</script></head>
    <body><h1>Η Ακρόπολη της Αθήνας</h1><p>{GREEK}</p><h2>Ο Παρθενώνας</h2>
    <ul><li>Χτίστηκε τον 5ο αιώνα π.Χ.</li><li>Δωρικός ρυθμός</li></ul>
    <table><tr><th>Έτος</th><th>Γεγονός</th></tr><tr><td>447 π.Χ.</td><td>Έναρξη</td></tr></table></body></html>"""
    (tmp_path / "akropoli.html").write_text(html, encoding="utf-8")
    doc = load(tmp_path / "akropoli.html")
    assert doc.format == "html"
    assert doc.language == "el"
    assert doc.title == "Η Ακρόπολη"
    assert kinds(doc) == [
        ("title", "Η Ακρόπολη της Αθήνας"),
        ("text", GREEK),
        ("title", "Ο Παρθενώνας"),
        ("list", "Χτίστηκε τον 5ο αιώνα π.Χ."),
        ("list", "Δωρικός ρυθμός"),
        ("table", "Έτος | Γεγονός\n447 π.Χ. | Έναρξη"),
    ]
    assert "secret" not in doc.text and "color" not in doc.text


def test_html_in_a_declared_legacy_charset(tmp_path: Path) -> None:
    html = f'<html><head><meta charset="windows-1252"></head><body><h1>Crème brûlée</h1><p>{FRENCH} Voilà – «ça».</p></body></html>'
    (tmp_path / "fr.htm").write_bytes(html.encode("cp1252"))
    doc = load(tmp_path / "fr.htm")
    assert doc.sections[0].text == "Crème brûlée"
    assert "Voilà – «ça»." in doc.text
    assert doc.language == "fr"


def test_markdown(tmp_path: Path) -> None:
    md = f"# 西湖龙井\n\n{CHINESE}\n\n## 产地\n\n- 狮峰\n- 梅家坞\n\n| 等级 | 价格 |\n|---|---|\n| 特级 | 高 |\n"
    (tmp_path / "longjing.markdown").write_text(md, encoding="utf-8")
    doc = load(tmp_path / "longjing.markdown")
    assert doc.format == "md"
    assert doc.language == "zh"
    assert doc.title == "西湖龙井"
    assert "，" in CHINESE  # quoted exactly: full-width commas stay full width (issue 18)
    assert kinds(doc)[:5] == [
        ("title", "西湖龙井"),
        ("text", CHINESE),
        ("title", "产地"),
        ("list", "狮峰"),
        ("list", "梅家坞"),
    ]


# ---------------------------------------------------------------- TXT encodings


@pytest.mark.parametrize(
    ("name", "encode", "text", "language"),
    [
        ("utf8.txt", lambda s: s.encode("utf-8"), GERMAN, "de"),
        ("utf8-bom.txt", lambda s: codecs.BOM_UTF8 + s.encode("utf-8"), RUSSIAN, "ru"),
        ("utf16le-bom.txt", lambda s: s.encode("utf-16"), KOREAN, "ko"),
        ("utf16be-bom.txt", lambda s: codecs.BOM_UTF16_BE + s.encode("utf-16-be"), ARABIC, "ar"),
        ("utf16le-nobom.txt", lambda s: s.encode("utf-16-le"), ENGLISH, "en"),
        ("cp1252.txt", lambda s: s.encode("cp1252"), FRENCH + " Déjà vu, l'été à Noël – «oui».", "fr"),
        ("latin1-de.txt", lambda s: s.encode("cp1252"), GERMAN + " Größe, Maß, Übermut.", "de"),
        ("shift-jis.txt", lambda s: s.encode("shift_jis"), JAPANESE, "ja"),
        ("crlf.txt", lambda s: s.replace("\n", "\r\n").encode(), "Titel\n\n" + GERMAN, "de"),
    ],
)
def test_txt_encodings(tmp_path: Path, name: str, encode, text: str, language: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / name).write_bytes(encode(text))
    doc = load(tmp_path / name)
    assert doc.format == "txt"
    assert doc.language == language
    assert doc.text.split(SECTION_SEPARATOR)[-1] in text.replace("\n\n", SECTION_SEPARATOR)
    assert "\ufffd" not in doc.text and "\r" not in doc.text


def test_txt_invalid_utf8_is_decoded_with_replacement(tmp_path: Path) -> None:
    data = (GERMAN + " ").encode() * 3 + b"\xff\xfe broken \xc3( bytes " + GERMAN.encode()
    (tmp_path / "damaged.txt").write_bytes(data)
    doc = load(tmp_path / "damaged.txt")
    assert "Bestäubung" in doc.text  # the valid UTF-8 around the damage is intact, not mojibake
    assert doc.text.count("\ufffd") == 3


def test_txt_nul_bytes_are_stripped(tmp_path: Path) -> None:
    (tmp_path / "nul.txt").write_bytes(ENGLISH.encode().replace(b" ", b" \x00") + b"\x00\x00")
    doc = load(tmp_path / "nul.txt")
    assert "\x00" not in doc.text
    assert doc.text == ENGLISH


def test_txt_titles_only_where_plausible(tmp_path: Path) -> None:
    text = f"石西礁湖のサンゴ\n\n{JAPANESE}\n\nなぜ白くなるのか\n\n{JAPANESE}\n\nShort line that ends a sentence.\n\n- Punkt eins\n- Punkt zwei\n"
    (tmp_path / "ja.txt").write_text(text, encoding="utf-8")
    doc = load(tmp_path / "ja.txt")
    assert [s.kind for s in doc.sections] == ["title", "text", "title", "text", "text", "list", "list"]
    assert doc.title == "石西礁湖のサンゴ"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b" \n\t \r\n", "empty"),
        ("bom.txt", codecs.BOM_UTF8 + b"  ", "empty"),
        ("png.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "binary content, not text"),
        ("zip.md", b"PK\x03\x04" + bytes(200), "binary content, not text"),
        ("noise.html", bytes(range(256)) * 20, "binary content, not text"),
    ],
)
def test_unusable_text_files(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ExtractionError) as err:
        load(tmp_path / name)
    assert str(err.value).startswith(reason)


# ---------------------------------------------------------------- EPUB


def _epub(path: Path, chapters: dict[str, str], spine: list[str], title: str = "") -> Path:
    manifest = "".join(
        f'<item id="{i}" href="{name.replace(" ", "%20")}" media-type="application/xhtml+xml"/>'
        for i, name in enumerate(chapters)
    )
    manifest += '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
    ids = {name: str(i) for i, name in enumerate(chapters)}
    opf = f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title>{title}</dc:title></metadata><manifest>{manifest}</manifest>
<spine>{"".join(f'<itemref idref="{ids[n]}"/>' for n in spine)}<itemref idref="nav"/></spine></package>"""
    container = """<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml", container)
        z.writestr("OEBPS/content.opf", opf)
        z.writestr(
            "OEBPS/nav.xhtml", "<html><body><nav><ol><li>Table of contents</li></ol></nav></body></html>"
        )
        for name, body in chapters.items():
            xhtml = f'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><body>{body}</body></html>'
            z.writestr(f"OEBPS/{name}", xhtml, compress_type=zipfile.ZIP_DEFLATED)
    return path


def test_epub_follows_the_spine(tmp_path: Path) -> None:
    path = _epub(
        tmp_path / "book.epub",
        {
            "chapter 2.xhtml": f"<h1>Глава вторая</h1><p>{RUSSIAN}</p>",
            "chapter1.xhtml": f"<h1>Глава первая</h1><p>{RUSSIAN}</p><ul><li>пункт</li></ul>",
            "cover.xhtml": "<div></div>",
        },
        spine=["cover.xhtml", "chapter1.xhtml", "chapter 2.xhtml"],
        title="Хлеб",
    )
    doc = load(path)
    assert doc.format == "epub"
    assert doc.language == "ru"
    assert doc.title == "Хлеб"
    assert kinds(doc) == [
        ("title", "Глава первая"),
        ("text", RUSSIAN),
        ("list", "пункт"),
        ("title", "Глава вторая"),
        ("text", RUSSIAN),
    ]
    assert "Table of contents" not in doc.text  # the navigation document is not content


def test_corrupt_epub(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "broken.epub", "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("META-INF/container.xml", "<container><rootfiles><not-closed></container>")
    with pytest.raises(ExtractionError, match="corrupt EPUB"):
        load(tmp_path / "broken.epub")


# ---------------------------------------------------------------- common behaviour


def test_document_fields(tmp_path: Path) -> None:
    sub = tmp_path / "sub dir"
    sub.mkdir()
    path = sub / "note.txt"
    path.write_text(ENGLISH, encoding="utf-8")
    doc = load_document(path, tmp_path, CONFIG)
    assert doc.source == path.resolve().as_posix() and doc.root == tmp_path.resolve().as_posix()
    assert doc.relpath == "sub dir/note.txt"
    assert doc.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_document(path, tmp_path, CONFIG, content_hash="given").content_hash == "given"
    assert doc.text == ENGLISH


def test_unsupported_and_too_large(tmp_path: Path) -> None:
    (tmp_path / "x.rtf").write_text("{\\rtf1}")
    with pytest.raises(ExtractionError, match="unsupported file type .rtf"):
        load(tmp_path / "x.rtf")
    (tmp_path / "big.txt").write_text(ENGLISH * 10)
    with pytest.raises(ExtractionError, match="too large"):
        load(tmp_path / "big.txt", LoaderConfig(max_text_bytes=100))


def test_zip_bomb_is_refused_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with zipfile.ZipFile(tmp_path / "bomb.pptx", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("ppt/slides/slide1.xml", b" " * (20 * 1024 * 1024))
    import indexer.extract.office as office

    monkeypatch.setattr(office, "partitioner", lambda kind: pytest.fail("the parser must not see a zip bomb"))
    with pytest.raises(ExtractionError, match="zip bomb suspected: compression ratio"):
        load(tmp_path / "bomb.pptx")
    with pytest.raises(ExtractionError, match="zip bomb suspected: .* uncompressed"):
        load(tmp_path / "bomb.pptx", LoaderConfig(max_unzipped_bytes=1024 * 1024))


def test_any_parser_exception_becomes_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import indexer.extract.office as office

    def exploding(kind: str):  # type: ignore[no-untyped-def]
        def partition(**kwargs: object) -> list[object]:
            raise KeyError("word/document.xml\nsecond line")

        return partition

    monkeypatch.setattr(office, "partitioner", exploding)
    (tmp_path / "a.md").write_text("# Title\n\ntext")
    with pytest.raises(ExtractionError) as err:
        load(tmp_path / "a.md")
    assert str(err.value).startswith("Markdown parser failed: KeyError:")
    assert "\n" not in str(err.value)


def test_unstructured_runs_offline_without_the_callers_environment(tmp_path: Path) -> None:
    """In a fresh process with no opt-out variables and no spaCy model: no socket, no download, same text."""
    d = docx.Document()
    d.add_heading("Title", 1)
    d.add_paragraph(ENGLISH)
    d.save(str(tmp_path / "a.docx"))
    (tmp_path / "a.txt").write_text("A heading\n\n" + ENGLISH)
    (tmp_path / "a.html").write_text(f"<h1>T</h1><p>{ENGLISH}</p>")
    (tmp_path / "a.md").write_text(f"# T\n\n{ENGLISH}")
    script = f"""
import socket, sys
def refuse(*args, **kwargs):
    print("NETWORK", args, file=sys.stderr); raise OSError("network disabled by test")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from pathlib import Path
from indexer.extract.loaders import load_document, LoaderConfig
for name in ("a.docx", "a.txt", "a.html", "a.md"):
    doc = load_document(Path({str(tmp_path)!r}) / name, Path({str(tmp_path)!r}), LoaderConfig())
    assert "Honeybees" in doc.text, name
import spacy.util
assert not spacy.util.is_package("en_core_web_sm")
print("ok")
"""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DO_NOT_TRACK", "SCARF_NO_ANALYTICS", "UNSTRUCTURED_DISABLE_NOTICE", "HF_HUB_OFFLINE"}
    }
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "NETWORK" not in result.stderr
    assert "Thank you for using Unstructured" not in result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok")
