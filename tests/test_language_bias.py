"""The language-bias correction, the cross-lingual feedback and query language identification."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from indexer.service import FolderIndexer
from search.application.search_app import SearchApp
from search.application.searching import make_request
from search.application.services import Services
from search.core.errors import ModelMismatchError
from search.core.settings import Settings
from search.models.embed_cache import model_key
from search.models.language_bias import (
    FittedMeans,
    LanguageCentering,
    centering_for,
    compute_centering,
    pseudo_paragraphs,
    reference_sentences,
)
from search.models.registry import ModelRegistry
from search.models.specs import DEFAULT_MODEL
from search.space.feedback import DEFAULT_FEEDBACK, Feedback
from search.space.vector_space import VectorSpace
from search.stores.base import ScoredPoint
from search.stores.client import ClientStore
from search.text.query_language import detect_query_language, query_language
from tests.fakes import FakeEmbedder, fake_spec

REPO = Path(__file__).resolve().parents[1]


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def toy_centering() -> LanguageCentering:
    return LanguageCentering(
        name="centering-v1:test",
        document_means={
            "de": np.array([0.5, 0.0, 0.0], np.float32),
            "zh": np.array([0.0, 0.5, 0.0], np.float32),
        },
        document_fallback=np.array([0.0, 0.0, 0.5], np.float32),
        query_mean=np.array([0.2, 0.2, 0.0], np.float32),
    )


def test_documents_lose_their_languages_mean_and_queries_half_the_global_one() -> None:
    c = toy_centering()
    docs = np.stack([unit(1, 1, 0), unit(1, 1, 0), unit(1, 1, 0)])
    out = c.documents(docs, ["de", "zh", "und"])
    expected = [
        unit(*(unit(1, 1, 0) - m))
        for m in (c.document_means["de"], c.document_means["zh"], c.document_fallback)
    ]
    np.testing.assert_allclose(out, np.stack(expected), atol=1e-6)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)
    np.testing.assert_allclose(
        c.queries(unit(1, 0, 0)[None])[0], unit(*(unit(1, 0, 0) - 0.1 * np.array([1, 1, 0]))), atol=1e-6
    )
    with pytest.raises(ValueError):
        c.documents(docs, ["de"])


def test_reference_text_is_parallel_and_the_paragraphs_are_the_same_combinations() -> None:
    texts = reference_sentences()
    assert len(texts) >= 18 and {len(v) for v in texts.values()} == {36}
    paragraphs = pseudo_paragraphs(texts)
    assert all(len(v) == 24 for v in paragraphs.values())
    first_en = paragraphs["en"][0]
    used = [i for i, sentence in enumerate(texts["en"]) if sentence in first_en]
    assert 4 <= len(used) <= 8 and all(texts["zh"][i] in paragraphs["zh"][0] for i in used)
    assert paragraphs == pseudo_paragraphs(texts)  # deterministic: the means can be recomputed exactly


def test_the_bundled_models_means_ship_with_the_package(tmp_path: Path) -> None:
    """First launch embeds no reference text for the default model: the means are in the wheel."""

    class Refuses(FakeEmbedder):
        def encode_documents(self, texts):  # type: ignore[no-untyped-def]
            raise AssertionError("computed instead of read")

    spec = ModelRegistry().get(DEFAULT_MODEL)
    found = centering_for(Refuses(spec), model_key(spec), tmp_path)
    assert found.name.startswith("centering-v1:") and len(found.languages) >= 18
    assert {"ar", "de", "en", "hi", "ja", "ko", "ru", "zh"} <= set(found.languages)


def test_other_models_compute_once_and_cache(tmp_path: Path) -> None:
    embedder = FakeEmbedder(fake_spec("fake-centered", 64, 128))
    first = centering_for(embedder, "fake-key", tmp_path)
    calls = len(embedder.calls)
    again = centering_for(embedder, "fake-key", tmp_path)
    assert len(embedder.calls) == calls, "read back from the cache"
    assert again.name == first.name and np.allclose(again.query_mean, first.query_mean)
    assert compute_centering(embedder, "other-key").name != first.name  # the model is part of the identity


def _services(tmp_path: Path, correction: bool = True) -> Services:
    spec = dataclasses.replace(fake_spec("fake-centered", 64, 128), language_centering=True)
    return Services(
        Settings(
            data_dir=tmp_path / "data",
            cache_dir=tmp_path / "cache",
            default_model=spec.name,
            language_correction=correction,
        ),
        ClientStore(":memory:"),
        registry=ModelRegistry((spec,)),
        embedder_factory=FakeEmbedder,
        indexer_factory=FolderIndexer,
    )


def _docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "bees.txt").write_text("Honeybees and the varroa mite in the winter months.", encoding="utf-8")
    (docs / "tea.txt").write_text("Green tea leaves are steamed to stop oxidation.", encoding="utf-8")
    return docs


def test_collections_record_the_correction_and_searches_apply_it(tmp_path: Path) -> None:
    app = SearchApp(_services(tmp_path))
    app.index_folder(_docs(tmp_path))
    meta = app.catalog.require("docs-fake-centered").meta
    centering = app.services.centering()
    assert centering is not None and meta.feedback == DEFAULT_FEEDBACK.name
    assert meta.correction == centering.with_fitting().name and meta.correction.startswith("centering-v2:")
    assert FittedMeans.from_json(meta.language_means).counts == {"en": 2}  # fitted to the folder's chunks
    query = "How do honeybees survive the varroa mite in the winter?"
    outcome = app.search(make_request(query, "docs-fake-centered", [], 2, "dense", None, "off"))
    assert outcome.result.corrected and outcome.result.hits[0].relpath == "bees.txt"
    assert outcome.result.query_language is not None and outcome.result.query_language.code == "en"
    app.close()


def test_a_collection_keeps_the_vectors_it_was_built_with(tmp_path: Path) -> None:
    """An index run into a collection of raw vectors (an earlier version's) stays raw: never mixed."""
    before = SearchApp(_services(tmp_path, correction=False))
    before.index_folder(_docs(tmp_path))
    assert before.catalog.require("docs-fake-centered").meta.correction is None
    before.close()
    store = ClientStore(":memory:")
    after = _services(tmp_path, correction=True)
    after.store = store
    app = SearchApp(after)
    app.index_folder(_docs(tmp_path), collection="raw")  # a new collection: corrected by default
    assert app.catalog.require("raw").meta.correction is not None
    (_docs(tmp_path) / "more.txt").write_text("Cycling lanes in Seville.", encoding="utf-8")
    app.index_folder(_docs(tmp_path), collection="raw")  # more writes keep what the collection records
    assert app.catalog.require("raw").meta.correction is not None
    app.close()


def test_a_searcher_refuses_a_correction_the_collection_was_not_written_with(tmp_path: Path) -> None:
    from search.retrieval.searcher import Searcher

    services = _services(tmp_path)
    app = SearchApp(services)
    app.index_folder(_docs(tmp_path))
    meta = app.catalog.require("docs-fake-centered").meta
    with pytest.raises(ModelMismatchError, match="language correction"):
        Searcher(
            services.store, "docs-fake-centered", VectorSpace(services.embedder(), correction=None), meta=meta
        )
    wrong = dataclasses.replace(toy_centering(), name="centering-v1:other")
    with pytest.raises(ModelMismatchError, match="language correction .* into a new collection"):
        Searcher(
            services.store,
            "docs-fake-centered",
            VectorSpace(services.embedder(), correction=wrong),
            meta=meta,
        )
    app.close()


def test_feedback_moves_the_query_toward_the_leader_and_its_translation() -> None:
    leader = unit(1, 0.1, 0)
    translation = unit(0.9, 0.15, 0.4)  # says the same, scores lower against the query
    unrelated = unit(0.2, 1, 0)
    query = unit(1, 0.7, -0.4)  # the leader first, the unrelated passage before the translation
    voters = [ScoredPoint("leader", float(query @ leader), {}, leader)]
    moved = Feedback(weight=0.4, top=5, temperature=0.01).query(query, voters)
    assert float(moved @ translation) > float(moved @ unrelated)
    assert float(query @ translation) < float(query @ unrelated)  # the query alone ranks them the other way
    assert np.isclose(np.linalg.norm(moved), 1.0)
    assert np.allclose(Feedback(weight=0.0).query(query, voters), query)
    assert Feedback.parse(DEFAULT_FEEDBACK.name) == DEFAULT_FEEDBACK
    legacy = "softmax-prf-v1:w=0.4,top=5,t=0.01,n=100"  # what collections of earlier versions record
    assert Feedback.parse(legacy).name == legacy
    with pytest.raises(ValueError):
        Feedback.parse("unknown-v9:w=1")


def test_query_language_is_read_by_fasttext_and_can_be_given() -> None:
    cases = {
        "كيف تتشكل البراكين؟": "ar",
        "如何制作酸面包的发酵种": "zh",
        "산호초 백화 현상의 원인": "ko",
        "Wie lernen Bienen den Weg zurück zum Stock?": "de",
        "pourquoi les coraux blanchissent-ils": "fr",
    }
    for text, code in cases.items():
        assert detect_query_language(text).code == code, text
    assert detect_query_language("🙂🙂🙂 123").code == "und"
    given = query_language("Varroamilbe Bienensterben", "de")
    assert given.code == "de" and given.given and "as you set it" in given.label


@pytest.mark.slow
@pytest.mark.model
def test_the_three_reported_failure_queries_find_their_topic(
    bundled_model_cache: Path, tmp_path: Path
) -> None:
    """Issue 12's queries on the whole sample corpus, bundled model: topic in the top 3.

    Chinese sourdough and Korean coral: rank 1 with the correction (4 and 2 without). The Arabic
    "how do volcanoes form?" moved from 32nd to 25th document but not into the top 3: no document
    of the corpus explains how volcanoes form, and the model places the question near the other
    "how does X form" texts in Arabic (measured: "How do volcanoes form?" in English ranks a volcano
    document first). It is kept here, expected to fail, so that a better model or stage shows up.
    """
    docs = tmp_path / "documents"
    shutil.copytree(REPO / "sample_corpora" / "documents", docs)
    settings = Settings(data_dir=tmp_path / "data", cache_dir=bundled_model_cache)
    app = SearchApp.build(settings, indexer_factory=FolderIndexer)
    try:
        app.index_folder(docs)
        ranks = {}
        for text, topic in (
            ("如何制作酸面包的发酵种", "sourdough"),
            ("산호초 백화 현상의 원인", "coral-reefs"),
            ("كيف تتشكل البراكين؟", "volcanoes"),
        ):
            request = make_request(text, app.default_collection(), [], 300, "dense", None, "off", max_k=1000)
            hits = app.search(request).result.hits
            files = list(dict.fromkeys(hit.relpath for hit in hits))
            ranks[topic] = next(i + 1 for i, path in enumerate(files) if path.startswith(topic + "/"))
        assert ranks["sourdough"] <= 3 and ranks["coral-reefs"] <= 3, ranks
        if ranks["volcanoes"] > 3:
            pytest.xfail(f"Arabic volcano query: first volcano document at rank {ranks['volcanoes']}")
    finally:
        app.close()


def test_the_correction_lets_a_translation_outrank_wrong_documents_of_the_query_language() -> None:
    """What the module's figures measure (an XQuAD pool of six languages, any translation relevant):
    each text carries its meaning plus a component shared by its language. Raw, the German query's
    own language fills its top hits with German documents on other subjects and the Chinese
    translation of the answer ranks far down; corrected (documents lose their language's mean,
    queries half the global query mean), the translation comes right after the German answer."""
    rng = np.random.default_rng(0)
    dim, n = 64, 40
    meanings = rng.normal(size=(n, dim))
    meanings /= np.linalg.norm(meanings, axis=1, keepdims=True)

    def texts(pull: np.ndarray) -> np.ndarray:
        vectors = meanings + pull + 0.15 * rng.normal(size=(n, dim)) / np.sqrt(dim)
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)

    pulls = {lang: rng.normal(size=dim) for lang in ("de", "zh")}
    pulls = {lang: 1.2 * v / np.linalg.norm(v) for lang, v in pulls.items()}
    docs = {lang: texts(pull) for lang, pull in pulls.items()}
    queries = {lang: texts(pull) for lang, pull in pulls.items()}
    centering = LanguageCentering(
        name="centering-v1:toy",
        document_means={lang: docs[lang].mean(0) for lang in docs},
        document_fallback=np.concatenate(list(docs.values())).mean(0),
        query_mean=np.concatenate(list(queries.values())).mean(0),
    )
    stored = np.concatenate([docs["de"], docs["zh"]])
    languages = ["de"] * n + ["zh"] * n

    def translation_ranks(doc_vectors: np.ndarray, query_vectors: np.ndarray) -> np.ndarray:
        scores = query_vectors @ doc_vectors.T
        translation = scores[np.arange(n), n + np.arange(n)]  # the Chinese document of the same meaning
        return (scores > translation[:, None]).sum(axis=1) + 1

    raw = translation_ranks(stored, queries["de"])
    corrected = translation_ranks(centering.documents(stored, languages), centering.queries(queries["de"]))
    assert np.median(raw) > 10  # behind German documents on other subjects
    assert corrected.max() <= 2  # only the German answer itself ranks above its translation
