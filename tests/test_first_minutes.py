"""Issue 18, what a newcomer meets first: exact snippets, headings once, the first-launch answer
while indexing, source filters as results show them, links to source documents (and their refusal)."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from indexer.extract.textnorm import normalize_text
from search.application.bootstrap import SampleBootstrap
from search.application.documents import document_link, linkable
from search.application.searching import make_request
from search.application.sources import match_sources
from search.core.types import Hit
from search.retrieval.cue_calibration import Calibration, CueThresholds, calibration_key
from tests.ui_harness import DOCUMENTS, FAKE_MODEL, make_app, start_app, write_documents
from ui.context import make_context
from ui.render import hit_card, progress_html, repeats_heading
from ui.tabs_search import still_indexing

CHINESE = "西湖龙井产于杭州，品质：上乘（特级）。"


def test_document_text_keeps_full_width_punctuation() -> None:
    assert normalize_text(CHINESE) == CHINESE
    assert (
        normalize_text("ﬁnden\u00ad  und\u3000ＡＢＣ") == "finden und ＡＢＣ"
    )  # ligature unfolded, width kept


def test_indexed_snippet_quotes_the_document_exactly(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "zh").mkdir(parents=True)
    (docs / "zh" / "longjing.md").write_text(f"# 龙井\n\n{CHINESE}\n", encoding="utf-8")
    app = make_app(tmp_path)
    try:
        app.index_folder(docs)
        outcome = app.search(
            make_request("西湖龙井 杭州", app.collection_for(None), None, 3, "dense", None, "off")
        )
        assert any(CHINESE in hit.text for hit in outcome.result.hits), [h.text for h in outcome.result.hits]
        assert CHINESE in hit_card(1, outcome.result.hits[0], None)
    finally:
        app.close()


@pytest.mark.parametrize(
    ("text", "heading", "repeated"),
    [
        ("Mehr als nur die Honigbiene\nWildbienen bestäuben …", "Mehr als nur die Honigbiene", True),
        (
            "Wildbienen und das Insektensterben\nMehr als nur die Honigbiene\nText",
            "Mehr als nur die Honigbiene",
            True,
        ),
        ("Wildbienen bestäuben Obstbäume.", "Mehr als nur die Honigbiene", False),
        ("Text that quotes the heading later.\n" * 8 + "Heading", "Heading", False),
    ],
)
def test_heading_is_shown_once(text: str, heading: str, repeated: bool) -> None:
    assert repeats_heading(text, heading) is repeated
    card = hit_card(1, Hit("c", 0.5, text, "/d/a.md", None, "de", heading=heading, root="/d"), None)
    assert ('class="mls-heading"' in card) is not repeated


def test_first_launch_banner_names_the_step() -> None:
    html = progress_html(
        "Indexing the sample documents", 12, 48, "step 2 of 3: indexing the sample documents"
    )
    assert "Step 2 of 3: indexing the sample documents" in html and "12 / 48 files" in html


def test_search_while_the_sample_is_indexed_says_so(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    try:
        sample = tmp_path / "sample"
        write_documents(sample / "documents")
        ctx = make_context(app, sample)
        assert ctx.bootstrap is not None
        with ctx.index_lock:  # the bootstrap waits at its first step
            ctx.bootstrap.start()
            status = ctx.bootstrap.status()
            assert status.state == "running" and status.step_label == "step 1 of 3: preparing the model"
            waiting = still_indexing(ctx, None)
            assert waiting is not None and "still being indexed" in waiting and "step 1 of 3" in waiting
        assert ctx.bootstrap.wait(60).state == "done"
        assert still_indexing(ctx, None) is None
    finally:
        app.close()


def test_bootstrap_steps_follow_the_run(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    try:
        sample = tmp_path / "sample"
        write_documents(sample / "documents")
        boot = SampleBootstrap(app, sample, threading.Lock())
        seen: set[int] = set()
        real = boot._progress

        def spy(event):  # type: ignore[no-untyped-def]
            real(event)
            seen.add(boot.status().step)

        boot._progress = spy  # type: ignore[method-assign]
        boot.start()
        assert boot.wait(60).state == "done"
        assert seen == {2, 3}  # indexing n/N files, then building the index
    finally:
        app.close()


def test_the_launch_says_when_no_backend_measurement_follows(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A cached plan (or a fixed backend) starts no background process: the log's last word says so,
    so a person (and the terminal test) knows nothing more is coming."""
    app = make_app(tmp_path)
    try:
        boot = SampleBootstrap(app, tmp_path / "sample", threading.Lock())
        with caplog.at_level("INFO", logger="ui"):
            boot._start_plan()
        assert "backend plan: nothing to measure" in caplog.text
    finally:
        app.close()


