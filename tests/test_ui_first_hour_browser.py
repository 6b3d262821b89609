"""The first hour in a real browser (issue 25): one state and one message while the first launch
indexes; Compare over the same documents; "open ↗" at the hit's page.

Same harness as tests/test_ui_browser.py (Debian's chromium through Playwright, fakes for models).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer.service import FolderIndexer
from search.application.search_app import SearchApp
from search.core.settings import Settings
from search.models.registry import ModelRegistry
from search.models.specs import ModelSpec
from search.stores.edge import EdgeStore
from search.text.bm25 import SubwordBM25Encoder
from tests.fakes import FakeEmbedder, fake_spec
from tests.test_ui_browser import TIMEOUT_MS, chromium_browser, run_search, screenshot
from tests.ui_harness import (
    FAKE_MODEL,
    OTHER_MODEL,
    FakeServices,
    LengthReranker,
    WordHashTokenizer,
    free_port,
    make_app,
    write_documents,
    write_queryset,
)
from ui.app import build_app, serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as instance:
        yield instance


class GatedEmbedder(FakeEmbedder):
    """Passages wait for the gate: an index run holds at its first batch, its collection created, empty."""

    def __init__(self, spec: ModelSpec, gate: threading.Event) -> None:
        super().__init__(spec)
        self._gate = gate

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        self._gate.wait(120)
        return super().encode_documents(texts)


def gated_app(tmp: Path, gate: threading.Event) -> SearchApp:
    registry = ModelRegistry((fake_spec(FAKE_MODEL, 64, 128), fake_spec(OTHER_MODEL, 32, 128)))
    settings = Settings(data_dir=tmp / "data", cache_dir=tmp / "cache", default_model=FAKE_MODEL)
    services = FakeServices(
        settings,
        EdgeStore(settings.data_dir / "qdrant"),
        registry=registry,
        embedder_factory=lambda spec: GatedEmbedder(spec, gate),
        sparse_factory=lambda embedder: SubwordBM25Encoder(WordHashTokenizer(), embedder.spec.name),
        reranker_factory=lambda name: LengthReranker(),
        indexer_factory=FolderIndexer,
    )
    return SearchApp(services)


def test_first_launch_search_shows_one_state_and_one_message(browser: Any, tmp_path: Path) -> None:
    """The sample collection exists but holds nothing yet (the first batch is being embedded): a search
    says the documents are still being indexed, at the banner's step, and nothing else: no "No
    results … fewer language filters", no "(0/0 files)" summary."""
    gate = threading.Event()
    search_app = gated_app(tmp_path, gate)
    sample = tmp_path / "sample"
    write_documents(sample / "documents")
    write_queryset(sample / "queryset")
    demo = build_app(search_app, sample_folder=sample)
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    try:
        url = serve(demo, search_app, port=free_port(), block=False)
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        tab.goto(url)
        tab.get_by_text("Step 2 of 3: indexing the sample documents").wait_for()
        assert search_app.catalog.get(search_app.collection_for(None)) is not None  # created, empty
        results = run_search(tab, "varroa mite")
        text = results.inner_text()
        summary = tab.locator("#search-summary").inner_text()
        assert "still being indexed" in text and "step 2 of 3" in text, text
        for contradiction in ("No results", "fewer language filters", "No collection", "0/0"):
            assert contradiction not in text + summary, (contradiction, text, summary)
        assert tab.locator("#search-results .mls-msg").count() == 1
        assert screenshot(tab, "first-launch-one-state").is_file()
        gate.set()
        tab.get_by_text("Sample documents indexed").wait_for()
        results = run_search(tab, "varroa mite")
        results.locator(".mls-card").first.wait_for()
        assert "Still indexing" not in tab.locator("#search-summary").inner_text()
    finally:
        gate.set()
        context.close()
        demo.close()
        search_app.close()


def picked(tab: Any, elem_id: str) -> str:
    """The collection a picker shows (its label is 'name · model · n passages')."""
    return str(tab.locator(f"#{elem_id} input").input_value()).split(" · ")[0]


