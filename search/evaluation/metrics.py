"""Runs scored against a labeled query set: standard metrics, per-language breakdowns, significance.

Every number comes from ranx (metrics and the paired tests); this module only
chooses which queries and judgements go in (search.evaluation.report lays the results out). Inputs
are copied before ranx sees them, so no caller's query set or run is changed
(BEIR's ``evaluate`` mutates its input; this must not).

Breakdowns:

* **per query language**: the queries written in that language, all their judgements.
* **per document language** L: the queries with at least one relevant document in L,
  judged only on those documents; relevant documents in *other* languages are
  removed from the ranking, so they neither count as hits nor push L documents
  down. It answers "how well are the relevant L documents ranked among
  non-relevant ones", which is what a user searching an L collection sees.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from search.core.errors import QuerySetError
from search.core.types import UNDETERMINED, CorpusDoc, Hit, Query, QuerySet
from search.evaluation.report import Comparison, EvalReport, Latency

Run = Mapping[str, Mapping[str, float]]  # query id -> document id -> score (higher is better)
DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "map@100")
STAT_TESTS = ("student", "fisher")  # ranx: two-sided paired t-test, Fisher's randomization test
FISHER_PERMUTATIONS = 10_000
NO_RESULT = "\u0000no-result"  # stands in for an empty result list, which ranx cannot hold; never relevant


# --------------------------------------------------------------------------------------------
# Hits -> runs
# --------------------------------------------------------------------------------------------


def hit_relpath(hit: Hit) -> str:
    """Default document id of a hit: its path below the indexed root (BEIR corpus ids in this project)."""
    return hit.relpath


def fold_hits(hits: Iterable[Hit], doc_id: Callable[[Hit], str] = hit_relpath) -> dict[str, float]:
    """Chunk hits -> one score per document, its best chunk's (max), best document first.

    Query sets judge documents, an index returns chunks: a document is as good as
    its best passage, and later chunks of the same document must not take other
    documents' ranks.
    """
    best: dict[str, float] = {}
    for hit in hits:
        key = doc_id(hit)
        score = float(hit.score)
        if key not in best or score > best[key]:
            best[key] = score
    return dict(sorted(best.items(), key=lambda kv: (-kv[1], kv[0])))


def judged_queries(queryset: QuerySet) -> list[Query]:
    """Queries with at least one relevant document, in the set's order: the only ones a metric is
    defined for (BEIR query files list every split's queries; the others are skipped and counted)."""
    return [
        query
        for qid, query in queryset.queries.items()
        if any(grade > 0 for grade in (queryset.qrels.get(qid) or {}).values())
    ]


def evaluate(
    queryset: QuerySet,
    runs: Mapping[str, Run],
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    latencies_ms: Mapping[str, Sequence[float]] | None = None,
    stat_test: str = "student",
    alpha: float = 0.05,
    details: Mapping[str, Mapping[str, Any]] | None = None,
    source: Mapping[str, str] | None = None,
) -> EvalReport:
    """Score every run (pipeline name -> run) on ``queryset``; compare runs pairwise.

    Queries without a relevant document are left out (they have no defined nDCG or
    recall); documents a run returns that the corpus does not hold count as non-relevant.
    """
    if not runs:
        raise ValueError("nothing to evaluate: no runs")
    if stat_test not in STAT_TESTS:
        raise ValueError(f"unknown test {stat_test!r}; use one of {STAT_TESTS}")
    metrics = tuple(metrics)
    qrels = {
        qid: {doc: int(grade) for doc, grade in judged.items() if grade > 0}
        for qid, judged in queryset.qrels.items()
        if qid in queryset.queries
    }
    qrels = {qid: judged for qid, judged in qrels.items() if judged}
    if not qrels:
        raise QuerySetError(f"query set {queryset.name!r} has no query with a relevant document")
    clean_runs = {name: _copy_run(run, qrels) for name, run in runs.items()}

    per_query = {name: _per_query(qrels, run, metrics) for name, run in clean_runs.items()}
    overall = {name: _means(scores, qrels) for name, scores in per_query.items()}

    query_lang = {qid: queryset.queries[qid].language or UNDETERMINED for qid in qrels}
    by_query_language: dict[str, dict[str, dict[str, float]]] = {}
    query_counts: dict[str, int] = {}
    for lang in sorted(set(query_lang.values())):
        subset = [qid for qid in qrels if query_lang[qid] == lang]
        query_counts[lang] = len(subset)
        by_query_language[lang] = {name: _means(scores, subset) for name, scores in per_query.items()}

    doc_lang = {doc_id: doc.language or UNDETERMINED for doc_id, doc in queryset.corpus.items()}
    by_doc_language: dict[str, dict[str, dict[str, float]]] = {}
    doc_counts: dict[str, int] = {}
    for lang in sorted({doc_lang.get(d, UNDETERMINED) for judged in qrels.values() for d in judged}):
        sub_qrels, sub_runs = _restrict_to_language(qrels, clean_runs, doc_lang, lang)
        doc_counts[lang] = len(sub_qrels)
        by_doc_language[lang] = {
            name: _means(_per_query(sub_qrels, run, metrics), sub_qrels) for name, run in sub_runs.items()
        }

    return EvalReport(
        queryset=queryset.name,
        metrics=metrics,
        pipelines=tuple(runs),
        queries_total=len(queryset.queries),
        queries_evaluated=len(qrels),
        documents=len(queryset.corpus),
        overall=overall,
        by_query_language=by_query_language,
        query_language_counts=query_counts,
        by_doc_language=by_doc_language,
        doc_language_counts=doc_counts,
        per_query=per_query,
        comparisons=_compare(list(runs), metrics, per_query, stat_test, alpha),
        stat_test=stat_test,
        alpha=alpha,
        latency={name: Latency.of(v) for name, v in (latencies_ms or {}).items() if len(v)},
        details={name: dict(d) for name, d in (details or {}).items()},
        source=dict(source or {}),
        own_language_at_10={
            name: own_language_share(queryset, run, qrels) for name, run in clean_runs.items()
        },
    )


def own_language_share(
    queryset: QuerySet, run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]]
) -> float:
    """Mean share of each judged query's top 10 that is in the query's language (unknown languages left out)."""
    shares = []
    for qid in qrels:
        lang = queryset.queries[qid].language
        ranked = sorted((run.get(qid) or {}).items(), key=lambda kv: -kv[1])[:10]
        docs = [queryset.corpus[d].language for d, _ in ranked if d in queryset.corpus]
        if lang != UNDETERMINED and docs:
            shares.append(sum(d == lang for d in docs) / len(docs))
    return statistics.fmean(shares) if shares else float("nan")


