"""The pull toward the query's own language, measured through the app: raw vectors, reference means, fitted means.

Why: the app exists for a folder of many languages searched in one. This runs the
app's own evaluation path (index the corpus with ``index_documents`` into a scratch
store, refit the collection's language means, search every query with the ``Searcher``,
score with ranx) three times in one run:

* raw: ``Settings.language_correction`` off (the model's vectors);
* reference: each chunk minus its language's reference mean, frozen (the correction
  before issue 22: 36 project sentences x 18 languages, the mean of all for any other
  language), query mean, cross-lingual vote;
* fitted (the default now): the reference means moved toward the collection's own mean
  per language by count (search/models/language_bias.py SHRINKAGE, indexer/recenter.py).

Sets, each in a development and a test split (``--split``); constants are chosen on dev
(``--tune``) and reported on test:

* tatoeba-pool: one pool of Tatoeba sentences, documents mostly in languages without a
  reference mean, queries in five languages. Each pair file gives documents in its language
  queried by their English side, or (query languages) English documents queried by theirs.
  Test: documents in he uk pl id sw fa bn + de zh ru, English queries, and English documents
  queried in es ko tr ur, from the second half of each file. Dev: documents in cs hu fi ta
  mr bg lt sq + fr ja ar, queries in it vi nl el, from the first half. Written as a BEIR
  folder without language fields (``--write-beir DIR``), evaluated as ``app.py eval
  --queries DIR`` does, document languages detected by the app;
* tatoeba-alone: the same pool cut by true document language, each searched alone: about
  the model's ceiling for each language in the mixed pool;
* pool6 / pool12: XQuAD paragraphs of 6 (ar de en hi ru zh) or all 12 languages in one
  pool, any translation relevant; articles 0-23 dev, 24-47 test;
* xquad-r: XQuAD-R (LAReQA): answer sentences of 11 languages, 11 relevant each; same halves;
* same: XQuAD same language, 12 languages one at a time (must not get worse); same halves;
* tatoeba: Tatoeba sentences of 10 languages -> their English translations (first or second
  half of the 1000 pairs);
* sample: the project's sample query set (a demo: neither split).

Vectors go through the embedding cache, so later settings re-embed nothing.

    python -m benchmarks.language_bias --split test --per-language      # the README's figures
    python -m benchmarks.language_bias --split dev --tune                 # the grid the constants were chosen on
    python -m benchmarks.language_bias --write-beir /tmp/pool --split test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from benchmarks.common import REPO, evaldata_dir, format_table
from indexer.service import FolderIndexer
from search.application.evaluating import EvalWorkspace, PipelineSpec, evaluate_pipelines
from search.application.services import Services
from search.core.settings import Settings
from search.core.types import CorpusDoc, Query, QuerySet
from search.evaluation.querysets import load_queryset
from search.evaluation.report import EvalReport
from search.evaluation.xquad import (
    DEV_HALF,
    TEST_HALF,
    XQUAD_LANGUAGES,
    xquad_cross_lingual,
    xquad_r,
    xquad_same_language,
)
from search.models.embedder import Embedder
from search.models.language_bias import (
    PARAGRAPHS,
    QUERY_WEIGHT,
    SHRINKAGE,
    LanguageCentering,
    compute_centering,
    pseudo_paragraphs,
)
from search.models.specs import ModelSpec
from search.space.vector_space import VectorSpace

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
# Tatoeba file codes: documents in these languages (queried by their English side), and English
# documents queried in those. Test mirrors the held-out set; dev shares no language with it.
POOLS = {
    "test": (
        ("heb", "ukr", "pol", "ind", "swh", "pes", "ben", "deu", "cmn", "rus"),
        ("spa", "kor", "tur", "urd"),
    ),
    "dev": (
        ("ces", "hun", "fin", "tam", "mar", "bul", "lit", "sqi", "fra", "jpn", "ara"),
        ("ita", "vie", "nld", "ell"),
    ),
}
TATOEBA_CODES = {
    "heb": "he", "ukr": "uk", "pol": "pl", "ind": "id", "swh": "sw", "pes": "fa", "ben": "bn",
    "deu": "de", "cmn": "zh", "rus": "ru", "spa": "es", "kor": "ko", "tur": "tr", "urd": "ur",
    "ces": "cs", "hun": "hu", "fin": "fi", "tam": "ta", "mar": "mr", "bul": "bg", "lit": "lt",
    "sqi": "sq", "fra": "fr", "jpn": "ja", "ara": "ar", "ita": "it", "vie": "vi", "nld": "nl",
    "ell": "el",
}  # fmt: skip
POOL_SIZE = 300  # pairs per language and split
METRICS = ("ndcg@10", "hit_rate@1", "recall@1", "map@20")
SETTINGS = ("raw", "reference", "fitted")


@dataclass(frozen=True)
class Variant:
    """One way of writing and searching vectors: raw, reference means, or fitted means with constants."""

    name: str
    corrected: bool = True
    fitted: bool = True
    shrinkage: float = SHRINKAGE
    query_weight: float = QUERY_WEIGHT
    paragraphs: int = PARAGRAPHS  # pseudo-paragraphs per language of the reference means
    # reference means for the pools' languages without one, from Tatoeba sentences of the other split
    # (an experiment: would reference text in more languages help? Tatoeba cannot be shipped)
    extra_reference: str | None = None


def services_for(settings: Settings, variant: Variant) -> Services:
    """The app's Services, with the correction's constants and fitting set for this variant."""

    class Tuned(Services):
        def _load_centering(self, spec: ModelSpec) -> LanguageCentering:
            base = super()._load_centering(spec)
            if variant.paragraphs != PARAGRAPHS:  # other reference means, same name (this run only)
                embedder = self.document_embedder(spec.name)
                other = compute_centering(embedder, "tuning", variant.paragraphs)
                base = replace(other, name=base.name)
            if variant.extra_reference is not None:  # same name: this run only
                extra = extra_reference_means(self.document_embedder(spec.name), variant.extra_reference)
                means = {**extra, **base.document_means}  # the project's own reference wins where it exists
                base = replace(base, document_means=means, languages=tuple(sorted(means)))
            return replace(base, shrinkage=variant.shrinkage, query_weight=variant.query_weight)

        def space(self, model: str | None = None, *, document: bool = False) -> VectorSpace:
            chosen = super().space(model, document=document)
            if chosen.correction is not None and not variant.fitted:
                return replace(chosen, correction=chosen.correction.with_fitting(False))
            return chosen

    return Tuned.build(replace(settings, language_correction=variant.corrected))


REFERENCE_SENTENCES = 36  # as many as the project's reference text has per language


def extra_reference_means(embedder: Embedder, split: str) -> dict[str, np.ndarray]:
    """Reference means for every document language of both pools, from the first REFERENCE_SENTENCES
    sentences of the *other* split's half of its Tatoeba file (never a sentence ``split`` searches),
    made as the project's are (pseudo-paragraphs of 4-8 sentences, their mean)."""
    other = "test" if split == "dev" else "dev"
    folder = evaldata_dir() / "tatoeba"
    texts = {}
    for code in (*POOLS["test"][0], *POOLS["dev"][0]):
        lines = (folder / f"tatoeba.{code}-eng.{code}").read_text(encoding="utf-8").splitlines()
        sentences = [line.strip() for line in _half(lines, other) if line.strip()]
        texts[TATOEBA_CODES[code]] = sentences[:REFERENCE_SENTENCES]
    paragraphs = pseudo_paragraphs(texts, PARAGRAPHS)
    return {
        lang: embedder.encode_documents(paragraphs[lang]).mean(0).astype(np.float32) for lang in sorted(texts)
    }


