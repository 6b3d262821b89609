"""Compare over the same documents (issue 25): defaults never pair unrelated collections; the offer to
index a collection's folders with a second model, with a time estimated from the measured rate."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.application.index_rates import IndexRates
from search.core.errors import NotAllowedError
from search.core.reports import IndexReport
from tests.ui_harness import FAKE_MODEL, OTHER_MODEL, make_app, write_documents
from ui.choices import compare_defaults, compare_offer


def _report(model: str, chunks: int, embed_s: float, reused: int = 0) -> IndexReport:
    return IndexReport(
        root="/x",
        collection="c",
        model=model,
        files_seen=1,
        indexed=("a",),
        unchanged=0,
        removed=(),
        skipped=(),
        unsupported=0,
        chunks_written=chunks,
        chunks_by_language={},
        timings={"embed": embed_s},
        vectors_reused=reused,
    )


def test_rates_are_kept_per_model_and_small_or_cached_runs_are_not_rates(tmp_path: Path) -> None:
    rates = IndexRates(tmp_path)
    rates.record(_report("m", 10, 1.0))  # too few passages to say anything
    assert rates.get("m") is None
    rates.record(_report("m", 1000, 10.0, reused=500))  # 500 embedded in 10 s
    rate = rates.get("m")
    assert rate is not None and rate.passages_per_s == 50.0 and rate.seconds_for(3000) == 60.0
    (tmp_path / "index_rates.json").write_text("{not json", encoding="utf-8")
    assert IndexRates(tmp_path).get("m") is None  # damaged: no rate, no error


def test_compare_defaults_pair_the_same_folder_and_never_unrelated_collections(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    try:
        mine, other = write_documents(tmp_path / "mine"), write_documents(tmp_path / "other")
        app.index_folder(mine, FAKE_MODEL)
        app.index_folder(other, OTHER_MODEL)  # another model, other documents: not a pair
        own = app.collection_for(FAKE_MODEL)
        assert [pick[0] for pick in compare_defaults(app)] == [own, own, own]
        assert compare_defaults(app)[1][1] == "hybrid"
        app.index_rates.record(_report(OTHER_MODEL, 1200, 20.0))  # 60 passages/s
        note, model = compare_offer(app, own)
        assert model == OTHER_MODEL and "indexed with fake-hash-64 only" in note
        assert "60 passages/s" in note and "about 5 s" in note  # 6 passages at 60/s, rounded up to 5 s
        reports = app.index_with_second_model(own, OTHER_MODEL)
        target = reports[0].collection
        assert target not in (own, app.collection_for(OTHER_MODEL))  # that one holds the other folder
        assert [pick[0] for pick in compare_defaults(app)][:2] == [own, target]
        note, model = compare_offer(app, own)
        assert model is None and target in note
    finally:
        app.close()


def test_from_the_browser_only_folders_it_may_index_are_indexed_again(tmp_path: Path) -> None:
    """A folder the CLI indexed outside the allowed roots may have gained files nobody chose to make
    searchable: the browser's offer refuses it in one line with the command to run instead."""
    app = make_app(tmp_path)
    try:
        mine = write_documents(tmp_path / "mine")
        app.index_folder(mine, FAKE_MODEL)
        own = app.collection_for(FAKE_MODEL)
        with pytest.raises(NotAllowedError, match="python app.py index .* --model") as refused:
            app.index_with_second_model(own, OTHER_MODEL, within=(tmp_path / "elsewhere",))
        assert "\n" not in str(refused.value)
        assert app.catalog.get(app.collection_for(OTHER_MODEL)) is None  # nothing was written
        reports = app.index_with_second_model(own, OTHER_MODEL, within=(tmp_path,))
        assert reports and reports[0].chunks_written > 0
    finally:
        app.close()