def _copy_run(run: Run, qrels: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, float]]:
    """A fresh copy of the judged queries' rankings, ties broken by document id.

    Scores become ranks (n, n-1, ... 1): every metric here depends on the order only,
    and ranx orders tied scores by a hash that changes from process to process.
    """
    out: dict[str, dict[str, float]] = {}
    for qid in qrels:
        results = run.get(qid)
        if results:
            ranked = sorted(((float(s), str(d)) for d, s in results.items()), key=lambda sd: (-sd[0], sd[1]))
            out[qid] = {d: float(len(ranked) - i) for i, (_, d) in enumerate(ranked)}
    return out


def _per_query(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]], metrics: Sequence[str]
) -> dict[str, dict[str, float]]:
    """metric -> query id -> score, computed by ranx; a query the run does not answer scores 0.

    ranx takes plain dicts here (its Qrels/Run objects JIT-compile typed containers in
    every process, a minute on a busy 2-core machine); it pairs qrels and run by
    position, so both are built in the same query order.
    """
    from ranx import evaluate as ranx_evaluate

    qids = sorted(qrels)
    ranx_qrels = {qid: dict(qrels[qid]) for qid in qids}
    ranx_run = {qid: dict(run.get(qid) or {NO_RESULT: 0.0}) for qid in qids}
    values = ranx_evaluate(ranx_qrels, ranx_run, list(metrics), return_mean=False)
    if len(metrics) == 1:
        values = {metrics[0]: values}
    return {metric: {qid: float(v) for qid, v in zip(qids, values[metric])} for metric in metrics}


def _means(scores: Mapping[str, Mapping[str, float]], qids: Iterable[str]) -> dict[str, float]:
    ids = list(qids)
    return {
        metric: (statistics.fmean(by_q[q] for q in ids) if ids else float("nan"))
        for metric, by_q in scores.items()
    }


