"""Comparing models: the first launch indexes the sample with a second model, Compare defaults to two
models, and the leaderboard puts models side by side with the published figure beside them (fakes)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.service import FolderIndexer
from search.application.bootstrap import SampleBootstrap
from search.application.evaluating import PipelineSpec
from search.application.search_app import PipelineChoice, SearchApp
from search.evaluation.leaderboard import ReferenceScores, format_leaderboard, leaderboard, mteb_task_for
from search.evaluation.querysets import load_queryset
from tests.ui_harness import FAKE_MODEL, OTHER_MODEL, make_app, write_documents, write_queryset
from ui.choices import compare_defaults
from ui.render import Column, compare_html, language_mix, only_found_by, pair_rows


@pytest.fixture
def app(tmp_path: Path) -> Iterator[SearchApp]:
    search_app = make_app(tmp_path)
    yield search_app
    search_app.close()


def test_first_launch_indexes_the_sample_with_a_second_model_for_compare(
    app: SearchApp, tmp_path: Path
) -> None:
    sample = tmp_path / "sample"
    write_documents(sample / "documents")
    assert app.companion_model() == OTHER_MODEL
    boot = SampleBootstrap(app, sample, threading.Lock())
    assert boot.models() == [None, OTHER_MODEL]
    boot.start()
    status = boot.wait(60)
    assert status.state == "done" and FAKE_MODEL in status.message and OTHER_MODEL in status.message
    assert {info.model for info in app.collections()} == {FAKE_MODEL, OTHER_MODEL}
    (first, _), (second, mode), _ = compare_defaults(app)
    assert (first, second, mode) == (f"docs-{FAKE_MODEL}", f"docs-{OTHER_MODEL}", "dense")
    again = SampleBootstrap(app, sample, threading.Lock())
    assert again.models() == [] and not again.needed()


def test_compare_defaults_with_one_collection_use_another_mode(app: SearchApp, tmp_path: Path) -> None:
    assert compare_defaults(app) == [(None, "dense")] * 3  # nothing yet: the refresh after indexing sets them
    app.index_folder(write_documents(tmp_path / "docs"), FAKE_MODEL)
    (first, _), (second, mode), _ = compare_defaults(app)
    assert first == second == f"docs-{FAKE_MODEL}" and mode == "hybrid"


def test_compare_without_a_collection_uses_the_default_one(app: SearchApp, tmp_path: Path) -> None:
    app.index_folder(write_documents(tmp_path / "docs"), FAKE_MODEL)
    (side,) = app.compare("Wildbienen Nistplätze", 5, [PipelineChoice(None)])
    assert side.error is None and side.outcome is not None
    assert side.outcome.result.collection == f"docs-{FAKE_MODEL}"


def test_columns_mark_what_only_one_side_found_and_the_language_mix(app: SearchApp, tmp_path: Path) -> None:
    docs = write_documents(tmp_path / "docs")
    for model in (FAKE_MODEL, OTHER_MODEL):
        app.index_folder(docs, model)
    sides = app.compare(
        "Wildbienen bestäuben Obstbäume",
        3,
        [PipelineChoice(f"docs-{FAKE_MODEL}"), PipelineChoice(f"docs-{OTHER_MODEL}")],
    )
    columns = [Column(s.choice.label, s.outcome.result.hits if s.outcome else ()) for s in sides]
    only = only_found_by([[h.source for h in c.hits] for c in columns], 3)
    ((_, _, overlap, only_a, only_b),) = pair_rows(columns, 3)
    assert (only_a, only_b) == (len(only[0]), len(only[1])) and 0 <= float(overlap) <= 1  # type: ignore[arg-type]
    html = compare_html(columns, 3)
    assert "found only here" in html and "languages:" in html
    assert language_mix(columns[0].hits).split(" · ")[0].split()[0] in {"de", "en", "es", "fr", "ja"}


def test_leaderboard_puts_models_side_by_side(app: SearchApp, tmp_path: Path) -> None:
    queryset = load_queryset(write_queryset(tmp_path / "qs"))
    report = app.evaluate(queryset, [PipelineSpec(FAKE_MODEL), PipelineSpec(OTHER_MODEL)])
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    (reference_dir / "mteb_task_means.txt").write_text(
        "e5 XQuADRetrieval abc validation 2 2.1 {'ndcg_at_10': 95.1, 'mrr_at_10': 93.6}\n"
        "e5 MLQARetrieval abc validation 49 2.1 {'ndcg_at_10': 73.06}\n"
        "e5 MLQARetrieval abc test 49 2.1 {'ndcg_at_10': 54.64}\n"
        "garbage line\n",
        encoding="utf-8",
    )
    reference = ReferenceScores.read(reference_dir)
    assert reference.ndcg10("e5", "MLQARetrieval") == (54.64, "test")
    assert ReferenceScores.read(tmp_path / "missing").scores == {}
    rows = leaderboard(report, mteb_names={FAKE_MODEL: "e5"}, reference=reference, task="XQuADRetrieval")
    assert {row.pipeline for row in rows} == {FAKE_MODEL, OTHER_MODEL}
    assert [row.scores["ndcg@10"] for row in rows] == sorted(
        (row.scores["ndcg@10"] for row in rows), reverse=True
    )
    assert rows[0].vs_best == "" and "p=" in rows[1].vs_best and not rows[1].vs_best.startswith("+0.0 ")
    by_name = {row.pipeline: row for row in rows}
    assert by_name[FAKE_MODEL].published == pytest.approx(0.951) and by_name[OTHER_MODEL].published is None
    for row in rows:
        assert row.documents_per_second and row.documents_per_second > 0
        assert row.query_ms_p50 is not None and row.index_mb is not None and row.index_mb > 0
    text = format_leaderboard(report, rows, task="XQuADRetrieval")
    assert "MTEB nDCG@10 (published)" in text and "0.951" in text and "by query language" in text
    assert mteb_task_for(queryset) is None
    assert len(app.leaderboard(report, queryset)) == 2 and "Leaderboard" in app.leaderboard_text(
        report, queryset
    )


def test_index_report_flags_passages_in_languages_the_model_does_not_support(tmp_path: Path) -> None:
    from dataclasses import replace

    from search.application.services import Services
    from search.core.settings import Settings
    from search.models.registry import ModelRegistry
    from search.stores.edge import EdgeStore
    from tests.fakes import FakeEmbedder, fake_spec

    spec = replace(fake_spec("fake-en-only", 32, 128), supported_languages=("en",))
    settings = Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", default_model=spec.name)
    services = Services(
        settings,
        EdgeStore(settings.data_dir / "qdrant"),
        ModelRegistry((spec,)),
        embedder_factory=FakeEmbedder,
        indexer_factory=FolderIndexer,
    )
    search_app = SearchApp(services)
    try:
        report = search_app.index_folder(write_documents(tmp_path / "docs"))
    finally:
        search_app.close()
    assert report.unsupported_languages and "en" not in report.unsupported_languages
    assert {"de", "ja"} <= set(report.unsupported_languages)
    assert "not trained on" in report.summary() and report.to_json()["unsupported_languages"]
