"""BM25 over the embedding model's subword tokenizer (a tiny random XLM-R-style model built here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.models.encoders.transformers import TransformersEmbedder
from search.text.bm25 import BM25Params, SubwordBM25Encoder
from search.text.sparse import SparseEncoder
from tests.tiny_models import load_transformers, save_tiny_encoder


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> TransformersEmbedder:
    folder = tmp_path_factory.mktemp("tiny-e5")
    save_tiny_encoder(folder)
    return load_transformers(str(folder), backend="torch")


@pytest.fixture(scope="module")
def encoder(embedder: TransformersEmbedder) -> SubwordBM25Encoder:
    return SubwordBM25Encoder.for_embedder(embedder)


def bare_ids(embedder: TransformersEmbedder, text: str) -> list[int]:
    return embedder._tokenizer.encode(text, add_special_tokens=False).ids


def test_is_a_sparse_encoder_named_after_tokenizer_and_parameters(encoder: SubwordBM25Encoder) -> None:
    assert isinstance(encoder, SparseEncoder)
    assert encoder.name == "bm25-tok:tiny-e5:k1=1.2,b=0.75,avg=200,lc"
    other = SubwordBM25Encoder(encoder._tokenizer, "tiny-e5", BM25Params(k1=0.9))
    assert other.name != encoder.name  # stored weights from other parameters must not be mixed


def test_terms_are_bare_subword_ids_without_specials_or_prompt(
    encoder: SubwordBM25Encoder, embedder: TransformersEmbedder
) -> None:
    text = "the cat read a book"
    assert encoder.terms([text]) == [bare_ids(embedder, text)]
    (query,) = encoder.encode_queries([text])
    assert set(query.indices) == set(bare_ids(embedder, text))
    assert not set(query.indices) & {0, 2}  # <s>, </s>
    assert not set(query.indices) & set(bare_ids(embedder, "query:")) - set(bare_ids(embedder, text))


def test_query_terms_are_unique_with_weight_one(encoder: SubwordBM25Encoder) -> None:
    (query,) = encoder.encode_queries(["cat cat cat dog"])
    assert list(query.indices) == sorted(set(query.indices))
    assert set(query.values) == {1.0}


def test_document_weights_follow_bm25(encoder: SubwordBM25Encoder, embedder: TransformersEmbedder) -> None:
    p = encoder.params
    once, thrice, long = encoder.encode_documents(["cat dog", "cat cat cat dog", "cat " + "tree " * 60])
    cat = bare_ids(embedder, "cat")[0]

    def weight(vector: object, term: int) -> float:
        return dict(zip(vector.indices, vector.values))[term]  # type: ignore[attr-defined]

    n = len(encoder.terms(["cat dog"])[0])
    assert weight(once, cat) == pytest.approx((p.k1 + 1) / (1 + p.k1 * (1 - p.b + p.b * n / p.avg_len)))
    assert weight(once, cat) < weight(thrice, cat) < p.k1 + 1  # saturating term frequency
    assert weight(long, cat) < weight(once, cat)  # length normalisation
    assert list(thrice.indices) == sorted(thrice.indices)


def test_case_and_scripts(encoder: SubwordBM25Encoder) -> None:
    assert encoder.encode_queries(["Cat"]) == encoder.encode_queries(["cat"])
    cased = SubwordBM25Encoder(encoder._tokenizer, "tiny-e5", BM25Params(lowercase=False))
    assert cased.encode_queries(["Cat"]) != cased.encode_queries(["cat"])
    for text in ("中 文 日 本", "на и в не", "le la les et est"):
        assert encoder.encode_queries([text])[0].indices
    assert encoder.encode_documents([""])[0].indices == ()
    assert encoder.encode_documents([]) == []


def test_objects_without_a_tokenizer_are_refused() -> None:
    from tests.fakes import FakeEmbedder

    with pytest.raises(TypeError, match="tokenize"):
        SubwordBM25Encoder.for_embedder(FakeEmbedder())  # type: ignore[arg-type]


def test_services_build_wires_sparse_and_reranker(embedder: TransformersEmbedder, tmp_path: Path) -> None:
    from search.application.services import Services
    from search.core.settings import Settings

    services = Services.build(
        Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", backend="torch")
    )
    try:
        model_dir = embedder.spec.source
        sparse = services.sparse_encoder(model_dir)
        assert isinstance(sparse, SubwordBM25Encoder)
        assert sparse.name.startswith("bm25-tok:tiny-e5:")
        assert services.sparse_encoder(model_dir) is sparse  # loaded once
        from search.core.errors import UnknownModelError

        assert isinstance(services.available_rerankers(), list)
        with pytest.raises(UnknownModelError, match="Known rerankers"):
            services.reranker("no-such-reranker")
    finally:
        services.close()
