"""benchmarks.xquad: exact retrieval and the tables (unit), and a short real run (slow, needs evaldata)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.common import reference_name, reference_scores
from benchmarks.xquad import (
    REFERENCE_FILE,
    ExactDenseRetriever,
    VectorCache,
    cross_lingual_table,
    main,
    same_language_table,
)
from search.core.types import CorpusDoc, Query, QuerySet
from search.evaluation.metrics import evaluate
from search.evaluation.xquad import xquad_same_language
from search.models.specs import DEFAULT_MODEL
from tests.fakes import FakeEmbedder

EVALDATA = Path(__file__).resolve().parents[2] / "shared" / "evaldata"

CORPUS = {
    "en:p0": CorpusDoc("en:p0", "bees make honey from nectar", language="en"),
    "en:p1": CorpusDoc("en:p1", "rye bread needs sourdough", language="en"),
    "de:p0": CorpusDoc("de:p0", "bienen machen honig aus nektar", language="de"),
    "de:p1": CorpusDoc("de:p1", "roggenbrot braucht sauerteig", language="de"),
}
QUERIES = [Query("en:q0", "bees honey nectar", "en"), Query("de:q1", "roggenbrot sauerteig", "de")]


def test_exact_retriever_ranks_by_cosine_and_embeds_each_text_once() -> None:
    embedder = FakeEmbedder()
    cache = VectorCache(embedder)
    retriever = ExactDenseRetriever(cache, CORPUS)
    run = retriever.retrieve(QUERIES, k=3)
    assert next(iter(run["en:q0"])) == "en:p0"
    assert next(iter(run["de:q1"])) == "de:p1"
    assert all(len(docs) == 3 for docs in run.values())
    scores = list(run["en:q0"].values())
    assert scores == sorted(scores, reverse=True)
    ExactDenseRetriever(cache, CORPUS).retrieve(QUERIES, k=10)  # same texts again: nothing re-embedded
    assert sum(n for _, n in embedder.calls) == len(CORPUS) + len(QUERIES)
    assert retriever.retrieve([], k=5) == {}


def test_tables_read_reports_per_language() -> None:
    qs = QuerySet(
        "x",
        CORPUS,
        {q.qid: q for q in QUERIES},
        {"en:q0": {"en:p0": 1, "de:p0": 1}, "de:q1": {"en:p1": 1, "de:p1": 1}},
    )
    run = ExactDenseRetriever(VectorCache(FakeEmbedder()), CORPUS).retrieve(QUERIES, k=4)
    report = evaluate(qs, {"fake": run})
    text, ours, gaps = same_language_table({"en": report}, "fake", {"en": 50.0})
    assert "MTEB" in text and len(ours) == 1 and gaps == [pytest.approx(ours[0] - 50.0)]
    cross = {"en": report, "de": report, "pool": report}
    table, diagonal, off = cross_lingual_table(cross, "fake", ["en", "de"])
    assert "pool" in table and diagonal > 0 and off > 0


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.skipif(not (EVALDATA / "xquad").is_dir(), reason=f"XQuAD not found at {EVALDATA / 'xquad'}")
def test_short_real_run_prints_both_tables(capsys: pytest.CaptureFixture[str]) -> None:
    """Our figure beside MTEB's: the hi row holds our nDCG@10 on the questions of the first six
    paragraphs, the published figure as the reference file has it, and the difference of the two."""
    main(["--langs", "en,hi", "--limit", "6"])
    out = capsys.readouterr().out
    published = reference_scores(REFERENCE_FILE)[reference_name(DEFAULT_MODEL)]["hi"]
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["hi"])
    queries, ours, _mrr, mteb, gap = (float(cell) for cell in row[1:6])
    assert queries == len(xquad_same_language(EVALDATA, "hi", 6).queries)
    assert mteb == pytest.approx(published, abs=0.005)
    assert gap == pytest.approx(ours - published, abs=0.011)  # two decimals each
    assert ours >= 80  # six paragraphs: nearly every question finds its own
    assert "NOT comparable to MTEB" in out
    assert "query \\ docs" in out and "cross-lingual retention" in out
