"""Opening a result's source in a real browser never runs the document's scripts in the app's origin
(issue 21, items 1 and 2): Debian's chromium through Playwright, against the real server.

Script-bearing HTML and XHTML files (indexed from a folder, and uploaded through the Index tab, which
needs no allowed root) are opened by clicking "open ↗" as a user would. Their scripts would set a
cookie and write localStorage for the page's origin and mark the page; none of it may happen. An SVG
is never served at all (uploads refuse it, and a chunk naming one is refused). PDFs still open in
Chromium's own viewer under the same headers.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from search.application.documents import document_link
from search.stores.base import Point
from search.stores.payload import Field
from tests.test_ui_browser import TIMEOUT_MS, chromium_browser, run_search, screenshot
from tests.ui_harness import FAKE_MODEL, RunningApp, free_port, make_app, write_queryset
from ui.app import build_app, serve

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
# What a hostile document would do in the app's origin: a cookie, localStorage, a mark on the page,
# and a call of the app's API (a search) whose answer it could read.
ATTACK = (
    "document.cookie='pwned=1; path=/';"
    "try { localStorage.setItem('pwned', '1'); } catch (e) {}"
    "document.documentElement.setAttribute('data-ran', '1');"
    "fetch('/gradio_api/info').then(() => document.documentElement.setAttribute('data-api', '1'));"
)
HTML = (
    "<!DOCTYPE html><html><head><title>Hostile beehive page</title></head><body>"
    "<p>Hostile beehive page about honeycomb wax.</p>"
    f"<script>{ATTACK}</script>"
    f'<img src="x" onerror="{ATTACK}">'
    f'<svg xmlns="http://www.w3.org/2000/svg" onload="{ATTACK}"><text>svg</text></svg>'
    "</body></html>"
)
XHTML = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Hostile xhtml hive</title></head><body>'
    "<p>Hostile xhtml hive about propolis resin.</p>"
    f"<script>//<![CDATA[\n{ATTACK}\n//]]></script></body></html>"
)
SVG = f'<svg xmlns="http://www.w3.org/2000/svg"><script>{ATTACK}</script><text>hostile svg drone</text></svg>'


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    tmp = tmp_path_factory.mktemp("documents-browser")
    docs = tmp / "docs"
    docs.mkdir()
    (docs / "hostile.html").write_text(HTML, encoding="utf-8")
    (docs / "hostile.xhtml").write_text(XHTML, encoding="utf-8")
    (docs / "hostile.svg").write_text(SVG, encoding="utf-8")
    shutil.copy(
        REPO / "sample_corpora" / "documents" / "bees" / "en-honeybees-varroa.pdf", docs / "varroa.pdf"
    )
    search_app = make_app(tmp, allowed_roots=(docs,))
    report = search_app.index_folder(docs, FAKE_MODEL)
    assert set(report.indexed) == {"hostile.html", "hostile.xhtml", "varroa.pdf"} and report.unsupported == 1
    queryset = write_queryset(tmp / "sample" / "queryset")
    demo = build_app(search_app, sample_folder=queryset.parent)
    url = serve(demo, search_app, port=free_port(), block=False)
    running = RunningApp(search_app, demo, url, docs, queryset)
    yield running
    running.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as instance:
        yield instance


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


def app_page(context: Any, app: RunningApp) -> Any:
    page = context.new_page()
    page.goto(app.url)
    page.get_by_role("tab", name="Search").wait_for()
    return page


def open_result(page: Any, query: str, source: str) -> Any:
    """Search, then click the result's "open ↗" link as a user would; the tab it opens."""
    results = run_search(page, query)
    card = results.locator(".mls-card", has=page.locator(".mls-source", has_text=source)).first
    link = card.locator("a.mls-open")
    href = link.get_attribute("href") or ""
    assert href.startswith("documents/") and source not in href and "/tmp" not in href  # no server path
    with page.context.expect_page() as opened:
        link.click()
    document = opened.value
    document.wait_for_load_state("load")
    document.wait_for_timeout(500)  # time for any script that could run to have run
    return document


def assert_nothing_ran(page: Any, document: Any, app: RunningApp) -> None:
    assert document.locator("html").get_attribute("data-ran") is None, "the document's script ran"
    assert document.locator("html").get_attribute("data-api") is None, "the document called the app's API"
    assert not [c for c in page.context.cookies(app.url) if c["name"] == "pwned"]
    assert page.evaluate("() => localStorage.getItem('pwned')") is None
    assert page.evaluate("() => document.cookie").find("pwned") == -1


