"""Language means fitted to the collection: reference start, shrinkage toward the folder's own,
re-correction of stored vectors without embedding, and nothing moves when nothing changed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.recenter import recenter
from indexer.service import FolderIndexer
from search.application.search_app import SearchApp
from search.application.searching import make_request
from search.application.services import Services
from search.core.settings import Settings
from search.models.language_bias import (
    PRIOR,
    REFIT_TOLERANCE,
    FittedMeans,
    LanguageCentering,
    _normalise,
    raw_vectors,
)
from search.models.registry import ModelRegistry
from search.stores.client import ClientStore
from search.stores.edge import EdgeStore
from tests.fakes import FakeEmbedder, fake_spec

COLLECTION = "docs-fake-centered"
GERMAN = [
    "Die Honigbienen überwintern als Traube im Stock und wärmen die Königin mit ihren Flugmuskeln.",
    "Im Frühjahr sammeln die Bienen Pollen von Weiden und Obstbäumen für die junge Brut.",
    "Die Varroamilbe schwächt ganze Völker, wenn die Imker sie im Sommer nicht behandeln.",
    "Wildbienen nisten oft im Boden oder in hohlen Pflanzenstängeln am Rand der Wiesen.",
    "Ein starkes Volk braucht im Winter etwa fünfzehn Kilogramm Futter aus Honig oder Zucker.",
    "Die Sammlerinnen tanzen auf der Wabe, um den anderen den Weg zur Futterquelle zu zeigen.",
]
ENGLISH = [
    "Green tea leaves are steamed or pan fired soon after picking to stop oxidation.",
    "The kettle should cool a little before the water meets the delicate leaves.",
    "Matcha is ground from shaded leaves and whisked into the water rather than steeped.",
]


def _services(tmp_path: Path, store: object | None = None) -> Services:
    spec = dataclasses.replace(fake_spec("fake-centered", 64, 128), language_centering=True)
    return Services(
        Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", default_model=spec.name),
        store or ClientStore(":memory:"),  # type: ignore[arg-type]
        registry=ModelRegistry((spec,)),
        embedder_factory=FakeEmbedder,
        indexer_factory=FolderIndexer,
    )


def _folder(tmp_path: Path, german: int = 3, english: int = 2) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    for i in range(german):
        (docs / f"de{i}.txt").write_text(GERMAN[i], encoding="utf-8")
    for i in range(english):
        (docs / f"en{i}.txt").write_text(ENGLISH[i], encoding="utf-8")
    return docs


def _state(app: SearchApp) -> tuple[LanguageCentering, FittedMeans]:
    meta = app.services.store.get_meta(COLLECTION)
    assert meta is not None
    correction = app.services.space_of(meta).correction
    assert correction is not None and correction.fitted
    return correction, FittedMeans.from_json(meta.language_means)


def _assert_consistent(app: SearchApp) -> None:
    """Every stored vector is the model's vector minus its language's current mean, re-normalised."""
    correction, means = _state(app)
    embedder = FakeEmbedder(app.services.spec())
    for _, payload, vector in app.services.store.iter_vectors(COLLECTION, ["text", "language", "mean"]):
        language = payload["language"]
        assert payload["mean"] == correction.current_id(language, means)
        raw = embedder.encode_documents([payload["text"]])
        expected = _normalise(raw - correction.mean_of(payload["mean"], means))[0]
        np.testing.assert_allclose(vector, expected, atol=2e-6)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 0.95))
def test_raw_vectors_are_recovered_from_corrected_ones(seed: int, size: float) -> None:
    rng = np.random.default_rng(seed)
    raw = _normalise(rng.standard_normal((4, 32)))
    means = _normalise(rng.standard_normal((4, 32)) + 2.0) * size
    stored = _normalise(raw - means)
    np.testing.assert_allclose(raw_vectors(stored, means), raw, atol=1e-5)


def test_refit_shrinks_toward_the_collections_own_mean_by_count() -> None:
    prior = np.array([1.0, 0.0, 0.0], np.float32)
    centering = LanguageCentering(
        name="centering-v2:t",
        document_means={"de": prior},
        document_fallback=np.array([0.0, 1.0, 0.0], np.float32),
        query_mean=np.zeros(3, np.float32),
        fitted=True,
        shrinkage=10.0,
    )
    own = np.array([0.0, 0.0, 1.0])
    refit = centering.refit(FittedMeans(), {"de": 30 * own, "sw": 10 * own}, {"de": 30, "sw": 10})
    de = centering.mean_of(refit.means.current["de"], refit.means)
    np.testing.assert_allclose(de, (30 * own + 10 * prior) / 40, atol=1e-6)
    sw = centering.mean_of(refit.means.current["sw"], refit.means)  # no reference: starts at the fallback
    np.testing.assert_allclose(sw, (10 * own + 10 * centering.document_fallback) / 20, atol=1e-6)
    assert refit.moved == {"de", "sw"} and refit.means.counts == {"de": 30, "sw": 10}
    again = centering.refit(refit.means, {"de": 30 * own, "sw": 10 * own}, {"de": 30, "sw": 10})
    assert not again.moved and again.means.current == refit.means.current
    nudged = centering.refit(refit.means, {"de": 30 * own + 0.001, "sw": 10 * own}, {"de": 30, "sw": 10})
    assert not nudged.moved, f"a move below REFIT_TOLERANCE ({REFIT_TOLERANCE}) rewrites nothing"
    gone = centering.refit(refit.means, {"de": 30 * own}, {"de": 30})
    assert set(gone.means.current) == {"de"}


def test_a_new_collection_starts_at_the_reference_and_fits_its_chunks(tmp_path: Path) -> None:
    app = SearchApp(_services(tmp_path))
    app.index_folder(_folder(tmp_path))
    correction, means = _state(app)
    assert means.counts == {"de": 3, "en": 2}
    for language in ("de", "en"):
        assert not means.current[language].startswith(PRIOR), "the folder's chunks moved the mean"
    _assert_consistent(app)
    embedder = FakeEmbedder(app.services.spec())
    german = embedder.encode_documents(GERMAN[:3]).astype(np.float64)
    expected = (german.sum(0) + correction.shrinkage * correction.prior("de")) / (3 + correction.shrinkage)
    np.testing.assert_allclose(correction.mean_of(means.current["de"], means), expected, atol=1e-5)
    app.close()


def test_an_unchanged_folder_indexed_again_changes_no_score(tmp_path: Path) -> None:
    app = SearchApp(_services(tmp_path, EdgeStore(tmp_path / "index")))
    folder = _folder(tmp_path)
    app.index_folder(folder)
    queries = ["Wie überwintern Bienen?", "how to brew green tea", "Varroa"]

    def scores() -> list[list[tuple[str, float]]]:
        outcomes = [app.search(make_request(q, COLLECTION, [], 5, "dense", None, "off")) for q in queries]
        return [[(hit.chunk_id, hit.score) for hit in o.result.hits] for o in outcomes]

    before = scores()
    vectors = {i: v for i, _, v in app.services.store.iter_vectors(COLLECTION, [])}
    meta = app.services.store.get_meta(COLLECTION)
    report = app.index_folder(folder)
    assert report.unchanged == 5 and report.chunks_written == 0 and "recenter" not in report.timings
    assert scores() == before
    assert app.services.store.get_meta(COLLECTION) == meta
    after = {i: v for i, _, v in app.services.store.iter_vectors(COLLECTION, [])}
    assert after.keys() == vectors.keys() and all(np.array_equal(after[i], vectors[i]) for i in vectors)
    # Even a refit forced on the unchanged collection finds the same means and rewrites nothing.
    correction, _ = _state(app)
    assert recenter(app.services.store, COLLECTION, correction).rewritten == 0
    assert scores() == before
    app.close()


def test_a_growing_folder_moves_its_means_and_recorrects_the_old_chunks(tmp_path: Path) -> None:
    app = SearchApp(_services(tmp_path))
    app.index_folder(_folder(tmp_path, german=1, english=1))
    _, first = _state(app)
    report = app.index_folder(_folder(tmp_path, german=6, english=1))
    _, second = _state(app)
    assert second.counts == {"de": 6, "en": 1}
    assert second.current["de"] != first.current["de"] and second.current["en"] == first.current["en"]
    assert "recenter" in report.timings
    _assert_consistent(app)  # the first German chunk was re-corrected with the new mean, not re-embedded
    assert set(second.vectors) == set(second.current.values()), "means no chunk carries are dropped"
    app.close()


def test_a_refit_stopped_halfway_is_finished_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = SearchApp(_services(tmp_path))
    app.index_folder(_folder(tmp_path, german=1, english=1))
    store = app.services.store
    original = store.update_vectors
    calls: list[list[str]] = []

    def dies_after_one(name: str, ids: list[str], vectors: np.ndarray, payload: dict[str, str]) -> None:
        if calls:
            raise KeyboardInterrupt
        calls.append(ids)
        original(name, ids[:1], vectors[:1], payload)  # only part of the batch lands

    monkeypatch.setattr(store, "update_vectors", dies_after_one)
    folder = _folder(tmp_path, german=6, english=3)
    from search.core.reports import IndexInterrupted

    with pytest.raises(IndexInterrupted):
        app.index_folder(folder)
    monkeypatch.setattr(store, "update_vectors", original)
    _, halfway = _state(app)
    assert set(halfway.vectors) - set(halfway.current.values()), "old means kept while chunks carry them"
    app.index_folder(folder)  # nothing new to embed: the refit is finished
    _assert_consistent(app)
    app.close()
