"""The embedding cache: hits never reach the model, order is kept, and keys separate models and prompts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from indexer.service import FolderIndexer
from search.application.indexing import index_with_services
from search.application.search_app import SearchApp
from search.application.services import Services
from search.core.settings import Settings
from search.models.embed_cache import CACHE_FILENAME, CachedEmbedder, EmbeddingCache, model_key, text_digest
from search.models.embedder import Embedder
from search.models.registry import ModelRegistry
from search.stores.client import ClientStore
from tests.fakes import FakeEmbedder, fake_spec

TEXTS = ["the cat sat", "ein Hund", "猫が座った", "the cat sat", "القطة"]


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[EmbeddingCache]:
    store = EmbeddingCache.in_dir(tmp_path)
    yield store
    store.close()


def test_embed_cache_is_an_embedder(cache: EmbeddingCache) -> None:
    cached = CachedEmbedder(FakeEmbedder(), cache)
    assert isinstance(cached, Embedder)
    assert cached.count_tokens(["a b c"]) == [3] and cached.document_overhead() == 3


def test_embed_cache_misses_go_in_one_batch_and_hits_skip_the_model(cache: EmbeddingCache) -> None:
    inner = FakeEmbedder()
    cached = CachedEmbedder(inner, cache)
    first = cached.encode_documents(TEXTS)
    assert inner.calls == [("document", 4)]  # one call; the repeated text embedded once
    np.testing.assert_array_equal(first, FakeEmbedder().encode_documents(TEXTS))

    again = cached.encode_documents(list(reversed(TEXTS)))
    assert inner.calls == [("document", 4)]  # all hits: the model is not called
    np.testing.assert_array_equal(again, first[::-1])  # input order kept
    assert again.dtype == np.float32

    mixed = cached.encode_documents(["new text", TEXTS[1], "other new"])
    assert inner.calls[-1] == ("document", 2)  # only the misses
    np.testing.assert_array_equal(mixed[1], first[1])
    np.testing.assert_array_equal(mixed, FakeEmbedder().encode_documents(["new text", TEXTS[1], "other new"]))
    assert cached.stats.hits == 5 + 1 and cached.stats.misses == 4 + 2


def test_embed_cache_survives_a_restart(tmp_path: Path) -> None:
    first = EmbeddingCache.in_dir(tmp_path)
    CachedEmbedder(FakeEmbedder(), first).encode_documents(TEXTS)
    first.close()
    assert (tmp_path / CACHE_FILENAME).is_file()
    reopened = EmbeddingCache.in_dir(tmp_path)
    inner = FakeEmbedder()
    CachedEmbedder(inner, reopened).encode_documents(TEXTS)
    assert inner.calls == []
    reopened.close()


def test_embed_cache_prompt_is_part_of_the_key(cache: EmbeddingCache) -> None:
    inner = FakeEmbedder()  # query prompt "query: ", document prompt "passage: "
    cached = CachedEmbedder(inner, cache)
    cached.encode_documents(["same text"])
    cached.encode_queries(["same text"])
    assert inner.calls == [("document", 1), ("query", 1)]
    cached.encode_queries(["same text"])
    assert len(inner.calls) == 2  # now cached on the query side too


def test_embed_cache_task_instruction_is_part_of_the_key(cache: EmbeddingCache) -> None:
    spec = replace(fake_spec("fake-instruct"), query_prompt="Instruct: {task}\nQuery: ", document_prompt="")
    inner = FakeEmbedder(spec)
    cached = CachedEmbedder(inner, cache)
    cached.encode_queries(["q"], task="find recipes")
    cached.encode_queries(["q"], task="find laws")
    cached.encode_queries(["q"], task="find recipes")
    assert inner.calls == [("query", 1), ("query", 1)]


def test_embed_cache_model_and_revision_are_part_of_the_key(cache: EmbeddingCache) -> None:
    a, b = FakeEmbedder(fake_spec("model-a")), FakeEmbedder(fake_spec("model-b"))
    CachedEmbedder(a, cache).encode_documents(["text"])
    CachedEmbedder(b, cache).encode_documents(["text"])
    assert a.calls == [("document", 1)] and b.calls == [("document", 1)]
    newer = FakeEmbedder(replace(fake_spec("model-a"), revision="2"))
    CachedEmbedder(newer, cache).encode_documents(["text"])
    assert newer.calls == [("document", 1)]
    spec = fake_spec("model-a")
    assert model_key(spec) != model_key(spec, max_tokens=16)  # truncation changes vectors too
    assert cache.count() == 3 and cache.count(model_key(spec)) == 1
    assert cache.forget(model_key(spec)) == 1 and cache.count() == 2


def test_embed_cache_wrong_size_entry_is_a_miss(cache: EmbeddingCache) -> None:
    inner = FakeEmbedder()
    cached = CachedEmbedder(inner, cache)
    cache.put(cached.key, "passage: ", [(text_digest("t"), np.ones(3, dtype=np.float32))])
    out = cached.encode_documents(["t"])
    assert inner.calls == [("document", 1)] and out.shape == (1, 64)


def test_embed_cache_empty_input(cache: EmbeddingCache) -> None:
    inner = FakeEmbedder()
    assert CachedEmbedder(inner, cache).encode_queries([]).shape == (0, 64)
    assert inner.calls == []


def test_embed_cache_threads_share_one_cache(cache: EmbeddingCache) -> None:
    cached = CachedEmbedder(FakeEmbedder(), cache)
    texts = [f"text number {i}" for i in range(200)]
    expected = FakeEmbedder().encode_documents(texts)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            rotated = texts[offset:] + texts[:offset]
            np.testing.assert_array_equal(
                cached.encode_documents(rotated), np.roll(expected, -offset, axis=0)
            )
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i * 37,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert cache.count() == 200


def test_embed_cache_passes_other_attributes_through(cache: EmbeddingCache) -> None:
    """The sparse encoder needs the model's tokenize(); a wrapper must not hide it."""

    class WithTokenizer(FakeEmbedder):
        def tokenize(self, texts: list[str]) -> list[list[int]]:
            return [[len(word) for word in text.split()] for text in texts]

    assert CachedEmbedder(WithTokenizer(), cache).tokenize(["ab c"]) == [[2, 1]]  # type: ignore[attr-defined]
    assert not hasattr(CachedEmbedder(FakeEmbedder(), cache), "tokenize")
    with pytest.raises(AttributeError):
        CachedEmbedder(FakeEmbedder(), cache)._missing  # type: ignore[attr-defined]  # noqa: B018