def test_source_filter_as_results_show_it(tmp_path: Path) -> None:
    docs = write_documents(tmp_path / "docs")
    app = make_app(tmp_path)
    try:
        app.index_folder(docs)
        collection = app.collection_for(None)

        def search(*sources: str):  # type: ignore[no-untyped-def]
            return app.search(
                make_request("varroa", collection, None, 5, "dense", None, "off", sources=sources)
            )

        shown = search("bees/en-varroa.txt")
        assert {hit.relpath for hit in shown.result.hits} == {"bees/en-varroa.txt"} and not shown.warnings
        absolute = search(str(docs / "bees" / "en-varroa.txt"))
        assert {hit.relpath for hit in absolute.result.hits} == {"bees/en-varroa.txt"}
        missing = search("en-varroa.pdf")
        assert not missing.result.hits
        assert len(missing.warnings) == 1 and "en-varroa.pdf" in missing.warnings[0]
        mixed = search("bees/en-varroa.txt", "nothing.txt")  # a wrong name never widens the search
        assert {hit.relpath for hit in mixed.result.hits} == {"bees/en-varroa.txt"} and mixed.warnings
    finally:
        app.close()


def test_match_sources_forms() -> None:
    shown = {"food/es-paella.pdf": "/data/docs/food/es-paella.pdf"}
    match = match_sources(["food/es-paella.pdf", "/data/docs/food/es-paella.pdf", "es-paella.pdf"], shown)
    assert match.sources == ("/data/docs/food/es-paella.pdf",) and match.unmatched == ("es-paella.pdf",)
    assert match.warning("docs") is not None