@pytest.mark.parametrize(
    ("query", "source"),
    [
        ("Hostile beehive page honeycomb wax", "hostile.html"),
        ("Hostile xhtml hive propolis resin", "hostile.xhtml"),
    ],
)
def test_an_indexed_html_or_xhtml_file_opens_without_running_its_scripts(
    context: Any, app: RunningApp, query: str, source: str
) -> None:
    page = app_page(context, app)
    document = open_result(page, query, source)
    assert "Hostile" in document.locator("body").inner_text()  # shown (rendered, in a sandbox)
    assert_nothing_ran(page, document, app)
    assert screenshot(document, f"document-{source.replace('.', '-')}").is_file()


def test_an_uploaded_html_file_opens_without_running_its_scripts(
    context: Any, app: RunningApp, tmp_path: Path
) -> None:
    page = app_page(context, app)
    upload = tmp_path / "uploaded-hive.html"
    upload.write_text(
        HTML.replace("Hostile beehive page about honeycomb wax", "Uploaded swarm notes royal jelly"),
        encoding="utf-8",
    )
    svg = tmp_path / "uploaded-drone.svg"
    svg.write_text(SVG, encoding="utf-8")
    page.get_by_role("tab", name="Index").click()
    page.get_by_role("tab", name="Upload files").click()
    page.locator("#index-files input[type=file]").set_input_files([str(upload), str(svg)])
    page.locator("#index-files").get_by_text("uploaded-hive").first.wait_for()
    page.locator("#index-upload-button").click()
    report = page.locator("#index-report")
    report.get_by_text("files indexed").wait_for(timeout=120_000)
    uploaded = report.inner_text().split("\n")[0]
    assert uploaded == "Uploaded: uploaded-hive.html", uploaded  # the page (and the server) refuse the SVG
    page.get_by_role("tab", name="Search").click()
    document = open_result(page, "Uploaded swarm notes royal jelly", "uploaded-hive.html")
    assert "Uploaded swarm notes" in document.locator("body").inner_text()
    assert_nothing_ran(page, document, app)


def test_an_svg_is_never_served(context: Any, app: RunningApp) -> None:
    """Not through Gradio's file route, and not through the document route even when a chunk names one
    (as a version that indexed SVG would have stored it)."""
    collection = app.app.collection_for(None)
    chunk = str(uuid.uuid4())
    source = app.docs / "hostile.svg"
    app.services.store.upsert(
        collection,
        [
            Point(
                chunk,
                np.ones(64, dtype=np.float32) / 8,
                {
                    Field.SOURCE: str(source),
                    Field.ROOT: str(app.docs),
                    Field.TEXT: "svg",
                    Field.DOC_HASH: "-",
                },
            )
        ],
    )
    page = app_page(context, app)
    try:
        for url in (f"{app.url}{document_link(collection, chunk)}", f"{app.url}gradio_api/file={source}"):
            document = context.new_page()
            response = document.goto(url)
            assert response is not None and response.status in (403, 404), url
            document.wait_for_timeout(300)
            assert_nothing_ran(page, document, app)
            assert "svg" not in (response.headers.get("content-type") or "")
    finally:
        app.services.store.delete_ids(collection, [chunk])


def test_a_pdf_opens_in_the_browsers_viewer_at_its_page(context: Any, app: RunningApp) -> None:
    page = app_page(context, app)
    document = open_result(page, "Varroa mite field report winter losses", "varroa.pdf")
    assert "#page=" in document.url
    # Chromium's PDF viewer is an extension embedded in the page: its stylesheet is the sign it loaded
    # under the sandboxing headers (a blocked viewer leaves an empty page).
    document.wait_for_function("() => document.documentElement.outerHTML.includes('pdf_embedder')")
    assert screenshot(document, "document-pdf").is_file()


def test_a_warning_pop_up_shows_a_query_sets_markup_as_text(context: Any, app: RunningApp) -> None:
    """Item 9: an id in a query set became a link and a remote image in the pop-up; now it is text."""
    folder = app.docs.parent / "hostile-queryset"
    folder.mkdir(exist_ok=True)
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "text": "honeybees"}\n', encoding="utf-8")
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "bees"}\n', encoding="utf-8")
    hostile = '<img src="http://127.0.0.1:9/pixel.png" id="pwned-img"><a id="pwned-link" href="http://evil.example">x</a>'
    (folder / "qrels.tsv").write_text(f"query-id\tcorpus-id\tscore\n{hostile}\td1\t1\n", encoding="utf-8")
    app.app.services.settings = replace(app.app.settings, allowed_roots=(app.docs, folder))
    page = app_page(context, app)
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#eval-folder textarea, #eval-folder input").first.fill(str(folder))
    page.locator("#eval-button").click()
    page.get_by_text("unknown query id").first.wait_for()
    assert page.locator("#pwned-img, #pwned-link").count() == 0
    assert page.get_by_text('<img src="http://127.0.0.1:9/pixel.png"', exact=False).count() >= 1
