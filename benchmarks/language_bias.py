"""The pull toward the query's own language, measured through the app: without and with the correction.

Why: the app exists for a folder of many languages searched in one. This runs the
app's own evaluation path (index the corpus with ``index_documents`` into a scratch
store, search every query with the ``Searcher``, score with ranx) twice in one
run, with ``Settings.language_correction`` off (the baseline: raw model vectors)
and on (per-language means removed + cross-lingual feedback,
search.models.language_bias and search.retrieval.feedback), on:

* XQuAD pool: the paragraphs of 6 (and 12) languages searched at once, any
  translation of the question's paragraph relevant; nDCG@10, hit@1 (any translation
  at rank 1: the issue's "Recall@1, any translation") and the share of each query's
  top 10 in its own language;
* XQuAD-R (LAReQA protocol): one pool of answer sentences in 11 languages, 11
  relevant per question; mAP@20;
* XQuAD same-language (MTEB protocol) and Tatoeba (queries in xxx, English
  sentences as documents, the app's prompts): what must not get worse;
* the sample query set (sample_corpora/queryset), chunked as the app chunks it.

Vectors go through the embedding cache, so the second setting re-embeds nothing.

    python -m benchmarks.language_bias                    # everything (~1 h on two cores)
    python -m benchmarks.language_bias --quick            # 40 paragraphs per XQuAD language, 200 Tatoeba pairs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import REPO, evaldata_dir, format_table
from search.application.evaluating import EvalWorkspace, PipelineSpec, evaluate_pipelines
from search.application.services import Services
from search.core.settings import Settings
from search.core.types import CorpusDoc, Query, QuerySet
from search.evaluation.querysets import load_queryset
from search.evaluation.report import EvalReport
from search.evaluation.xquad import XQUAD_LANGUAGES, xquad_cross_lingual, xquad_r, xquad_same_language

POOL6 = ("ar", "de", "en", "hi", "ru", "zh")
XQUAD_R_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
TATOEBA = {
    "deu": "de",
    "fra": "fr",
    "cmn": "zh",
    "ara": "ar",
    "hin": "hi",
    "rus": "ru",
    "jpn": "ja",
    "kor": "ko",
    "tur": "tr",
    "vie": "vi",
}
METRICS = ("ndcg@10", "hit_rate@1", "recall@1", "map@20")


def tatoeba_queryset(evaldata: Path, code: str, lang: str, limit: int | None) -> QuerySet:
    """Sentences in ``lang`` -> the 1000 English sentences, each query's translation relevant."""
    folder = evaldata / "tatoeba"
    src = (folder / f"tatoeba.{code}-eng.{code}").read_text(encoding="utf-8").splitlines()[:limit]
    eng = (folder / f"tatoeba.{code}-eng.eng").read_text(encoding="utf-8").splitlines()[:limit]
    corpus = {f"en:{i}": CorpusDoc(f"en:{i}", text, language="en") for i, text in enumerate(eng)}
    queries = {f"{lang}:{i}": Query(f"{lang}:{i}", text, lang) for i, text in enumerate(src) if text.strip()}
    qrels = {qid: {f"en:{qid.split(':')[1]}": 1} for qid in queries}
    return QuerySet(f"tatoeba-{code}", corpus, queries, qrels)


def run_setting(
    queryset: QuerySet, model: str, cache_dir: Path, data_dir: Path, corrected: bool
) -> tuple[EvalReport, float]:
    settings = Settings(
        data_dir=data_dir, cache_dir=cache_dir, language_correction=corrected, default_model=model
    )
    services = Services.build(settings)
    t0 = time.perf_counter()
    try:
        with EvalWorkspace() as workspace:
            report = evaluate_pipelines(
                services, queryset, [PipelineSpec(model)], workspace=workspace, metrics=METRICS
            )
    finally:
        services.close()
    return report, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument(
        "--cache-dir", type=Path, help="model + embedding cache (default: a temporary folder)"
    )
    parser.add_argument("--quick", action="store_true", help="subsets: a smoke run, not the figures")
    parser.add_argument("--tasks", default="pool6,pool12,xquad-r,same,tatoeba,sample")
    args = parser.parse_args()
    evaldata = evaldata_dir()
    limit = 40 if args.quick else None
    tasks: dict[str, Callable[[], list[QuerySet]]] = {
        "pool6": lambda: [xquad_cross_lingual(evaldata, POOL6, POOL6, limit=limit)],
        "pool12": lambda: [xquad_cross_lingual(evaldata, XQUAD_LANGUAGES, XQUAD_LANGUAGES, limit=limit)],
        "xquad-r": lambda: [xquad_r(evaldata, XQUAD_R_LANGUAGES, XQUAD_R_LANGUAGES, limit=limit)],
        "same": lambda: [xquad_same_language(evaldata, lang, limit=limit) for lang in XQUAD_LANGUAGES],
        "tatoeba": lambda: [
            tatoeba_queryset(evaldata, code, lang, 200 if args.quick else None)
            for code, lang in TATOEBA.items()
        ],
        "sample": lambda: [load_queryset(REPO / "sample_corpora" / "queryset")],
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="language-bias-") as tmp:
        cache = args.cache_dir or Path(tmp) / "cache"
        for task in args.tasks.split(","):
            sets = tasks[task]()
            cells: dict[bool, list[EvalReport]] = {False: [], True: []}
            seconds = {False: 0.0, True: 0.0}
            for qs in sets:
                for corrected in (False, True):
                    report, secs = run_setting(qs, args.model, cache, Path(tmp) / "data", corrected)
                    cells[corrected].append(report)
                    seconds[corrected] += secs
                print(f"  {task}: {qs.name} done", file=sys.stderr, flush=True)
            for corrected in (False, True):
                reports = cells[corrected]

                def mean(metric: str, reports: list[EvalReport] = reports) -> float:
                    return 100 * statistics.fmean(r.score(r.pipelines[0], metric) for r in reports)

                rows.append(
                    [
                        task,
                        "corrected" if corrected else "raw (before)",
                        mean("ndcg@10"),
                        mean("hit_rate@1"),
                        mean("recall@1"),
                        mean("map@20"),
                        100 * statistics.fmean(r.own_language_at_10[r.pipelines[0]] for r in reports),
                        seconds[corrected],
                    ]
                )
    print(f"Language-bias correction, model {args.model}{' (quick subsets)' if args.quick else ''}")
    print(
        format_table(
            ["task", "vectors", "nDCG@10", "hit@1 %", "recall@1 %", "mAP@20", "own-language % top 10", "s"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