def test_result_links_name_the_collection_and_chunk_only_inside_the_roots(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert linkable(str(root / "a.txt"), [root]) and linkable(str(root / "sub" / "b.pdf"), [root])
    assert not linkable(str(tmp_path / "secret.txt"), [root]) and not linkable(str(root / "a.txt"), [])
    assert not linkable(str(tmp_path / "root-sibling" / "a.txt"), [root])
    link = document_link("docs-e5", "5f1d7c9e-0000-5000-8000-000000000000", page=3)
    assert link == "documents/docs-e5/5f1d7c9e-0000-5000-8000-000000000000#page=3"
    assert str(tmp_path) not in link  # no server path in a link
    assert document_link("docs", "x", anchor=":~:text=bees").endswith("#:~:text=bees")


def test_the_server_serves_indexed_files_and_refuses_others(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for browsers")
    running = start_app(tmp_path / "app")
    try:
        (running.docs / "escape.txt").symlink_to(secret)
        request = make_request(
            "varroa mite honeybee", running.app.collection_for(None), (), 5, "dense", None, "off"
        )
        hit = running.app.search(request).result.hits[0]
        assert hit.relpath == "bees/en-varroa.txt"
        link = document_link(running.app.collection_for(None), hit.chunk_id)
        with urllib.request.urlopen(running.url + link, timeout=10) as response:
            assert response.read().decode() == DOCUMENTS["bees/en-varroa.txt"]
        for path in (
            secret,
            running.docs / "escape.txt",
            running.docs / "bees" / "en-varroa.txt",
            Path("/etc/passwd"),
        ):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{running.url}gradio_api/file={path}", timeout=10)
            assert refused.value.code in (403, 404), path
    finally:
        running.close()


def test_dense_hits_carry_a_relevance_cue_and_scores_explain_themselves(tmp_path: Path) -> None:
    docs = write_documents(tmp_path / "docs")
    app = make_app(tmp_path)
    try:
        app.index_folder(docs)
        collection = app.collection_for(None)
        uncalibrated = app.search(
            make_request("varroa mite winter", collection, None, 5, "dense", None, "off")
        )
        assert uncalibrated.cues == () and uncalibrated.cue_note is not None
        assert "No relevance cue" in uncalibrated.cue_note and "not calibrated" in uncalibrated.cue_note
        meta = app.searcher(collection).meta
        keys = {
            mode: calibration_key(meta.model, mode, meta.correction, meta.feedback)
            for mode in ("dense", "sparse")
        }
        app.calibration = Calibration({key: CueThresholds(0.0, -1.5, 0.875) for key in keys.values()}, {})
        dense = app.search(make_request("varroa mite winter", collection, None, 5, "dense", None, "off"))
        assert len(dense.cues) == len(dense.result.hits) and set(dense.cues) <= {"strong", "weak", "none"}
        assert dense.cue_note is None
        # The cue follows the hit's margin above the noise floor: the answer is strong, and the labels
        # never rise as the scores fall.
        order = {"none": 0, "weak": 1, "strong": 2}
        assert dense.result.hits[0].relpath == "bees/en-varroa.txt" and dense.cues[0] == "strong"
        levels = [order[c] for c in dense.cues if c is not None]  # dense hits always carry their cue
        assert len(levels) == len(dense.cues) and levels == sorted(levels, reverse=True)
        for thresholds, why in (
            (CueThresholds(9.0, 9.0, 0.875), "margins out of reach"),
            (CueThresholds(0.0, -1.5, -1.0), "every query reads as nonsense"),
        ):
            app.calibration = Calibration({keys["dense"]: thresholds}, {})
            strict = app.search(make_request("varroa mite winter", collection, None, 5, "dense", None, "off"))
            assert set(strict.cues) == {"none"}, why
        app.calibration = Calibration({key: CueThresholds(0.0, -1.5, 0.875) for key in keys.values()}, {})
        sparse = app.search(make_request("varroa mite winter", collection, None, 5, "sparse", None, "off"))
        # BM25 is not on a closeness scale: sparse hits are judged by their dense scores
        # (None: a cue stronger than one ranked above it is not shown, issue 25)
        assert len(sparse.cues) == len(sparse.result.hits)
        assert set(sparse.cues) <= {"strong", "weak", "none", None}
        for mode, outcome in (("dense", dense), ("sparse", sparse)):  # a filter changes no cue shown
            cue_of = {hit.chunk_id: cue for hit, cue in zip(outcome.result.hits, outcome.cues)}
            language = outcome.result.hits[0].language
            narrowed = app.search(
                make_request("varroa mite winter", collection, [language], 5, mode, None, "off")
            )
            assert narrowed.result.hits
            for hit, cue in zip(narrowed.result.hits, narrowed.cues):
                assert cue is None or cue_of.get(hit.chunk_id) in (None, cue)
        hybrid = app.search(make_request("varroa mite winter", collection, None, 5, "hybrid", None, "off"))
        assert hybrid.cues == () and "hybrid" in (
            hybrid.cue_note or ""
        )  # calibrated for dense and sparse only
        floor = app.noise_floor(collection)
        assert floor is app.noise_floor(collection)  # measured once per collection size
    finally:
        app.close()
    hit = Hit("c", 0.8123, "text", "/d/a.txt", None, "en", root="/d")
    card = hit_card(1, hit, None, cue="none", mode="dense")
    assert "no clear match" in card and "cosine similarity" in card
    assert "BM25" in hit_card(1, hit, None, mode="sparse")
    assert "reciprocal-rank fusion" in hit_card(1, hit, None, mode="hybrid")


def test_query_language_shown_and_overridable_through_the_api(tmp_path: Path) -> None:
    from gradio_client import Client

    running = start_app(tmp_path / "app", index_models=(FAKE_MODEL,))
    try:
        client = Client(running.url, verbose=False)
        args: tuple[object, ...] = (
            "Wildbienen bestäuben Obstbäume",
            f"docs-{FAKE_MODEL}",
            [],
            3,
            "dense",
            "none",
            "off",
        )
        _, summary, data = client.predict(*args, api_name="/search")
        assert data["query_language"] == "de" and not data["query_language_given"]
        assert "query language: **de (detected" in summary
        _, summary, data = client.predict(*args, "nl", api_name="/search")
        assert data["query_language"] == "nl" and data["query_language_given"]
        assert "nl (as you set it)" in summary
    finally:
        running.close()