def test_compare_pairs_the_same_documents_after_a_folder_indexed_first(browser: Any, tmp_path: Path) -> None:
    """The user indexes their folder with the default model before the first launch, which then indexes
    the sample documents with the second model only. Compare must not pair the folder with the samples:
    it says the folder has one model, offers to index it with the second, and then compares the two
    models over the folder. Search over the folder shows no sample banner nor sample example queries."""
    search_app = make_app(tmp_path, allowed_roots=(tmp_path / "mine",))
    mine = write_documents(tmp_path / "mine")
    search_app.index_folder(mine, FAKE_MODEL)
    sample = tmp_path / "sample"
    write_documents(sample / "documents")
    write_queryset(sample / "queryset")
    demo = build_app(search_app, sample_folder=sample)
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    own = search_app.collection_for(FAKE_MODEL)
    try:
        url = serve(demo, search_app, port=free_port(), block=False)
        ctx = demo.ui_context  # type: ignore[attr-defined]
        assert ctx.bootstrap.wait(120).state == "done"
        assert search_app.catalog.get(search_app.collection_for(OTHER_MODEL)) is not None  # the samples
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        tab.goto(url)
        tab.get_by_role("tab", name="Search").wait_for()
        assert picked(tab, "search-collection") == own
        tab.wait_for_timeout(1500)  # the page's first refresh and the banner's last poll
        assert not tab.get_by_text("Sample documents indexed").is_visible()
        assert not tab.get_by_text("Example queries").is_visible()

        tab.get_by_role("tab", name="Compare").click()
        note = tab.locator("#compare-offer")
        note.get_by_text("no other model has indexed its documents").wait_for()
        assert picked(tab, "compare-col-0") == own
        assert picked(tab, "compare-col-1") == own  # another mode, same documents
        assert screenshot(tab, "compare-offer").is_file()
        button = tab.locator("#compare-offer-button")
        assert OTHER_MODEL in button.inner_text()
        button.click()
        note.get_by_text("now compares the two models").wait_for(timeout=120_000)
        second = picked(tab, "compare-col-1")
        assert second not in (own, search_app.collection_for(OTHER_MODEL)), second
        info = search_app.catalog.get(second)
        assert info is not None and info.model == OTHER_MODEL and info.documents == {mine.as_posix()}
        tab.locator("#compare-query textarea").fill("varroa mite honeybee colonies")
        tab.locator("#compare-button").click()
        columns = tab.locator("#compare-results .mls-col")
        columns.first.wait_for()
        titles = [columns.nth(i).locator("h4").inner_text() for i in range(columns.count())]
        assert titles[0].startswith(FAKE_MODEL) and titles[1].startswith(OTHER_MODEL), titles
        for i in range(2):  # both over the user's folder: the same document first
            assert "bees/en-varroa.txt" in columns.nth(i).locator(".mls-source").all_inner_texts()[:3]
        assert screenshot(tab, "compare-same-documents").is_file()
    finally:
        context.close()
        demo.close()
        search_app.close()


def _pdf_with_a_passage_on_page(path: Path, pages: int, on_page: int, passage: str) -> Path:
    import pymupdf

    doc = pymupdf.open()
    for number in range(1, pages + 1):
        page = doc.new_page()
        page.insert_text((72, 100), f"PAGE NUMBER {number}", fontsize=36)
        text = passage if number == on_page else f"Filler page {number} about printing presses and ink."
        page.insert_textbox(pymupdf.Rect(72, 160, 540, 700), text, fontsize=12)
    doc.save(path)
    doc.close()
    return path


def _viewer_page(popup: Any) -> str:
    """The page number Chromium's PDF viewer shows in its toolbar (its extension frame, shadow DOM)."""
    for _ in range(100):  # the viewer's frame appears once the PDF is fetched
        viewer = next((f for f in popup.frames if f.url.startswith("chrome-extension://")), None)
        if viewer is not None:
            break
        popup.wait_for_timeout(100)
    assert viewer is not None, "Chromium did not open the PDF in its viewer"
    field = viewer.locator("#pageSelector")
    field.wait_for()
    popup.wait_for_timeout(1500)  # the viewer scrolls to the fragment's page once the document is laid out
    return str(field.input_value())


def test_open_link_of_a_pdf_hit_opens_at_its_page_and_html_near_the_passage(
    browser: Any, tmp_path: Path
) -> None:
    """ "open ↗" on a hit on page 5 of a 7-page PDF opens Chromium's viewer at page 5, not the cover; on an
    HTML hit the link carries a text fragment and the page opens scrolled to the passage."""
    docs = tmp_path / "docs"
    docs.mkdir()
    passage = "Varroa mites weaken honeybee colonies during the long winter months."
    _pdf_with_a_passage_on_page(docs / "manual.pdf", 7, 5, passage)
    filler = "".join(f"<p>Section {i}: printing presses, type and ink.</p>" for i in range(150))
    (docs / "chapter.html").write_text(
        f"<html><body><h1>Chapter</h1>{filler}<p>Solar panels on the school roof power the lights.</p>"
        f"{filler}</body></html>",
        encoding="utf-8",
    )
    search_app = make_app(tmp_path, allowed_roots=(docs,))
    search_app.index_folder(docs, FAKE_MODEL)
    demo = build_app(search_app)
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    try:
        url = serve(demo, search_app, port=free_port(), block=False)
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        tab.goto(url)
        results = run_search(tab, "varroa mites honeybee colonies winter")
        card = results.locator(".mls-card").first
        assert card.locator(".mls-source").inner_text().startswith("manual.pdf")
        link = card.locator("a.mls-open")
        assert (link.get_attribute("href") or "").endswith("#page=5")
        with context.expect_page() as opened:
            link.click()
        popup = opened.value
        popup.wait_for_load_state()
        assert popup.url.endswith("#page=5")
        assert _viewer_page(popup) == "5"
        assert screenshot(popup, "open-pdf-at-page").is_file()
        popup.close()

        results = run_search(tab, "solar panels school roof lights")
        card = results.locator(".mls-card", has=tab.locator(".mls-source", has_text="chapter.html")).first
        link = card.locator("a.mls-open")
        assert "#:~:text=" in (link.get_attribute("href") or "")
        with context.expect_page() as opened:
            link.click()
        popup = opened.value
        popup.wait_for_load_state()
        popup.wait_for_timeout(1000)
        assert popup.evaluate("window.scrollY") > 2000  # at the passage, not the top of the chapter
        popup.close()
    finally:
        context.close()
        demo.close()
        search_app.close()
