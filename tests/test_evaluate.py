"""search.evaluation.metrics: metrics whose values are known in advance, breakdowns, significance, output."""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Sequence

import pytest

from search.core.types import CorpusDoc, Hit, Query, QuerySet
from search.evaluation.metrics import DEFAULT_METRICS, evaluate, fold_hits, holm
from search.evaluation.plots import plot_language_heatmap, plot_report
from search.evaluation.report import EvalReport, format_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _queryset() -> QuerySet:
    """q1 (en) -> en-a (2); q2 (de) -> en-b (1) and de-b (2); q3 (de) -> fr-c (1)."""
    docs = {
        "en-a": "en",
        "en-b": "en",
        "de-b": "de",
        "fr-c": "fr",
        "fr-x": "fr",
    }
    return QuerySet(
        name="tiny",
        corpus={d: CorpusDoc(doc_id=d, text=d, language=lang) for d, lang in docs.items()},
        queries={
            "q1": Query("q1", "one", "en"),
            "q2": Query("q2", "two", "de"),
            "q3": Query("q3", "three", "de"),
            "q4": Query("q4", "unjudged", "en"),
        },
        qrels={"q1": {"en-a": 2}, "q2": {"en-b": 1, "de-b": 2}, "q3": {"fr-c": 1}},
    )


PERFECT = {
    "q1": {"en-a": 0.9, "fr-x": 0.1},
    "q2": {"de-b": 0.9, "en-b": 0.8},
    "q3": {"fr-c": 0.7},
}
# q1: relevant at rank 2; q2: de-b (grade 2) at rank 3 behind en-b (grade 1) at rank 1; q3: nothing.
WORSE = {
    "q1": {"fr-x": 0.9, "en-a": 0.5},
    "q2": {"en-b": 0.9, "fr-x": 0.8, "de-b": 0.7},
    "q3": {"fr-x": 0.4},
}