def _half(lines: list[str], split: str) -> list[str]:
    half = len(lines) // 2
    return lines[:half] if split == "dev" else lines[half:]


def tatoeba_pool(evaldata: Path, split: str, size: int = POOL_SIZE) -> QuerySet:
    """The mixed Tatoeba pool of ``split`` (see the module doc); no language fields, as a BEIR set has none."""
    doc_codes, query_codes = POOLS[split]
    corpus: dict[str, CorpusDoc] = {}
    queries: dict[str, Query] = {}
    qrels: dict[str, dict[str, int]] = {}
    for code in (*doc_codes, *query_codes):
        folder = evaldata / "tatoeba"
        side = (folder / f"tatoeba.{code}-eng.{code}").read_text(encoding="utf-8").splitlines()
        english = (folder / f"tatoeba.{code}-eng.eng").read_text(encoding="utf-8").splitlines()
        pairs = [(a.strip(), b.strip()) for a, b in zip(_half(side, split), _half(english, split))]
        pairs = [(a, b) for a, b in pairs if a and b][:size]
        documents_here = code in doc_codes
        for i, (theirs, eng) in enumerate(pairs):
            doc_id, query_id = (
                (f"{code}:{i}", f"eng>{code}:{i}") if documents_here else (f"eng<{code}:{i}", f"{code}:{i}")
            )
            corpus[doc_id] = CorpusDoc(doc_id, theirs if documents_here else eng)
            queries[query_id] = Query(query_id, eng if documents_here else theirs)
            qrels[query_id] = {doc_id: 1}
    return QuerySet(
        f"tatoeba-pool-{split}",
        corpus,
        queries,
        qrels,
        description=(
            f"Tatoeba ({split}): documents in {', '.join(doc_codes)} queried in English, "
            f"English documents queried in {', '.join(query_codes)}"
        ),
    )


