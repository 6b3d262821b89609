"""The performance benchmarks run end to end at tiny sizes, with the fake embedder where they can.

They are measured for real on a quiet machine; here they must only keep working
(and print their tables) as the code under them changes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from benchmarks import (
    eval_speed,
    gen_corpus,
    index_throughput,
    language_bias,
    memory,
    query_latency,
    store_latency,
)
from benchmarks.cue_calibration import same_sentence_qrels
from benchmarks.language_bias import POOLS, tatoeba_alone, tatoeba_pool, true_language
from indexer.extract.loaders import LoaderConfig, discover, load_document
from search.stores.edge import EdgeStore
from tests.fakes import FakeEmbedder, fake_spec

pytestmark = pytest.mark.usefixtures("no_network")

SOURCE = {
    "de": gen_corpus.LanguageText(
        paragraphs=(
            "Die Honigbiene sammelt Nektar und Pollen von vielen verschiedenen Blüten im Garten.",
            "Im Winter bilden die Bienen eine Traube und wärmen sich gegenseitig durch Muskelzittern.",
            "Die Varroamilbe ist heute der gefährlichste Schädling für die Bienenvölker in Europa.",
        ),
        headings=("Bienen im Jahreslauf", "Krankheiten"),
    ),
    "en": gen_corpus.LanguageText(
        paragraphs=(
            "Volcanic ash can travel thousands of kilometres and disrupt air traffic for many days.",
            "The eruption of Krakatoa in 1883 was heard almost five thousand kilometres away.",
            "Lava flows move slowly, but pyroclastic flows are fast and extremely dangerous.",
        ),
        headings=("Eruptions", "Hazards"),
    ),
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    corpus = gen_corpus.generate(tmp_path / "corpus", 10, seed=1, source=SOURCE)
    assert corpus.files == 10 and set(corpus.by_language) == {"de", "en"}
    return corpus.root


def test_generated_folder_has_every_format_and_is_reproducible(tmp_path: Path) -> None:
    formats = dict.fromkeys(gen_corpus.FORMAT_MIX, 1.0)
    first = gen_corpus.generate(tmp_path / "a", 10, seed=7, source=SOURCE, formats=formats)
    second = gen_corpus.generate(tmp_path / "b", 10, seed=7, source=SOURCE, formats=formats)
    assert set(first.by_format) == set(gen_corpus.FORMAT_MIX)
    assert first.by_format == second.by_format
    for path in sorted((tmp_path / "a").rglob("*.md")):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()
    config = LoaderConfig()
    found = discover(tmp_path / "a", config)
    assert len(found.files) == 10 and not found.skipped
    for entry in found.files:  # every file loads, in the language it was written in
        doc = load_document(Path(entry.path), tmp_path / "a", config)
        assert doc.language == Path(entry.path).name.split("-")[0], entry.path
        assert doc.sections[0].kind == "title"


def test_index_throughput_compares_the_pipeline_with_raw_encoding(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    embedder = FakeEmbedder(fake_spec(max_tokens=64))
    runs = index_throughput.main(["--folder", str(folder), "--batch-size", "4"], embedder=embedder)
    (run,) = runs
    assert run.report.chunks_written == run.chunks > 10
    assert run.ratio > 0 and 0 <= run.overhead <= 1
    assert ("document", run.chunks) in embedder.calls  # the baseline: all stored texts in one call
    out = capsys.readouterr().out
    for expected in ("extract", "chunk", "embed", "write", "raw encode (baseline)", "pipeline / raw encode"):
        assert expected in out


def test_store_latency_reports_both_backends_with_recall(capsys: pytest.CaptureFixture[str]) -> None:
    store_latency.main(["--sizes", "300", "--queries", "5", "--client-queries", "3"])
    out = capsys.readouterr().out
    assert "client/edge p50" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("edge ", "client "))]
    assert len(rows) == 4
    assert all(float(row[5]) == 1.0 for row in rows)  # 300 points: searched exactly by both


def test_query_latency_runs_the_searcher_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    embedder = FakeEmbedder(fake_spec(dimension=store_latency.DIM))
    rows = query_latency.main(
        ["--sizes", "300", "--queries", "5", "--store-queries", "5", "--client-queries", "3"],
        embedder=embedder,
    )
    assert {(r.backend, r.filtered) for r in rows} == {
        ("edge", False),
        ("edge", True),
        ("client", False),
        ("client", True),
    }
    assert all(r.store_recall == 1.0 and r.e2e_p50 > 0 for r in rows)
    assert sum(1 for side, _ in embedder.calls if side == "query") >= 4 * 5
    assert "e2e/embed p50" in capsys.readouterr().out


def test_eval_speed_compares_evaluation_with_raw_encoding(capsys: pytest.CaptureFixture[str]) -> None:
    rows = eval_speed.main(
        ["--synthetic", "--queries", "40", "--docs", "40", "--repeats", "1"], embedder=FakeEmbedder()
    )
    assert [r.step.split(" (")[0].split(":")[0] for r in rows] == [
        "raw batched encode",
        "scoring library start-up",
        "load",
        "before",
        "after, cold cache",
        "after, warm cache",
    ]
    out = capsys.readouterr().out
    assert "eval wall / raw batched encode of the same texts" in out
    assert "largest per-query metric difference, before vs after: 0" in out
    assert "same numbers cold and warm: True" in out


def test_synthetic_languages_and_exact_search_agree() -> None:
    points = store_latency.synthetic_points(2000, seed=3)
    share = float(np.mean(points.languages == store_latency.FILTER_LANGUAGE))
    assert abs(share - store_latency.LANGUAGE_SHARES[store_latency.FILTER_LANGUAGE]) < 0.03
    query = points.vectors[:1]
    assert store_latency.point_id(0) in store_latency.exact_top(points, query, None)[0]
    keep = points.keep(store_latency.FILTER)
    assert keep is not None
    filtered = store_latency.exact_top(points, query, store_latency.FILTER)[0]
    allowed = {store_latency.point_id(int(i)) for i in np.flatnonzero(keep)}
    assert filtered <= allowed


def test_memory_prepares_a_collection_the_app_can_open(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        name = memory.prepare(tmp_path, 500)
    with EdgeStore(tmp_path / "qdrant") as store:
        assert store.count(name) == 500
    result = memory.run_child("store", tmp_path, tmp_path / "cache", 5, name)
    assert result["peak_mb"] > 10 and result["rss_mb"] > 10


@pytest.mark.slow
@pytest.mark.model
def test_memory_benchmark_with_the_real_model(capsys: pytest.CaptureFixture[str]) -> None:
    rows = memory.main(["--chunks", "2000", "--searches", "10"])
    assert [row[0] for row in rows] == [label for label, _ in memory.MODES]
    assert "peak RSS MB" in capsys.readouterr().out


def _fake_tatoeba(root: Path, split: str) -> Path:
    """A tiny Tatoeba folder with every pair file the pools read: line i of each side is a pair."""
    folder = root / "tatoeba"
    folder.mkdir(parents=True)
    for code in {code for pools in POOLS.values() for codes in pools for code in codes}:
        lines = [f"{code} sentence {i}" for i in range(20)]
        # line 10 opens the test half: the same English sentence in every pair file
        english = ["I don't know." if i == 10 else f"english {code} {i}" for i in range(20)]
        (folder / f"tatoeba.{code}-eng.{code}").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (folder / f"tatoeba.{code}-eng.eng").write_text("\n".join(english) + "\n", encoding="utf-8")
    return root


def test_tatoeba_pool_cut_by_document_language_keeps_each_language_whole(tmp_path: Path) -> None:
    """tatoeba-alone: one set per true document language, its queries and exactly their documents."""
    evaldata = _fake_tatoeba(tmp_path, "test")
    pool = tatoeba_pool(evaldata, "test", size=4)
    sets = tatoeba_alone(evaldata, "test", size=4)
    assert sum(len(s.queries) for s in sets) == len(pool.queries)
    for queryset in sets:
        languages = {true_language(qid) for qid in queryset.queries}
        assert len(languages) == 1 and queryset.name.endswith(languages.pop())
        assert set(queryset.corpus) == {doc for qid in queryset.queries for doc in queryset.qrels[qid]}


def test_same_sentence_judgments_count_every_translation_of_the_english_sentence(tmp_path: Path) -> None:
    pool = tatoeba_pool(_fake_tatoeba(tmp_path, "test"), "test", size=4)
    qrels = same_sentence_qrels(pool)
    # "I don't know." is the first pair of every file's test half: its documents in every language (and the English
    # documents queried from es/ko/tr/ur) are one sentence, so each such query has them all relevant.
    first = {doc for qid, docs in pool.qrels.items() if qid.endswith(":0") for doc in docs}
    assert qrels["eng>heb:0"] == dict.fromkeys(first, 1)
    assert qrels["spa:0"] == dict.fromkeys(first, 1)
    assert qrels["eng>heb:1"] == pool.qrels["eng>heb:1"]  # a sentence no other pair has: unchanged


def test_extra_reference_means_come_from_the_other_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The would-more-reference-text-help experiment never builds a mean from a sentence the run searches."""
    monkeypatch.setenv("MLSEARCH_EVALDATA", str(_fake_tatoeba(tmp_path, "test")))
    seen: list[str] = []

    class Recording(FakeEmbedder):
        def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
            seen.extend(texts)
            return super().encode_documents(texts)

    means = language_bias.extra_reference_means(Recording(fake_spec("m")), "test")
    assert {"he", "sw", "cs", "fi"} <= set(means) and all(
        v.shape == (fake_spec("m").dimension,) for v in means.values()
    )
    test_half = [f"sentence {i}" for i in range(10, 20)]
    assert seen and not any(f"{line} " in f"{t} " for t in seen for line in test_half)
