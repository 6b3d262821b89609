"""OCR of scanned pages and images (indexer/ocr, indexer/extract/images.py, scanned PDF pages).

Tesseract and the packs these tests read are installed with apt where the tests run as root
(tests/system_packages.py), so OCR is tested on every run; the images are small one-line pages in
each script family (tests/data/ocr, made by ``python -m benchmarks.page_images --fixtures``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import unicodedata
from pathlib import Path

import pymupdf
import pytest
from rapidfuzz.distance import Levenshtein

from benchmarks.page_images import FIXTURES
from indexer.extract.loaders import ExtractionError, LoaderConfig, load_document
from indexer.ocr.cache import OcrCache
from indexer.ocr.pages import OcrEvent, OcrOptions, PageReader
from indexer.pipeline import IndexConfig, index_folder
from search.core.reports import IndexProgress
from search.core.types import Chunk
from search.space.vector_space import VectorSpace
from search.stores.base import ScoredPoint
from search.stores.client import ClientStore
from search.stores.payload import decode_hit, encode_chunk
from tests.fakes import FakeEmbedder
from tests.system_packages import ensure_tesseract

DATA = Path(__file__).parent / "data" / "ocr"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def tesseract() -> None:
    ensure_tesseract()


def _reader(events: list[OcrEvent] | None = None, **options: object) -> PageReader:
    return PageReader(OcrOptions(**options), listener=events.append if events is not None else None)  # type: ignore[arg-type]


def _cer(want: str, got: str) -> float:
    def norm(text: str) -> str:
        return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))

    return Levenshtein.distance(norm(want), norm(got)) / len(norm(want))


# Chinese text may come back in traditional forms (chi_tra beside chi_sim): compared on characters
# that are the same in both.
SAME_IN_BOTH = "西湖井是最著名的茶之一杭州山"


@pytest.mark.parametrize("name", sorted(FIXTURES), ids=str)
def test_an_image_in_each_script_family_is_read(tmp_path: Path, name: str) -> None:
    script, text, _ = FIXTURES[name]
    events: list[OcrEvent] = []
    doc = load_document(DATA / f"{name}.png", DATA, LoaderConfig(ocr=_reader(events)))
    assert doc.format == "image" and doc.language == name.rsplit("-", 1)[1]
    assert all(section.ocr is not None and section.ocr > 50 and section.page == 1 for section in doc.sections)
    assert [event.kind for event in events] == ["read"]
    if script == "Han":
        assert all(ch in doc.text for ch in SAME_IN_BOTH), doc.text
    else:
        assert _cer(text, doc.text) < 0.1, (doc.text, events[0].packs)


@pytest.mark.parametrize("name", ["arabic-ar", "hebrew-he"])
def test_right_to_left_text_comes_out_in_logical_order(name: str) -> None:
    """The first word read is the first word written (the rightmost on the page), not the last."""
    _, text, _ = FIXTURES[name]
    doc = load_document(DATA / f"{name}.png", DATA, LoaderConfig(ocr=_reader()))
    words = doc.text.split()
    assert words[0] == text.split()[0] and words[1] == text.split()[1], doc.text
    assert _cer(text, doc.text) < 0.1


def test_vertical_japanese_is_read_top_to_bottom_right_to_left() -> None:
    events: list[OcrEvent] = []
    doc = load_document(DATA / "japanese-vertical-ja.png", DATA, LoaderConfig(ocr=_reader(events)))
    assert "jpn_vert" in events[0].packs
    assert doc.text.replace(" ", "") == FIXTURES["japanese-vertical-ja"][1]


def _mixed_pdf(path: Path, language: str = "de") -> Path:
    """Page 1 has a text layer; page 2 is a scan (an image, no text); page 3 a text layer again."""
    doc = pymupdf.open()
    for number in (1, 2, 3):
        page = doc.new_page()
        if number == 2:
            page.insert_image(pymupdf.Rect(36, 72, 576, 205), filename=str(DATA / "latin-de.png"))
        else:
            page.insert_text((72, 72), f"Seite {number}: Honigbienen und Wildbienen im Garten.", fontsize=12)
    doc.set_language(language)
    doc.save(str(path))
    return path


def test_a_mixed_pdf_ocrs_only_its_scanned_page(tmp_path: Path) -> None:
    events: list[OcrEvent] = []
    doc = load_document(_mixed_pdf(tmp_path / "mixed.pdf"), tmp_path, LoaderConfig(ocr=_reader(events)))
    pages = [section.page or 0 for section in doc.sections]
    assert pages == sorted(pages)
    ocr = {section.page: section.ocr for section in doc.sections}
    assert set(ocr) == {1, 2, 3} and ocr[1] is None and ocr[3] is None  # text layers are never OCR'd
    assert ocr[2] is not None
    assert "Wildbienen bestäuben" in " ".join(section.text for section in doc.sections if section.page == 2)
    assert [(event.kind, event.page) for event in events] == [("read", 2)]


def test_a_corrupt_image_is_a_skip_with_a_reason(tmp_path: Path) -> None:
    data = (DATA / "latin-de.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "noise.webp").write_bytes(b"RIFF\x00\x01\x00\x00WEBPVP8 " + bytes(range(256)) * 4)
    for name in ("cut.png", "noise.webp"):
        with pytest.raises(ExtractionError, match=r"^corrupt or unreadable image \("):
            load_document(tmp_path / name, tmp_path, LoaderConfig(ocr=_reader()))


def test_a_multi_page_tiff_is_one_page_per_frame(tmp_path: Path) -> None:
    from PIL import Image

    frames = [Image.open(DATA / f"{name}.png") for name in ("cyrillic-ru", "greek-el")]
    frames[0].save(tmp_path / "two.tiff", save_all=True, append_images=frames[1:], dpi=(200, 200))
    doc = load_document(tmp_path / "two.tiff", tmp_path, LoaderConfig(ocr=_reader()))
    assert {section.page for section in doc.sections} == {1, 2}
    assert "Бородинский" in doc.text and "μέλισσες" in doc.text


BIG_IMAGE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from PIL import Image
    from indexer.extract.loaders import LoaderConfig, load_document
    from indexer.ocr.pages import OcrOptions, PageReader
    import indexer.extract.images, indexer.extract.pdf  # imports are not what is measured
    def status(key):
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key))
    path = Path(sys.argv[1])
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # peak RSS (VmHWM) starts again from here
    before = status("VmRSS:")
    doc = load_document(path, path.parent, LoaderConfig(ocr=PageReader(OcrOptions())))
    print(json.dumps({"text": doc.text, "before_kb": before, "peak_kb": status("VmHWM:")}))
    """
)


