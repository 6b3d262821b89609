"""UI logic without a server: request validation, pickers, first-launch indexing, evaluation paths."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from search.application.bootstrap import SampleBootstrap
from search.application.searching import make_request
from search.core.errors import NotAllowedError, QueryError
from tests.ui_harness import FAKE_MODEL, OTHER_MODEL, make_app, write_documents, write_queryset
from ui.choices import (
    collection_choices,
    default_collection_choice,
    example_queries,
    language_choices,
    mode_choices,
    model_choices,
    second_stage_choices,
)
from ui.context import make_context
from ui.tabs_evaluate import allowed_queryset_folder


@pytest.fixture
def app(tmp_path: Path):  # type: ignore[no-untyped-def]
    application = make_app(tmp_path, allowed_roots=(tmp_path / "docs",))
    yield application
    application.close()


def test_make_request_validates_raw_widget_values() -> None:
    request = make_request("q", "docs", ["de", "zh-Hant"], 5.0, "hybrid", "none", "lexical")
    assert request.k == 5 and request.second_stage is None and request.languages == ("de", "zh-Hant")
    for args, message in [
        (("q", None, [], 5, "dense", "none"), "No collection yet"),
        (("q", "docs", [], 0, "dense", "none"), "between 1 and"),
        (("q", "docs", [], 51, "dense", "none"), "between 1 and"),
        (("q", "docs", [], "x", "dense", "none"), "whole number"),
        (("q", "docs", [], 5, "magic", "none"), "Unknown mode"),
        (("q", "docs", ["<b>"], 5, "dense", "none"), "Not a language code"),
    ]:
        with pytest.raises(QueryError, match=message):
            make_request(*args)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="Unknown highlight"):
        make_request("q", "docs", [], 5, "dense", "none", "bold")


def test_run_search_refuses_unknown_collections_and_second_stages(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app.index_folder(write_documents(tmp_path / "docs"), FAKE_MODEL)
    with pytest.raises(QueryError, match="No collection"):
        app.search(make_request("bees", "elsewhere", [], 5, "dense", None))
    with pytest.raises(QueryError, match="not available on this server"):
        app.search(make_request("bees", f"docs-{FAKE_MODEL}", [], 5, "dense", "/etc/some-model"))
    outcome = app.search(make_request("varroa mite", f"docs-{FAKE_MODEL}", ["en"], 3, "dense", None))
    assert outcome.result.hits[0].relpath == "bees/en-varroa.txt"
    assert set(outcome.timings_ms) >= {"embed", "search", "highlight", "total"}


def test_pickers_offer_only_what_exists(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert collection_choices(app) == [] and default_collection_choice(app) is None
    assert mode_choices(app, None) == ["dense"] and language_choices(app, None) == []
    docs = write_documents(tmp_path / "docs")
    app.index_folder(docs, OTHER_MODEL)
    app.index_folder(docs, FAKE_MODEL)
    names = [name for _, name in collection_choices(app)]
    assert names == [f"docs-{OTHER_MODEL}", f"docs-{FAKE_MODEL}"]
    assert default_collection_choice(app) == f"docs-{FAKE_MODEL}"  # the default model's, not the first
    assert "fake-hash-64 · " in collection_choices(app)[1][0]
    langs = [code for _, code in language_choices(app, f"docs-{FAKE_MODEL}")]
    assert set(langs) == {"en", "de", "fr", "ja", "es"} and langs[0] == "en"
    assert mode_choices(app, f"docs-{FAKE_MODEL}") == ["dense", "sparse", "hybrid"]
    assert model_choices(app) == [FAKE_MODEL, OTHER_MODEL]
    assert second_stage_choices(app) == ["none", "shortest-first"]


def test_example_queries_take_one_language_at_a_time(tmp_path: Path) -> None:
    folder = write_queryset(tmp_path / "qs")
    assert example_queries(folder, limit=3) == [
        "varroa mite honeybee colonies",
        "Wildbienen Nistplätze Gärtner",
        "thé vert matcha",
    ]
    assert example_queries(None) == [] and example_queries(tmp_path / "missing") == []
    real = Path(__file__).resolve().parents[1] / "sample_corpora" / "queryset"
    if real.is_dir():
        assert len(example_queries(real, limit=8)) == 8


def test_first_launch_indexes_the_sample_documents_once(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sample = tmp_path / "sample"
    write_documents(sample / "documents")
    (sample / "README.md").write_text("not a document of the sample set")
    lock = threading.Lock()
    boot = SampleBootstrap(app, sample, lock)
    assert boot.needed() and boot.status().state == "idle"
    boot.start()
    boot.start()  # idempotent
    status = boot.wait(60)
    assert status.state == "done", status.message
    assert status.report is not None and len(status.report.indexed) == 6  # documents/ only, not the README
    assert app.services.store.count(f"docs-{FAKE_MODEL}") > 0
    again = SampleBootstrap(app, sample, lock)
    again.start()
    assert again.status().state == "skipped"


def test_first_launch_failure_is_reported_not_raised(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    boot = SampleBootstrap(app, tmp_path / "no-such-folder", threading.Lock())
    boot.start()
    status = boot.wait(30)
    assert status.state == "failed" and "failed" in status.message


def test_index_lock_serialises_bootstrap_and_index_runs(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sample = tmp_path / "sample"
    write_documents(sample / "documents")
    ctx = make_context(app, sample)
    assert ctx.bootstrap is not None
    with ctx.index_lock:  # an Index-tab run holds the lock: the bootstrap waits for it
        ctx.bootstrap.start()
        assert ctx.bootstrap.wait(0.5).state == "running"
    assert ctx.bootstrap.wait(60).state == "done"


def test_query_set_folder_must_be_allowed(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sample = tmp_path / "sample"
    write_queryset(sample / "queryset")
    ctx = make_context(app, sample)
    assert allowed_queryset_folder(ctx, "") == (sample / "queryset").resolve()
    assert allowed_queryset_folder(ctx, str(sample / "queryset")) == (sample / "queryset").resolve()
    for raw in ("/etc", str(sample / ".." / ".."), "x\x00y"):
        with pytest.raises(NotAllowedError):
            allowed_queryset_folder(ctx, raw)


def test_a_relaunch_builds_the_query_backend_before_the_first_search(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sample = tmp_path / "sample"
    write_documents(sample / "documents")
    lock = threading.Lock()
    first = SampleBootstrap(app, sample, lock)
    first.start()
    assert first.wait(60).state == "done"
    warmed = threading.Event()
    app.warm_up = lambda model=None: warmed.set()  # the relaunch's background step
    again = SampleBootstrap(app, sample, lock)
    again.start()
    assert again.status().state == "skipped"
    assert warmed.wait(30)
