"""Each chunk is tokenised once: the chunker's ids reach the model, with the same vectors and payloads.

Tiny random models (tests/tiny_models.py) stand in for the real ones: an e5-style encoder
("passage: " prompt, <s> ... </s>), a Qwen3-style decoder (EOS appended, left padding) and one
without any prompt. A prompt the ids cannot be framed with falls back to tokenising the text.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from indexer.chunking import chunk_document
from indexer.pipeline import IndexConfig, index_documents
from search.core.types import Document, Section, SparseVector
from search.models.embed_cache import CachedEmbedder, EmbeddingCache
from search.models.embedder import TokenizedDocuments
from search.models.encoders.transformers import TransformersEmbedder
from search.models.specs import ModelSpec
from search.space.vector_space import VectorSpace
from search.stores.edge import EdgeStore
from search.stores.payload import Field
from search.text.bm25 import SubwordBM25Encoder
from tests.store_search import search_sparse
from tests.tiny_models import load_transformers, save_tiny_decoder, save_tiny_encoder, write_spec

pytestmark = pytest.mark.usefixtures("no_network")

FIELDS = tuple(field.value for field in Field)
PARAGRAPHS = (
    "the cat read a book in the house. the dog is in the tree and it was lovely today.",
    "der hund und die katze. das ist ein buch. le chat et le chien est la.",
    "hello world " * 40,
    "中文 日本 one two three. на и в не. red blue green water.",
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelSpec]:
    folder = tmp_path_factory.mktemp("tiny-once")
    e5 = save_tiny_encoder(folder / "e5")
    return {
        "e5": e5,
        "decoder": save_tiny_decoder(folder / "qwen3"),
        "plain": save_tiny_encoder(folder / "plain", name="tiny-plain", query_prompt="", document_prompt=""),
        # No space after the colon: "passage:hello" is not "passage:" + "▁hello", so no framing.
        "glued": write_spec(folder / "e5", replace(e5, name="tiny-glued", document_prompt="passage:")),
    }


def document(text_paragraphs: Sequence[str] = PARAGRAPHS) -> Document:
    sections = tuple(Section(text=p, kind="text") for p in text_paragraphs)
    return Document("/docs/a.txt", "/docs", "hash-a", "txt", sections, language="en")


def test_transformers_embedder_takes_ids() -> None:
    assert issubclass(TransformersEmbedder, TokenizedDocuments)


@pytest.mark.parametrize("name", ["e5", "decoder", "plain"])
def test_chunk_ids_framed_are_what_the_model_would_tokenise(models: dict[str, ModelSpec], name: str) -> None:
    embedder = load_transformers(models[name], backend="torch")
    chunks = chunk_document(document(), embedder, 24, 4)
    assert len(chunks) > 3
    framing = embedder._document_framing()
    assert framing is not None
    expected = embedder.tokenize([embedder.spec.document_prompt + c.text for c in chunks])
    for chunk, ids in zip(chunks, expected):
        assert chunk.token_ids is not None and len(chunk.token_ids) == chunk.tokens
        assert framing.wrap(chunk.token_ids) == ids
    texts = [c.text for c in chunks]
    by_ids = embedder.encode_documents_tokenized(texts, [c.token_ids or () for c in chunks])
    np.testing.assert_allclose(by_ids, embedder.encode_documents(texts), atol=1e-6)


def test_a_prompt_glued_to_the_text_falls_back_to_tokenising(models: dict[str, ModelSpec]) -> None:
    embedder = load_transformers(models["glued"], backend="torch")
    assert embedder._document_framing() is None
    texts = ["hello world", "the cat"]
    ids = embedder.token_ids(texts)
    np.testing.assert_allclose(
        embedder.encode_documents_tokenized(texts, ids), embedder.encode_documents(texts), atol=1e-6
    )


def test_ids_are_truncated_like_text(models: dict[str, ModelSpec]) -> None:
    embedder = load_transformers(models["e5"], backend="torch")
    long = "hello world " * 200  # far over the tiny model's 64 tokens
    np.testing.assert_allclose(
        embedder.encode_documents_tokenized([long], embedder.token_ids([long])),
        embedder.encode_documents([long]),
        atol=1e-6,
    )


def test_cached_embedder_passes_ids_for_misses_only(models: dict[str, ModelSpec], tmp_path: Path) -> None:
    inner = load_transformers(models["e5"], backend="torch")
    cached = CachedEmbedder(inner, EmbeddingCache(tmp_path / "cache.sqlite3"))
    assert isinstance(cached, TokenizedDocuments)
    texts = ["hello world", "the cat", "hello world"]
    first = cached.encode_documents_tokenized(texts, inner.token_ids(texts))
    np.testing.assert_allclose(first, inner.encode_documents(texts), atol=1e-6)
    again = cached.encode_documents_tokenized(texts, inner.token_ids(texts))
    np.testing.assert_array_equal(again, first)
    assert cached.stats.misses == 2 and cached.stats.hits == 3


class _Recorder:
    """Records which path the writer took and the vectors it got, per chunk text."""

    def __init__(self, embedder: TransformersEmbedder) -> None:
        self.by_ids = 0
        self.by_text = 0
        self.vectors: dict[str, np.ndarray] = {}
        tokenized, plain = embedder.encode_documents_tokenized, embedder.encode_documents

        def with_ids(texts: Sequence[str], ids: Sequence[Sequence[int]]) -> np.ndarray:
            self.by_ids += 1
            return self._keep(texts, tokenized(texts, ids))

        def with_text(texts: Sequence[str]) -> np.ndarray:
            self.by_text += 1
            return self._keep(texts, plain(texts))

        embedder.encode_documents_tokenized = with_ids  # type: ignore[method-assign]
        embedder.encode_documents = with_text  # type: ignore[method-assign]

    def _keep(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        self.vectors.update(zip(texts, vectors))
        return vectors


def test_index_with_and_without_reuse_stores_the_same(models: dict[str, ModelSpec], tmp_path: Path) -> None:
    docs = [replace(document(), source=f"/docs/{i}.txt") for i in range(3)]
    stored = {}
    recorders = {}
    for reuse in (True, False):
        embedder = load_transformers(models["e5"], backend="torch")
        recorders[reuse] = _Recorder(embedder)
        store = EdgeStore(tmp_path / f"store-{reuse}")
        try:
            config = IndexConfig(chunk_tokens=40, overlap_tokens=4, batch_size=4, reuse_token_ids=reuse)
            report = index_documents(docs, VectorSpace(embedder), store, "c", config=config)
            assert report.chunks_written > 6
            stored[reuse] = sorted(
                (str(point_id), sorted(payload.items()))
                for point_id, payload in store.iter_payloads("c", FIELDS)
            )
        finally:
            store.close()
    assert stored[True] == stored[False]
    assert recorders[True].by_ids > 0 and recorders[True].by_text == 0
    assert recorders[False].by_ids == 0 and recorders[False].by_text > 0
    assert recorders[True].vectors.keys() == recorders[False].vectors.keys()
    for text, vector in recorders[True].vectors.items():
        np.testing.assert_allclose(vector, recorders[False].vectors[text], atol=1e-6)


class _ThreadRecordingBM25(SubwordBM25Encoder):
    """Records the thread each batch of documents was encoded on."""

    threads: list[str]

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        self.threads.append(threading.current_thread().name)
        return super().encode_documents(texts)


def test_bm25_vectors_are_made_beside_the_model_and_stored(
    models: dict[str, ModelSpec], tmp_path: Path
) -> None:
    embedder = load_transformers(models["e5"], backend="torch")
    sparse = _ThreadRecordingBM25(embedder, "tiny-e5")
    sparse.threads = []
    store = EdgeStore(tmp_path / "store")
    try:
        config = IndexConfig(chunk_tokens=40, overlap_tokens=4, batch_size=4)
        docs = [replace(document(), source=f"/docs/{i}.txt") for i in range(2)]
        report = index_documents(docs, VectorSpace(embedder, sparse=sparse), store, "c", config=config)
        assert report.chunks_written > 4
        assert sparse.threads and set(sparse.threads) == {
            "index-extract"
        }  # the producer, not the model's loop
        (hit, *_) = search_sparse(store, "c", sparse.encode_queries(["lovely cat"])[0], 3)
        assert "cat" in str(hit.payload["text"])
    finally:
        store.close()