def _restrict_to_language(
    qrels: Mapping[str, Mapping[str, int]],
    runs: Mapping[str, Mapping[str, Mapping[str, float]]],
    doc_lang: Mapping[str, str],
    lang: str,
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, dict[str, float]]]]:
    sub_qrels = {
        qid: {d: g for d, g in judged.items() if doc_lang.get(d, UNDETERMINED) == lang}
        for qid, judged in qrels.items()
    }
    sub_qrels = {qid: judged for qid, judged in sub_qrels.items() if judged}
    sub_runs = {}
    for name, run in runs.items():
        sub_runs[name] = {
            qid: {d: s for d, s in run.get(qid, {}).items() if d in sub_qrels[qid] or d not in qrels[qid]}
            for qid in sub_qrels
        }
    return sub_qrels, sub_runs


def _compare(
    runs: Sequence[str],
    metrics: Sequence[str],
    per_query: Mapping[str, Mapping[str, Mapping[str, float]]],
    stat_test: str,
    alpha: float,
) -> tuple[Comparison, ...]:
    """Every pair of runs, in the order given (the first is everyone's baseline), with ranx's tests."""
    from ranx.statistical_tests import fisher_randomization_test, paired_student_t_test

    out: list[Comparison] = []
    for i, baseline in enumerate(runs):
        for other in runs[i + 1 :]:
            for metric in metrics:
                qids = sorted(per_query[baseline][metric])
                a = np.array([per_query[baseline][metric][q] for q in qids], dtype=np.float64)
                b = np.array([per_query[other][metric][q] for q in qids], dtype=np.float64)
                if np.array_equal(a, b):
                    p_value = 1.0  # identical per-query scores (the t-test would give NaN)
                elif stat_test == "fisher":
                    p_value = float(fisher_randomization_test(a, b, FISHER_PERMUTATIONS, alpha, 42)[0])
                else:
                    p_value = float(paired_student_t_test(a, b, alpha)[0])
                out.append(
                    Comparison(
                        baseline=baseline,
                        other=other,
                        metric=metric,
                        delta=round(float(b.mean() - a.mean()), 6),
                        p_value=p_value,
                        significant=False,  # decided on the adjusted p below
                        wins=int((b > a).sum()),
                        ties=int((b == a).sum()),
                        losses=int((b < a).sum()),
                    )
                )
    adjusted = list(out)
    for metric in metrics:  # one family per metric: every pair of pipelines compared on it
        rows = [i for i, c in enumerate(out) if c.metric == metric]
        for i, p in zip(rows, holm([out[i].p_value for i in rows])):
            adjusted[i] = replace(out[i], p_adjusted=p, significant=bool(p < alpha))
    return tuple(adjusted)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error rate), in the order given.

    The i-th smallest of m p-values is multiplied by (m - i), kept monotone and capped at 1;
    a NaN stays NaN and does not count in m. (statsmodels' ``multipletests(method="holm")``
    does the same; eight lines here instead of a dependency with pandas and patsy. ranx's other
    option, Tukey's HSD, tests unpaired groups, which throws away that both pipelines answered the
    same queries.)
    """
    finite = sorted((p, i) for i, p in enumerate(p_values) if p == p)
    out = [float("nan")] * len(p_values)
    running, m = 0.0, len(finite)
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def compile_metrics() -> None:
    """Score a three-query toy set with every default metric and both paired tests, so numba compiles
    ranx's functions into its on-disk cache (ranx compiles with ``cache=True``).

    Why: the first evaluation on an installation otherwise waits for that compilation (28 s on this
    project's two-core machine; 2.6 s in every later process). The app runs this once, niced, in a
    process of its own after its first launch's background work (search.application.metric_warmup).
    """
    corpus = {d: CorpusDoc(d, d, language="en") for d in ("d1", "d2", "d3")}
    queries = {q: Query(q, q, "en") for q in ("q1", "q2", "q3")}
    toy = QuerySet("warm-up", corpus, queries, {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 2}})
    first = {"q1": {"d1": 0.9, "d2": 0.2}, "q2": {"d1": 0.5, "d2": 0.4}, "q3": {"d3": 0.7}}
    second = {"q1": {"d2": 0.8, "d1": 0.3}, "q2": {"d2": 0.6}, "q3": {"d1": 0.4, "d3": 0.3}}
    for test in STAT_TESTS:
        evaluate(toy, {"a": first, "b": second}, DEFAULT_METRICS, stat_test=test)
