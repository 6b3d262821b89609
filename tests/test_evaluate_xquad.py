"""benchmarks.xquad: exact retrieval and the tables (unit), and a short real run (slow, needs evaldata)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.common import reference_name, reference_scores
from benchmarks.xquad import (
    REFERENCE_FILE,
    XquadBench,
    cross_lingual_table,
    main,
    same_language_table,
    whole_paragraphs,
)
from search.application.services import Services
from search.core.settings import Settings
from search.core.types import CorpusDoc, Query, QuerySet
from search.evaluation.xquad import xquad_same_language
from search.models.registry import ModelRegistry
from search.models.specs import DEFAULT_MODEL
from search.stores.client import ClientStore
from tests.fakes import FakeEmbedder, fake_spec

EVALDATA = Path(__file__).resolve().parents[2] / "shared" / "evaldata"

CORPUS = {
    "en:p0": CorpusDoc("en:p0", "bees make honey from nectar", language="en"),
    "en:p1": CorpusDoc("en:p1", "rye bread needs sourdough", language="en"),
    "de:p0": CorpusDoc("de:p0", "bienen machen honig aus nektar", language="de"),
    "de:p1": CorpusDoc("de:p1", "roggenbrot braucht sauerteig", language="de"),
}
QUERIES = [Query("en:q0", "bees honey nectar", "en"), Query("de:q1", "roggenbrot sauerteig", "de")]
QUERYSET = QuerySet(
    "x",
    CORPUS,
    {q.qid: q for q in QUERIES},
    {"en:q0": {"en:p0": 1, "de:p0": 1}, "de:q1": {"en:p1": 1, "de:p1": 1}},
)


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[XquadBench]:
    services = Services(
        Settings(data_dir=tmp_path, cache_dir=tmp_path / "cache"),
        ClientStore(":memory:"),
        registry=ModelRegistry((fake_spec(),)),
        embedder_factory=FakeEmbedder,
    )
    with whole_paragraphs(services, fake_spec().name) as workspace:  # as benchmarks.xquad runs
        yield XquadBench(services, workspace, fake_spec().name)
    services.close()


def test_the_benchmark_runs_the_apps_evaluator_on_the_models_raw_vectors(bench: XquadBench) -> None:
    report = bench.report(QUERYSET)
    assert report.pipelines == (bench.label,) and "raw" in bench.label  # MTEB's vectors: no correction
    assert report.overall[bench.label]["mrr@10"] == 1.0  # a paragraph of the query first
    corpus = bench.workspace.indexed(QUERYSET, bench.services.space(fake_spec().name).uncorrected())
    assert bench.workspace.options.chunk_tokens == fake_spec().max_tokens  # chunks as long as the input
    assert corpus.chunks == len(CORPUS)  # one per paragraph


def test_tables_read_reports_per_language(bench: XquadBench) -> None:
    report = bench.report(QUERYSET)
    text, ours, gaps = same_language_table({"en": report}, bench.label, {"en": 50.0})
    assert "MTEB" in text and len(ours) == 1 and gaps == [pytest.approx(ours[0] - 50.0)]
    cross = {"en": report, "de": report, "pool": report}
    table, diagonal, off = cross_lingual_table(cross, bench.label, ["en", "de"])
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