def test_a_10000_by_10000_pixel_image_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """The page is decoded once in grey and scaled down to OcrOptions.max_pixels before Tesseract sees it."""
    from PIL import Image

    line = Image.open(DATA / "latin-de.png")
    big = Image.new("L", (10_000, 10_000), 255)
    big.paste(line.resize((line.width * 4, line.height * 4)), (200, 200))
    big.save(tmp_path / "huge.png", compress_level=1)
    del big
    done = subprocess.run(
        [sys.executable, "-c", BIG_IMAGE_SCRIPT, str(tmp_path / "huge.png")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "Wildbienen" in result["text"]
    grown_mb = (result["peak_kb"] - result["before_kb"]) / 1024
    assert grown_mb < 400, (
        f"{grown_mb:.0f} MB for a 100-megapixel grey image"
    )  # 100 MB of pixels, scaled once


def test_an_image_beyond_the_pixel_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("1", (12_000, 12_000), 1).save(tmp_path / "bomb.png")
    with pytest.raises(ExtractionError, match=r"^image too large: 12000 x 12000 pixels"):
        load_document(tmp_path / "bomb.png", tmp_path, LoaderConfig(ocr=_reader()))


def test_without_tesseract_scans_are_reported_with_the_install_command(tmp_path: Path) -> None:
    absent = PageReader(OcrOptions(binary="tesseract-is-not-installed-here"))
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "scan.png").write_bytes((DATA / "arabic-ar.png").read_bytes())
    _mixed_pdf(folder / "mixed.pdf", "de")
    with pytest.raises(ExtractionError) as err:
        load_document(folder / "scan.png", folder, LoaderConfig(ocr=absent))
    assert str(err.value).startswith("no extractable text (image: 1 page need")
    assert "apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-osd" in str(err.value)

    report = index_folder(
        folder,
        VectorSpace(FakeEmbedder()),
        ClientStore(":memory:"),
        "docs",
        config=IndexConfig(loader=LoaderConfig(ocr=absent)),
    )
    assert report.indexed == ("mixed.pdf",)  # its text pages
    assert [s.path for s in report.skipped] == ["scan.png"]
    assert [p.path for p in report.ocr.not_read] == ["mixed.pdf p. 2", "scan.png p. 1"]
    # the packs for the languages seen: the PDF says German (and its text pages are)
    assert report.ocr.install == (
        "apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-osd tesseract-ocr-deu"
    )
    assert report.ocr.install in report.summary()


def test_a_page_that_takes_too_long_is_cut_off_and_reported(tmp_path: Path) -> None:
    events: list[OcrEvent] = []
    with pytest.raises(ExtractionError, match=r"OCR cut off after 0 s"):
        load_document(DATA / "thai-th.png", DATA, LoaderConfig(ocr=_reader(events, page_timeout_s=0.001)))
    assert [event.kind for event in events] == ["cut_off"]


def test_reindexing_reads_every_page_from_the_cache(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("cyrillic-ru", "korean-ko"):
        (folder / f"{name}.png").write_bytes((DATA / f"{name}.png").read_bytes())
    _mixed_pdf(folder / "mixed.pdf")
    reader = PageReader(OcrOptions(), OcrCache(tmp_path / "cache" / "ocr.sqlite3"))
    config = IndexConfig(loader=LoaderConfig(ocr=reader))
    seen: list[IndexProgress] = []
    first = index_folder(
        folder, VectorSpace(FakeEmbedder()), ClientStore(":memory:"), "a", config=config, progress=seen.append
    )
    assert (first.ocr.pages_read, first.ocr.pages_cached) == (3, 0)
    assert max(event.pages_ocr for event in seen) == 3  # progress counts the pages OCR'd
    # another collection (as a second model would have) over the same files: nothing is read again
    second = index_folder(folder, VectorSpace(FakeEmbedder()), ClientStore(":memory:"), "b", config=config)
    assert (second.ocr.pages_read, second.ocr.pages_cached) == (0, 3)
    assert second.chunks_written == first.chunks_written
    assert "OCR: 3 pages read (3 from the OCR cache" in second.summary()


def test_an_ocr_hit_carries_its_confidence_through_the_store() -> None:
    chunk = Chunk("id", "/d/a.png", "/d", 0, "text", 1, "de", "de", "h", 1, ocr=91.26)
    payload = encode_chunk(chunk)
    assert payload["ocr"] == 91.3
    assert decode_hit(ScoredPoint("id", 0.5, payload)).ocr == 91.3
    plain = encode_chunk(Chunk("id", "/d/a.pdf", "/d", 0, "text", 1, "de", "de", "h", 1))
    assert "ocr" not in plain and decode_hit(ScoredPoint("id", 0.5, plain)).ocr is None


def test_explicit_ocr_languages_are_used_for_every_page() -> None:
    events: list[OcrEvent] = []
    doc = load_document(DATA / "cyrillic-ru.png", DATA, LoaderConfig(ocr=_reader(events, languages=("rus",))))
    assert events[0].packs == ("rus",) and "Бородинский" in doc.text
    with pytest.raises(ExtractionError, match="OCR languages not installed: xyz"):
        load_document(DATA / "cyrillic-ru.png", DATA, LoaderConfig(ocr=_reader(languages=("xyz",))))


def test_the_card_marks_a_hit_read_by_ocr_with_its_confidence() -> None:
    from search.core.types import Hit
    from ui.render import hit_card

    scanned = Hit("id", 0.8, "Wildbienen bestäuben Obstbäume.", "/d/scan.png", 1, "de", root="/d", ocr=91.26)
    card = hit_card(1, scanned, None)
    assert 'class="mls-ocr"' in card and "OCR 91%" in card and "p. 1" in card
    assert "mls-ocr" not in hit_card(1, Hit("id", 0.8, "text", "/d/a.pdf", 2, "de", root="/d"), None)


def test_doctor_lists_the_engine_its_version_and_packs() -> None:
    from indexer.ocr.status import ocr_report

    report = ocr_report(PageReader())
    assert report.engine.startswith("tesseract 5") and {"eng", "osd", "jpn_vert"} <= set(report.packs)
    text = report.summary()
    assert "OCR: tesseract 5" in text and "Japanese" in text and "chosen per page" in text
    absent = ocr_report(PageReader(OcrOptions(binary="no-such-tesseract"))).summary()
    assert (
        "Tesseract is not installed" in absent
        and "apt-get install -y --no-install-recommends tesseract-ocr" in absent
    )
    assert "off" in ocr_report(None).summary()


def test_an_index_run_names_the_scanned_file_not_the_descriptor_it_read(tmp_path: Path) -> None:
    """The indexer reads every file through the descriptor it checked (``/proc/self/fd/N``); what
    OCR reports must still name the document."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "thai-th.png").write_bytes((DATA / "thai-th.png").read_bytes())
    events: list[OcrEvent] = []
    config = IndexConfig(loader=LoaderConfig(ocr=_reader(events, page_timeout_s=0.001)))
    report = index_folder(folder, VectorSpace(FakeEmbedder()), ClientStore(":memory:"), "a", config=config)
    text = report.summary()
    assert "thai-th.png" in text and "/proc/" not in text
    assert all("/proc/" not in event.source for event in events)
