"""Hostile query strings against an indexed collection: a clean QueryError or results, never a crash.

Very long input, control and format characters, lone surrogates, injection-like
text for SQL, NoSQL, HTML and Qdrant filters: the Searcher cleans the text and
hands the store vectors and keyword values only, so none of it can change what
a search means. Each case runs on both stores with the FakeEmbedder, and once
through the real model's tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.pipeline import IndexConfig, index_folder
from search.core.errors import QueryError
from search.retrieval.searcher import MAX_K, MAX_QUERY_CHARS, Searcher
from search.space.vector_space import VectorSpace
from search.stores.base import SearchFilter, VectorStore
from search.stores.client import ClientStore
from search.stores.edge import EdgeStore
from tests.bad_inputs import good_paragraphs
from tests.fakes import FakeEmbedder

pytestmark = pytest.mark.usefixtures("no_network")

NAME = "docs"
HOSTILE = {
    "very long": "bees " * 200_000,
    "one huge word": "x" * 1_000_000,
    "control characters": "bees\x00\x01\x07\x08\x1b[31m honey\x7f\x9b",
    "format characters": "\u202ebees\u202c \u200bhoney\ufeff \u2066x\u2069",
    "lone surrogates": "bees \ud800 honey \udfff",
    "sql injection": "'; DROP TABLE chunks; --",
    "nosql injection": '{"$ne": 1}',
    "qdrant filter json": '{"must": [{"key": "source", "match": {"any": ["/etc/passwd"]}}]}',
    "script tag": "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "template": "{{7*7}} ${jndi:ldap://x/a} %s %n %x",
    "path traversal": "../../../../etc/passwd",
    "newlines": "bees\r\n\r\nhoney\n\n\n",
    "emoji and zwj": "🐝👩\u200d👩\u200d👧 🍯",
    "mixed scripts": "Bienen 蜜蜂 نحل пчёлы मधुमक्खी",
    "rtl marks only around text": "\u200fنحل\u200e",
}
EMPTY = ["", "   ", "\n\t\r", "\x00\x01\x02", "\u200b\u200c\u200d\ufeff", "\ud800"]


@pytest.fixture(params=["edge", "client"], scope="module")
def searcher(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Searcher]:
    folder = tmp_path_factory.mktemp("corpus")
    for language in ("en", "de", "fr"):
        (folder / f"{language}.txt").write_text("\n\n".join(good_paragraphs(language)), encoding="utf-8")
    store: VectorStore = (
        EdgeStore(tmp_path_factory.mktemp("index")) if request.param == "edge" else ClientStore(":memory:")
    )
    index_folder(
        folder,
        VectorSpace(FakeEmbedder()),
        store,
        NAME,
        config=IndexConfig(chunk_tokens=64, overlap_tokens=8),
    )
    yield Searcher(store, NAME, VectorSpace(FakeEmbedder()))
    store.close()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_queries_return_results(searcher: Searcher, case: str) -> None:
    result = searcher.search(HOSTILE[case], k=5)
    assert len(result.hits) <= 5
    assert len(result.query) <= MAX_QUERY_CHARS
    assert all(ch.isprintable() for ch in result.query), repr(result.query[:80])
    for hit in result.hits:
        assert hit.source.endswith((".txt",)) and hit.text


@pytest.mark.parametrize("query", EMPTY)
def test_empty_queries_are_a_clean_error(searcher: Searcher, query: str) -> None:
    with pytest.raises(QueryError, match="empty"):
        searcher.search(query)


@pytest.mark.parametrize("k", [0, -1, MAX_K + 1, 10**12])
def test_out_of_range_k_is_a_clean_error(searcher: Searcher, k: int) -> None:
    with pytest.raises(QueryError, match="k must be"):
        searcher.search("bees", k=k)


def test_unknown_mode_is_a_clean_error(searcher: Searcher) -> None:
    with pytest.raises(QueryError, match="not available"):
        searcher.search("bees", mode="'; DROP")  # type: ignore[arg-type]


def test_hostile_queries_in_one_batch_find_what_each_finds_alone(searcher: Searcher) -> None:
    cases = sorted(HOSTILE)
    batch = searcher.search_batch([HOSTILE[case] for case in cases], k=5)
    for case, result in zip(cases, batch):
        alone = searcher.search(HOSTILE[case], k=5)
        assert result.query == alone.query
        assert [h.chunk_id for h in result.hits] == [h.chunk_id for h in alone.hits], case
    assert searcher.search_batch([], k=5) == []


def test_a_batch_names_its_empty_query_and_refuses_mismatched_vectors(searcher: Searcher) -> None:
    with pytest.raises(QueryError, match=r"Query 2 of 3: The query is empty"):
        searcher.search_batch(["bees", EMPTY[3], "honey"])
    with pytest.raises(QueryError, match="k must be"):
        searcher.search_batch(["bees"], k=0)
    with pytest.raises(ValueError, match="1 query vectors for 2 queries"):
        searcher.search_batch(["bees", "honey"], vectors=FakeEmbedder().encode_queries(["bees"]))


@pytest.mark.parametrize("case", ["sql injection", "nosql injection", "qdrant filter json", "path traversal"])
def test_hostile_filter_values_match_nothing(searcher: Searcher, case: str) -> None:
    """Filter values are compared as keywords; they never become part of a filter's structure."""
    value = HOSTILE[case]
    for flt in (
        SearchFilter(languages=(value,)),
        SearchFilter(sources=(value,)),
        SearchFilter(roots=(value,)),
    ):
        assert searcher.search("bees", k=5, flt=flt).hits == ()
    assert searcher.search("bees", k=5, flt=SearchFilter(languages=("en", value))).hits


@pytest.mark.model
def test_hostile_queries_through_the_real_tokenizer(bundled_model_cache: Path, tmp_path: Path) -> None:
    from search.models.loading import load_embedder

    embedder = load_embedder("multilingual-e5-small", cache_dir=bundled_model_cache)
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "de.txt").write_text("\n\n".join(good_paragraphs("de")), encoding="utf-8")
    with EdgeStore(tmp_path / "index") as store:
        index_folder(folder, VectorSpace(embedder), store, NAME)
        searcher = Searcher(store, NAME, VectorSpace(embedder))
        for case, query in HOSTILE.items():
            result = searcher.search(query, k=3)
            assert result.hits, case
        for query in EMPTY:
            with pytest.raises(QueryError):
                searcher.search(query)