def tatoeba_alone(evaldata: Path, split: str, size: int = POOL_SIZE) -> list[QuerySet]:
    """The Tatoeba pool cut by true document language: each language's documents searched alone
    by their own queries. In the mixed pool the other languages mostly add distractors (the vote,
    which runs only there, could lift a language), so this is about the model's ceiling for it."""
    pool = tatoeba_pool(evaldata, split, size)
    groups: dict[str, list[str]] = {}
    for qid in pool.queries:
        groups.setdefault(true_language(qid), []).append(qid)
    sets = []
    for lang, qids in sorted(groups.items()):
        docs = {doc for qid in qids for doc in pool.qrels[qid]}
        sets.append(
            QuerySet(
                f"tatoeba-alone-{split}-{lang}",
                {doc: pool.corpus[doc] for doc in docs},
                {qid: pool.queries[qid] for qid in qids},
                {qid: pool.qrels[qid] for qid in qids},
            )
        )
    return sets


def write_beir(queryset: QuerySet, folder: Path) -> None:
    """A standard BEIR folder (no language fields): corpus.jsonl, queries.jsonl, qrels/test.tsv."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for doc in queryset.corpus.values():
            out.write(
                json.dumps({"_id": doc.doc_id, "title": "", "text": doc.text}, ensure_ascii=False) + "\n"
            )
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as out:
        for query in queryset.queries.values():
            out.write(json.dumps({"_id": query.qid, "text": query.text}, ensure_ascii=False) + "\n")
    with (folder / "qrels" / "test.tsv").open("w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for qid, docs in queryset.qrels.items():
            for doc_id, grade in docs.items():
                out.write(f"{qid}\t{doc_id}\t{grade}\n")


def pool_as_the_app_reads_it(evaldata: Path, split: str, size: int) -> QuerySet:
    """The Tatoeba pool written as a BEIR folder and read back as ``app.py eval --queries DIR`` reads it
    (languages detected by the app's identifier)."""
    with tempfile.TemporaryDirectory(prefix="tatoeba-pool-") as tmp:
        write_beir(tatoeba_pool(evaldata, split, size), Path(tmp))
        return replace(load_queryset(Path(tmp)), name=f"tatoeba-pool-{split}")


def baseline_report(baseline: Path, queryset: QuerySet, cache: Path, data: Path, model: str) -> EvalReport:
    """``app.py eval --queries DIR`` of another checkout (its detector, its correction) on the same set.

    The set goes as a BEIR folder without language fields, so the baseline detects languages its way.
    """
    with tempfile.TemporaryDirectory(prefix="baseline-eval-") as tmp:
        folder, out = Path(tmp) / "set", Path(tmp) / "out"
        write_beir(queryset, folder)
        env = {**os.environ, "PYTHONPATH": str(baseline)}
        command = [
            sys.executable,
            str(baseline / "app.py"),
            "--data-dir",
            str(data),
            "--cache-dir",
            str(cache),
        ]
        command += ["eval", "--queries", str(folder), "--models", model, "--out", str(out)]
        done = subprocess.run(command, cwd=baseline, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{baseline}: app.py eval failed:\n{done.stderr[-3000:]}")
        return EvalReport.from_json(json.loads((out / "report.json").read_text(encoding="utf-8")))


def tatoeba_queryset(evaldata: Path, code: str, lang: str, split: str | None, limit: int | None) -> QuerySet:
    """Sentences in ``lang`` -> the English sentences, each query's translation relevant."""
    folder = evaldata / "tatoeba"
    src = (folder / f"tatoeba.{code}-eng.{code}").read_text(encoding="utf-8").splitlines()
    eng = (folder / f"tatoeba.{code}-eng.eng").read_text(encoding="utf-8").splitlines()
    if split is not None:
        src, eng = _half(src, split), _half(eng, split)
    src, eng = src[:limit], eng[:limit]
    corpus = {f"en:{i}": CorpusDoc(f"en:{i}", text, language="en") for i, text in enumerate(eng)}
    queries = {f"{lang}:{i}": Query(f"{lang}:{i}", text, lang) for i, text in enumerate(src) if text.strip()}
    qrels = {qid: {f"en:{qid.split(':')[1]}": 1} for qid in queries}
    return QuerySet(f"tatoeba-{code}", corpus, queries, qrels)


def run_setting(
    queryset: QuerySet, model: str, cache_dir: Path, data_dir: Path, variant: Variant
) -> tuple[EvalReport, float]:
    settings = Settings(data_dir=data_dir, cache_dir=cache_dir, default_model=model)
    services = services_for(settings, variant)
    t0 = time.perf_counter()
    try:
        with EvalWorkspace(FolderIndexer()) as workspace:
            report = evaluate_pipelines(
                services, queryset, [PipelineSpec(model)], workspace=workspace, metrics=METRICS
            )
    finally:
        services.close()
    return report, time.perf_counter() - t0


def tasks(
    evaldata: Path, split: str, quick: bool, pool_size: int = POOL_SIZE
) -> dict[str, Callable[[], list[QuerySet]]]:
    half = DEV_HALF if split == "dev" else TEST_HALF
    part = slice(half.start, (half.start or 0) + 40) if quick else half
    return {
        "tatoeba-pool": lambda: [pool_as_the_app_reads_it(evaldata, split, 60 if quick else pool_size)],
        "tatoeba-alone": lambda: tatoeba_alone(evaldata, split, 60 if quick else pool_size),
        "pool6": lambda: [xquad_cross_lingual(evaldata, POOL6, POOL6, limit=part)],
        "pool12": lambda: [xquad_cross_lingual(evaldata, XQUAD_LANGUAGES, XQUAD_LANGUAGES, limit=part)],
        "xquad-r": lambda: [xquad_r(evaldata, XQUAD_R_LANGUAGES, XQUAD_R_LANGUAGES, limit=part)],
        "same": lambda: [xquad_same_language(evaldata, lang, limit=part) for lang in XQUAD_LANGUAGES],
        "tatoeba": lambda: [
            tatoeba_queryset(evaldata, code, lang, split, 100 if quick else None)
            for code, lang in TATOEBA.items()
        ],
        "sample": lambda: [load_queryset(REPO / "sample_corpora" / "queryset")],
    }


def _mean(reports: Sequence[EvalReport], metric: str) -> float:
    """Mean of a metric over reports, in %; NaN where a report lacks it (a baseline's own metric list)."""
    return 100 * statistics.fmean(r.overall[r.pipelines[0]].get(metric, math.nan) for r in reports)


def report_rows(task: str, variant: Variant, reports: list[EvalReport], seconds: float) -> list[object]:
    return [
        task,
        variant.name,
        _mean(reports, "ndcg@10"),
        _mean(reports, "hit_rate@1"),
        _mean(reports, "recall@1"),
        _mean(reports, "map@20"),
        100 * statistics.fmean(r.own_language_at_10[r.pipelines[0]] for r in reports),
        seconds,
    ]


def per_language(task: str, by_variant: dict[str, EvalReport]) -> None:
    """Recall@1 and nDCG@10 by document language (detected by the app), one column pair per setting."""
    first = next(iter(by_variant.values()))
    pipeline = first.pipelines[0]
    languages = sorted(first.by_doc_language, key=lambda lang: -first.doc_language_counts.get(lang, 0))
    rows = []
    for lang in languages:
        row: list[object] = [lang, first.doc_language_counts.get(lang, 0)]
        for report in by_variant.values():
            scores = report.by_doc_language.get(lang, {}).get(pipeline, {})
            row += [100 * scores.get("recall@1", float("nan")), 100 * scores.get("ndcg@10", float("nan"))]
        rows.append(row)
    for name, report in by_variant.items():
        values = [
            100 * report.by_doc_language[lang][pipeline]["recall@1"]
            for lang in languages
            if report.doc_language_counts.get(lang, 0) >= 20
        ]
        if values:
            print(
                f"  {task} {name}: best document language R@1 {max(values):.1f}, worst {min(values):.1f}, "
                f"gap {max(values) - min(values):.1f} points (languages with 20+ queries)"
            )
    headers = ["document language", "queries"]
    for name in by_variant:
        headers += [f"{name} R@1", f"{name} nDCG@10"]
    print(f"\n{task}: by document language (as the app detects it)")
    print(format_table(headers, rows))


def true_language(qid: str) -> str:
    """The true language of a Tatoeba-pool query's document, from its id: ``eng>heb:3`` a Hebrew
    document, ``spa:3`` an English one queried in Spanish (``en<es``)."""
    if qid.startswith("eng>"):
        code = qid[4:].split(":", 1)[0]
        return TATOEBA_CODES.get(code, code)
    code = qid.split(":", 1)[0]
    return f"en<{TATOEBA_CODES.get(code, code)}"


def per_true_language(task: str, by_variant: dict[str, EvalReport]) -> None:
    """Recall@1 and nDCG@10 by the document's true language (from the pool's ids, not detected),
    so that settings whose detectors disagree are compared on the same queries."""
    groups: dict[str, list[str]] = {}
    first = next(iter(by_variant.values()))
    for qid in first.per_query[first.pipelines[0]]["ndcg@10"]:
        groups.setdefault(true_language(qid), []).append(qid)
    rows, worst = [], {}
    for lang in sorted(groups, key=lambda g: (g.startswith("en<"), g)):
        row: list[object] = [lang, len(groups[lang])]
        for report in by_variant.values():
            scores = report.per_query[report.pipelines[0]]
            for metric in ("recall@1", "ndcg@10"):
                row.append(100 * statistics.fmean(scores[metric][q] for q in groups[lang]))
        rows.append(row)
    for i, name in enumerate(by_variant):
        values = {str(row[0]): float(row[2 + 2 * i]) for row in rows}  # type: ignore[arg-type]
        best = max(values.values())
        worst[name] = min(values, key=lambda g: values[g])
        behind = sorted(g for g, v in values.items() if best - v > 5.0)
        print(
            f"  {task} {name}: best true document language R@1 {best:.1f}, worst {worst[name]} "
            f"{values[worst[name]]:.1f}; more than 5 points behind the best: {', '.join(behind) or 'none'}"
        )
    headers = ["document language (true)", "queries"]
    for name in by_variant:
        headers += [f"{name} R@1", f"{name} nDCG@10"]
    print(f"\n{task}: by the document's true language ('en<xx': English documents queried in xx)")
    print(format_table(headers, rows))


def per_set(task: str, sets: Sequence[QuerySet], by_variant: dict[str, list[EvalReport]]) -> None:
    """Recall@1 and nDCG@10 of each set (``tatoeba-alone``: each document language alone)."""
    rows = []
    for i, queryset in enumerate(sets):
        row: list[object] = [queryset.name.rsplit("-", 1)[-1], len(queryset.queries)]
        for reports in by_variant.values():
            row += [_mean(reports[i : i + 1], "recall@1"), _mean(reports[i : i + 1], "ndcg@10")]
        rows.append(row)
    headers = ["document language (true)", "queries"]
    for name in by_variant:
        headers += [f"{name} R@1", f"{name} nDCG@10"]
    print(f"\n{task}: each document language searched alone ('en<xx': English documents queried in xx)")
    print(format_table(headers, rows))


def tune(
    evaldata: Path, model: str, cache: Path, data: Path, quick: bool, tasks_: Sequence[str], grid_: str
) -> None:
    """The grid the constants were chosen on (dev split only): ``grid_`` is "k,k,...:w,w,...[:p,p,...]"
    (SHRINKAGE, QUERY_WEIGHT, PARAGRAPHS)."""
    shrinkages, weights, *rest = grid_.split(":")
    paragraphs = rest[0] if rest else str(PARAGRAPHS)
    grid = [
        Variant(
            f"k={float(k):g} w={float(w):g} p={int(p)}",
            shrinkage=float(k),
            query_weight=float(w),
            paragraphs=int(p),
        )
        for k in shrinkages.split(",")
        for w in weights.split(",")
        for p in paragraphs.split(",")
    ]
    sets = {task: tasks(evaldata, "dev", quick)[task]() for task in tasks_}
    rows = []
    for variant in grid:
        row: list[object] = [variant.name]
        for querysets in sets.values():
            reports = [run_setting(qs, model, cache, data, variant)[0] for qs in querysets]
            row += [_mean(reports, "ndcg@10"), _mean(reports, "hit_rate@1")]
        rows.append(row)
        print(f"  {variant.name} done", file=sys.stderr, flush=True)
    headers = ["constants (dev)"]
    for task in sets:
        headers += [f"{task} nDCG@10", f"{task} hit@1"]
    print(format_table(headers, rows))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument(
        "--cache-dir", type=Path, help="model + embedding cache (default: a temporary folder)"
    )
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--quick", action="store_true", help="subsets: a smoke run, not the figures")
    parser.add_argument("--tasks", default="tatoeba-pool,pool6,pool12,xquad-r,same,tatoeba,sample")
    parser.add_argument(
        "--settings",
        default=",".join(SETTINGS),
        help="raw, reference, fitted; reference+tatoeba and fitted+tatoeba add reference means for the "
        "pools' languages from Tatoeba sentences of the other split (would more reference text help?)",
    )
    parser.add_argument(
        "--pool-size", type=int, default=POOL_SIZE, help="documents per language of the Tatoeba pools"
    )
    parser.add_argument("--per-language", action="store_true", help="tables by document language (pools)")
    parser.add_argument("--tune", action="store_true", help="the grid of constants, on the dev split")
    parser.add_argument(
        "--grid", default="0,5,20,100,1e9:0.25,0.5,0.75", help="SHRINKAGE values:QUERY_WEIGHT values"
    )
    parser.add_argument(
        "--write-beir", type=Path, help="write the Tatoeba pool of --split as a BEIR folder and stop"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. main): its own `app.py eval` on the Tatoeba pool is the 'today' column",
    )
    args = parser.parse_args()
    evaldata = evaldata_dir()
    if args.write_beir:
        write_beir(tatoeba_pool(evaldata, args.split), args.write_beir)
        print(f"wrote {args.write_beir}: python app.py eval --queries {args.write_beir}")
        return
    variants = {
        v.name: v
        for v in (
            Variant("raw", corrected=False),
            Variant("reference", fitted=False),
            Variant("fitted"),
            Variant("reference+tatoeba", fitted=False, extra_reference=args.split),
            Variant("fitted+tatoeba", extra_reference=args.split),
        )
    }
    with tempfile.TemporaryDirectory(prefix="language-bias-") as tmp:
        cache = args.cache_dir or Path(tmp) / "cache"
        if args.tune:
            if args.split != "dev":
                sys.exit("--tune runs on the dev split only")
            tune(
                evaldata, args.model, cache, Path(tmp) / "data", args.quick, args.tasks.split(","), args.grid
            )
            return
        rows = []
        available = tasks(evaldata, args.split, args.quick, args.pool_size)
        for task in args.tasks.split(","):
            sets = available[task]()
            by_variant: dict[str, EvalReport] = {}
            by_sets: dict[str, list[EvalReport]] = {}
            if args.baseline and task == "tatoeba-pool":
                t0 = time.perf_counter()
                report = baseline_report(
                    args.baseline.resolve(), sets[0], cache, Path(tmp) / "base", args.model
                )
                rows.append(
                    report_rows(
                        task, Variant("today (baseline checkout)"), [report], time.perf_counter() - t0
                    )
                )
                by_variant["today"] = report
            for name in args.settings.split(","):
                variant = variants[name]
                reports, seconds = [], 0.0
                for qs in sets:
                    report, secs = run_setting(qs, args.model, cache, Path(tmp) / "data", variant)
                    reports.append(report)
                    seconds += secs
                rows.append(report_rows(task, variant, reports, seconds))
                by_variant[name] = reports[0]
                by_sets[name] = reports
                print(f"  {task} {name} done", file=sys.stderr, flush=True)
            if args.per_language and task in ("tatoeba-pool", "pool6", "pool12"):
                per_language(task, by_variant)
            if args.per_language and task == "tatoeba-pool":
                per_true_language(task, by_variant)
            if args.per_language and task == "tatoeba-alone":
                per_set(task, sets, by_sets)
    split = "sample: demo set" if args.tasks == "sample" else f"{args.split} split"
    print(
        f"\nLanguage-bias correction, model {args.model}, {split}{' (quick subsets)' if args.quick else ''}"
    )
    print(
        format_table(
            ["task", "vectors", "nDCG@10", "hit@1 %", "recall@1 %", "mAP@20", "own-language % top 10", "s"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