def _dcg(gains: Sequence[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def test_perfect_run_scores_one_everywhere() -> None:
    report = evaluate(_queryset(), {"perfect": PERFECT})
    for metric in DEFAULT_METRICS:
        expected = (1 + 0.5 + 1) / 3 if metric == "recall@1" else 1.0  # q2 has two relevant documents
        assert report.overall["perfect"][metric] == pytest.approx(expected), metric
    assert report.queries_total == 4
    assert report.queries_evaluated == 3  # q4 has no judgement and is left out


def test_known_values_of_an_imperfect_run() -> None:
    report = evaluate(_queryset(), {"worse": WORSE})
    q2_ndcg = _dcg([1, 0, 2]) / _dcg([2, 1])
    expected = {
        "ndcg@10": (1 / math.log2(3) + q2_ndcg + 0) / 3,
        "mrr@10": (0.5 + 1.0 + 0) / 3,
        "recall@1": (0 + 0.5 + 0) / 3,
        "recall@10": (1 + 1 + 0) / 3,
        "recall@100": (1 + 1 + 0) / 3,
        "map@100": (0.5 + (1 / 1 + 2 / 3) / 2 + 0) / 3,
    }
    for metric, value in expected.items():
        assert report.overall["worse"][metric] == pytest.approx(value), metric
    assert report.per_query["worse"]["mrr@10"] == pytest.approx({"q1": 0.5, "q2": 1.0, "q3": 0.0})


def _oracle(qrels: dict[str, int], ranking: list[str]) -> dict[str, float]:
    """Textbook definitions (linear-gain nDCG as trec_eval and ranx compute it), for the cross-check."""
    rel = [qrels.get(d, 0) for d in ranking]
    n_rel = sum(1 for g in qrels.values() if g > 0)
    ideal = _dcg(sorted(qrels.values(), reverse=True)[:10])
    first = next((i for i, g in enumerate(rel[:10]) if g > 0), None)
    hits, precisions = 0, []
    for i, g in enumerate(rel[:100]):
        if g > 0:
            hits += 1
            precisions.append(hits / (i + 1))
    return {
        "ndcg@10": _dcg(rel[:10]) / ideal,
        "mrr@10": 0.0 if first is None else 1 / (first + 1),
        "recall@1": sum(1 for g in rel[:1] if g > 0) / n_rel,
        "recall@10": sum(1 for g in rel[:10] if g > 0) / n_rel,
        "recall@100": sum(1 for g in rel[:100] if g > 0) / n_rel,
        "map@100": sum(precisions) / n_rel,
    }


def test_ranx_numbers_match_textbook_definitions_on_random_runs() -> None:
    """Also guards the pairing of queries: ranx pairs qrels and runs by position, not by id."""
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(40)]
    qids = [f"q{i}" for i in range(25)]
    rng.shuffle(qids)  # insertion order differs from sorted order
    corpus = {d: CorpusDoc(d, d, language="en") for d in docs}
    qrels = {q: {d: rng.choice([1, 2]) for d in rng.sample(docs, rng.randint(1, 4))} for q in qids}
    run = {q: {d: rng.random() for d in rng.sample(docs, 30)} for q in reversed(qids)}
    qs = QuerySet("random", corpus, {q: Query(q, q, "en") for q in qids}, qrels)
    report = evaluate(qs, {"r": run})
    for q in qids:
        ranking = sorted(run[q], key=lambda d: -run[q][d])
        expected = _oracle(qrels[q], ranking)
        for metric, value in expected.items():
            assert report.per_query["r"][metric][q] == pytest.approx(value), (q, metric)


def test_inputs_are_not_mutated() -> None:
    qs = _queryset()
    runs = {"a": copy.deepcopy(WORSE), "b": copy.deepcopy(PERFECT)}
    before_runs, before_qrels = copy.deepcopy(runs), copy.deepcopy(dict(qs.qrels))
    evaluate(qs, runs)
    assert runs == before_runs
    assert dict(qs.qrels) == before_qrels
    assert list(runs["a"]["q2"]) == list(before_runs["a"]["q2"])  # not even re-ordered


def test_missing_queries_and_unknown_documents_score_zero() -> None:
    report = evaluate(_queryset(), {"partial": {"q1": {"en-a": 1.0, "not-in-corpus": 0.5}}})
    assert report.per_query["partial"]["ndcg@10"] == pytest.approx({"q1": 1.0, "q2": 0.0, "q3": 0.0})


def test_breakdown_by_query_language() -> None:
    report = evaluate(_queryset(), {"worse": WORSE})
    assert report.query_language_counts == {"de": 2, "en": 1}
    assert report.by_query_language["en"]["worse"]["mrr@10"] == pytest.approx(0.5)
    assert report.by_query_language["de"]["worse"]["mrr@10"] == pytest.approx(0.5)  # (1 + 0) / 2


def test_breakdown_by_document_language_drops_other_languages_relevant_documents() -> None:
    report = evaluate(_queryset(), {"worse": WORSE})
    assert report.doc_language_counts == {"de": 1, "en": 2, "fr": 1}
    # de: only q2, judged on de-b alone; en-b (relevant, English) is removed from the ranking,
    # so de-b is second behind the non-relevant fr-x.
    de = report.by_doc_language["de"]["worse"]
    assert de["mrr@10"] == pytest.approx(0.5)
    assert de["ndcg@10"] == pytest.approx(1 / math.log2(3))
    # en: q1 (en-a at rank 2) and q2 (en-b at rank 1; de-b removed)
    assert report.by_doc_language["en"]["worse"]["mrr@10"] == pytest.approx((0.5 + 1.0) / 2)
    assert report.by_doc_language["fr"]["worse"]["recall@10"] == pytest.approx(0.0)


def test_fold_hits_keeps_each_documents_best_chunk() -> None:
    def hit(chunk: str, source: str, score: float) -> Hit:
        return Hit(
            chunk_id=chunk, score=score, text="", source=f"/r/{source}", page=None, language="en", root="/r"
        )

    hits = [
        hit("c1", "a.txt", 0.5),
        hit("c2", "b.txt", 0.9),
        hit("c3", "a.txt", 0.7),
        hit("c4", "c/d.md", 0.1),
    ]
    folded = fold_hits(hits)
    assert folded == {"b.txt": 0.9, "a.txt": 0.7, "c/d.md": 0.1}
    assert list(folded) == ["b.txt", "a.txt", "c/d.md"]
    assert fold_hits(hits, doc_id=lambda h: h.chunk_id[:1]) == {"c": 0.9}
    assert fold_hits([]) == {}


def test_paired_test_between_runs() -> None:
    report = evaluate(_queryset(), {"perfect": PERFECT, "worse": WORSE, "same": PERFECT})
    c = report.comparison("perfect", "worse", "mrr@10")
    assert c is not None
    assert c.delta == pytest.approx((0.5 + 1 + 0) / 3 - 1)
    assert (c.wins, c.ties, c.losses) == (0, 1, 2)
    assert 0.0 < c.p_value < 1.0
    same = report.comparison("perfect", "same", "ndcg@10")
    assert same is not None and same.p_value == 1.0 and not same.significant
    # every pair once, every metric
    assert len(report.comparisons) == 3 * len(DEFAULT_METRICS)


def test_significance_is_holm_adjusted_over_the_pairs_of_each_metric() -> None:
    # Holm on four p-values, by hand: sorted 0.01, 0.02, 0.03, 0.04 -> x4, x3, x2, x1, kept monotone.
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([0.01, float("nan")])[0] == pytest.approx(0.01)  # a NaN is no test
    report = evaluate(_queryset(), {"perfect": PERFECT, "worse": WORSE, "same": PERFECT})
    for metric in DEFAULT_METRICS:
        family = [c for c in report.comparisons if c.metric == metric]
        assert [c.p_adjusted for c in family] == pytest.approx(holm([c.p_value for c in family]), nan_ok=True)
        assert all(c.significant == (c.p_adjusted < report.alpha) for c in family)
    assert report.correction == "holm"
    assert "Holm-adjusted over the 3 pipeline pairs of each metric" in format_report(report)
    again = EvalReport.from_json(json.loads(json.dumps(report.to_json())))
    assert again.correction == "holm" and again.comparisons[0].p_adjusted == pytest.approx(
        report.comparisons[0].p_adjusted
    )


def test_fisher_randomization_test_is_available() -> None:
    report = evaluate(_queryset(), {"perfect": PERFECT, "worse": WORSE}, stat_test="fisher")
    c = report.comparison("perfect", "worse", "ndcg@10")
    assert c is not None and 0.0 < c.p_value <= 1.0
    with pytest.raises(ValueError, match="unknown test"):
        evaluate(_queryset(), {"a": PERFECT}, stat_test="wilcoxon")


def test_latency_json_and_text(tmp_path) -> None:
    report = evaluate(
        _queryset(),
        {"perfect": PERFECT, "worse": WORSE},
        latencies_ms={"perfect": [10.0, 20.0, 30.0, 40.0], "worse": [5.0] * 4},
        details={"perfect": {"model": "m"}},
    )
    assert report.latency["perfect"].p50_ms == pytest.approx(25.0)
    assert report.latency["perfect"].queries == 4
    data = json.loads(json.dumps(report.to_json()))
    assert data["overall"]["perfect"]["ndcg@10"] == pytest.approx(1.0)
    assert data["significance"]["test"] == "student"
    assert data["details"]["perfect"]["model"] == "m"
    again = EvalReport.from_json(data)
    for name in report.pipelines:  # JSON keeps six decimals
        assert again.overall[name] == pytest.approx(report.overall[name], abs=1e-6)
    assert again.comparisons[0].p_value == pytest.approx(report.comparisons[0].p_value)

    text = format_report(report)
    assert "nDCG@10" in text and "perfect" in text and "worse" in text
    assert "by query language" in text and "by document language" in text
    assert "paired t-test" in text

    png = plot_report(report, tmp_path / "m.png")
    assert png.read_bytes()[:8] == PNG_MAGIC
    heat = plot_language_heatmap(report, tmp_path / "h.png")
    assert heat.read_bytes()[:8] == PNG_MAGIC
    assert plot_language_heatmap(report, tmp_path / "d.png", by="document").stat().st_size > 1000


def test_nothing_to_evaluate_is_an_error() -> None:
    with pytest.raises(ValueError, match="no runs"):
        evaluate(_queryset(), {})
    empty = QuerySet("empty", {}, {"q": Query("q", "x")}, {})
    with pytest.raises(ValueError, match="no query with a relevant document"):
        evaluate(empty, {"a": {}})


def test_ties_are_broken_by_document_id() -> None:
    """Equal scores must give the same numbers in every process (ranx alone orders ties by hash)."""
    tied = {
        "q1": {"fr-x": 0.5, "en-a": 0.5},
        "q2": {"en-b": 0.5, "de-b": 0.5},
        "q3": {"fr-x": 0.5, "fr-c": 0.5},
    }
    report = evaluate(_queryset(), {"tied": tied})
    # by id: en-a before fr-x; de-b before en-b; fr-c before fr-x
    assert report.per_query["tied"]["mrr@10"] == pytest.approx({"q1": 1.0, "q2": 1.0, "q3": 1.0})