# ---- wired into the app: indexing goes through the cache, searching does not ---------------------


def _services(tmp_path: Path, embedder: FakeEmbedder, **settings: object) -> Services:
    spec = embedder.spec
    folders = {"data_dir": tmp_path / "data", "cache_dir": tmp_path / "cache"}
    return Services(
        Settings(**folders, default_model=spec.name, **settings),  # type: ignore[arg-type]
        ClientStore(":memory:"),
        registry=ModelRegistry((spec,)),
        embedder_factory=lambda _: embedder,
        indexer_factory=FolderIndexer,
    )


def _document_calls(embedder: FakeEmbedder) -> int:
    return sum(n for side, n in embedder.calls if side == "document")


def test_embed_cache_indexing_reuses_vectors_and_searching_skips_the_cache(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(6):
        (folder / f"d{i}.txt").write_text(f"Document {i} about bees and hives number {i}.", encoding="utf-8")
    embedder = FakeEmbedder()
    services = _services(tmp_path, embedder)
    try:
        first = index_with_services(services, folder, collection="one")
        assert first.chunks_written == 6 and first.vectors_reused == 0 and _document_calls(embedder) == 6
        # The same folder into a second collection: every vector comes from the cache.
        second = index_with_services(services, folder, collection="two")
        assert second.chunks_written == 6 and second.vectors_reused == 6 and _document_calls(embedder) == 6
        assert "vectors reused from the embedding cache: 6" in second.summary()
        # One file edited: only its new text reaches the model.
        (folder / "d0.txt").write_text("Document 0, rewritten: wasps instead of bees.", encoding="utf-8")
        third = index_with_services(services, folder, collection="one")
        assert third.indexed == ("d0.txt",) and _document_calls(embedder) == 7
        # Searches embed their query with the model itself, not through the cache.
        assert SearchApp(services).searcher("one").embedder is embedder
        assert (tmp_path / "cache" / CACHE_FILENAME).is_file()
    finally:
        services.close()


def test_embed_cache_serves_the_semantic_highlight_of_hits_shown_again(tmp_path: Path) -> None:
    from search.application.searching import SearchRequest

    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        text = f"Bees number {i} fly. Hives number {i} stand in the sun. Honey {i} is sweet."
        (folder / f"d{i}.txt").write_text(text, encoding="utf-8")
    embedder = FakeEmbedder()
    services = _services(tmp_path, embedder)
    try:
        index_with_services(services, folder, collection="one")
        request = SearchRequest("honey", "one", k=3, highlight="semantic")
        before = _document_calls(embedder)
        app = SearchApp(services)
        first = app.search(request)
        embedded = _document_calls(embedder) - before
        assert embedded == 9 and all(h is not None for h in first.highlights)  # 3 sentences x 3 hits
        again = app.search(request)
        assert _document_calls(embedder) - before == embedded  # read back, not embedded again
        assert again.highlights == first.highlights
    finally:
        services.close()


@pytest.mark.parametrize(
    ("revision", "enabled", "cached"), [("1", True, True), (None, True, False), ("1", False, False)]
)
def test_embed_cache_only_for_pinned_models_and_only_when_enabled(
    tmp_path: Path, revision: str | None, enabled: bool, cached: bool
) -> None:
    embedder = FakeEmbedder(replace(fake_spec(), revision=revision))
    services = _services(tmp_path, embedder, embedding_cache=enabled)
    try:
        assert isinstance(services.document_embedder(), CachedEmbedder) is cached
        assert services.document_embedder() is services.document_embedder()
    finally:
        services.close()


def test_embed_cache_of_an_older_schema_is_rebuilt(tmp_path: Path) -> None:
    import sqlite3

    old = sqlite3.connect(tmp_path / CACHE_FILENAME)
    old.execute("CREATE TABLE vectors (model TEXT, prompt TEXT, text_sha BLOB, vector BLOB)")
    old.execute("INSERT INTO vectors VALUES ('m', 'p', x'00', x'00')")
    old.execute("PRAGMA user_version=1")
    old.commit()
    old.close()
    cache = EmbeddingCache.in_dir(tmp_path)
    try:
        assert cache.count() == 0
        CachedEmbedder(FakeEmbedder(), cache).encode_documents(TEXTS)
        assert cache.count() == len(set(TEXTS))
    finally:
        cache.close()
