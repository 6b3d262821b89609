"""Evaluation speed: ``app.py eval`` wall time against the raw batched encode of the same texts.

Why: issue 17 measured 748 s for 1000 queries x 1000 one-sentence documents (dense +
hybrid), about 200 ms per query through the interactive search path, while embedding
the same texts in batches took 93 s. Target: a dense pipeline's evaluation within
1.5x of the raw batched encode of its texts. Everything below runs in one process,
with the same model, so the ratios compare like with like.

Data: XQuAD-R (``../shared/evaldata``): questions in four languages -> their answer
sentences in the same four languages (one-sentence documents), cut to about
``--queries`` x ``--docs``; or ``--synthetic`` sentences where the data is absent. The
set is written as a standard BEIR folder without language fields (``corpus.jsonl.gz``,
``queries.jsonl``, ``qrels/test.tsv``), so loading it is what a user's load is.

Rows:

* raw encode: ``encode_documents`` of every document text + ``encode_queries`` of every
  query text, batched, no cache, no store: the floor (the baseline of every ratio);
* load: ``load_queryset`` of the folder (validation + language detection);
* before: the previous path: the corpus indexed into qdrant-client's in-memory store (the
  scratch store then), then ``Searcher.search`` query by query (one embedding call and one
  store request each), folded and scored;
* after, cold: ``evaluate_pipelines`` with an empty embedding cache (everything embedded);
* after, warm: the same again, new scratch index, same cache (nothing embedded).

Before and after must give the same per-query scores (checked, max difference printed).

    python -m benchmarks.eval_speed                       # ~1000 x ~1000, dense
    python -m benchmarks.eval_speed --modes dense,hybrid  # also hybrid (BM25 over the model's tokenizer)
    python -m benchmarks.eval_speed --queries 60 --docs 60 --synthetic   # smoke run
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.common import evaldata_dir, format_table
from indexer.service import FolderIndexer
from search.application.evaluating import (
    EvalWorkspace,
    PipelineSpec,
    chunk_depth,
    evaluate_pipelines,
    hit_doc_id,
)
from search.application.services import Services
from search.core.errors import QueryError
from search.core.settings import Settings
from search.core.types import Hit, QuerySet
from search.evaluation.metrics import evaluate, fold_hits
from search.evaluation.querysets import load_queryset
from search.evaluation.report import EvalReport
from search.evaluation.xquad import xquad_r
from search.models.embedder import Embedder
from search.models.registry import ModelRegistry
from search.retrieval.searcher import Mode, Searcher
from search.stores.client import ClientStore

LANGUAGES = ("en", "de", "zh", "ar")
TARGET_RATIO = 1.5
K = 100


@dataclass(frozen=True)
class Row:
    step: str
    seconds: tuple[float, ...]  # one per repeat
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def xquad_r_set(queries: int, docs: int) -> QuerySet:
    """The first XQuAD-R paragraphs whose sentences make about ``docs`` documents; the first ``queries`` questions."""
    evaldata = evaldata_dir()
    limit = 1
    while True:
        full = xquad_r(evaldata, LANGUAGES, LANGUAGES, limit=limit)
        if len(full.corpus) >= docs or limit >= 240:
            break
        limit += max(1, limit // 4)
    by_language: dict[str, list[str]] = {}
    for qid, query in full.queries.items():
        by_language.setdefault(query.language, []).append(qid)
    mixed = [qid for group in zip(*by_language.values()) for qid in group]  # every language alike
    keep = mixed[:queries]
    return QuerySet(
        name=f"xquad-r-{len(keep)}q-{len(full.corpus)}d",
        corpus=full.corpus,
        queries={q: full.queries[q] for q in keep},
        qrels={q: full.qrels[q] for q in keep},
    )


def synthetic_set(queries: int, docs: int, seed: int = 0) -> QuerySet:
    """One-sentence documents of random words; each query repeats four words of one document."""
    from search.core.types import CorpusDoc, Query

    rng = random.Random(seed)
    words = [
        f"{rng.choice('bcdfgklmnprst')}{rng.choice('aeiou')}{rng.choice('lmnrst')}{i}" for i in range(3000)
    ]
    corpus = {f"d{i}": CorpusDoc(f"d{i}", " ".join(rng.sample(words, 12)) + ".") for i in range(docs)}
    ids = list(corpus)
    chosen = [rng.choice(ids) for _ in range(queries)]
    query_map = {
        f"q{i}": Query(f"q{i}", " ".join(rng.sample(corpus[d].text.rstrip(".").split(), 4)))
        for i, d in enumerate(chosen)
    }
    return QuerySet("synthetic", corpus, query_map, {f"q{i}": {d: 1} for i, d in enumerate(chosen)})


def write_beir(queryset: QuerySet, folder: Path) -> Path:
    """A standard BEIR folder: no language fields, gzip corpus, qrels/test.tsv with its header."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
        for doc in queryset.corpus.values():
            handle.write(json.dumps({"_id": doc.doc_id, "title": doc.title, "text": doc.text}) + "\n")
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q.qid, "text": q.text}) + "\n" for q in queryset.queries.values()),
        encoding="utf-8",
    )
    rows = ["query-id\tcorpus-id\tscore"]
    rows += [f"{q}\t{d}\t{g}" for q, judged in queryset.qrels.items() for d, g in judged.items()]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def services_for(embedder: Embedder, cache_dir: Path, hybrid: bool) -> Services:
    """Services around an embedder that is already loaded, with their own (empty) embedding cache."""
    registry = ModelRegistry()
    if embedder.spec.name not in registry.names():
        registry.register(embedder.spec)
    sparse_factory = None
    if hybrid:
        from search.text.bm25 import SubwordBM25Encoder

        sparse_factory = SubwordBM25Encoder.for_embedder
    return Services(
        Settings(data_dir=cache_dir / "data", cache_dir=cache_dir),
        ClientStore(":memory:"),
        registry=registry,
        embedder_factory=lambda spec: embedder,
        sparse_factory=sparse_factory,  # type: ignore[arg-type]
        indexer_factory=FolderIndexer,
    )


def one_by_one(services: Services, queryset: QuerySet, specs: Sequence[PipelineSpec]) -> EvalReport:
    """The evaluation path before batching: every query through ``Searcher.search`` on its own,
    in the scratch store evaluation used then (qdrant-client's in-memory local mode)."""
    runs: dict[str, dict[str, dict[str, float]]] = {}
    with EvalWorkspace(FolderIndexer(), ClientStore(":memory:")) as space:
        for model in dict.fromkeys(s.model for s in specs):
            stored = services.space(model, document=True)  # the language correction, as evaluation uses it
            corpus = space.indexed(queryset, stored)
            searcher = Searcher(
                space.store, corpus.collection, replace(stored, embedder=services.embedder(model))
            )
            depth = chunk_depth(K, corpus.chunks, corpus.documents)
            for spec in (s for s in specs if s.model == model):
                run: dict[str, dict[str, float]] = {}
                for query in queryset.queries.values():
                    try:
                        hits: tuple[Hit, ...] = searcher.search(query.text, k=depth, mode=spec.mode).hits
                    except QueryError:
                        hits = ()
                    run[query.qid] = dict(list(fold_hits(hits, hit_doc_id).items())[:K])
                runs[spec.label] = run
    return evaluate(queryset, runs)


def max_difference(a: EvalReport, b: EvalReport) -> float:
    worst = 0.0
    for name in a.pipelines:
        for metric, by_query in a.per_query[name].items():
            other = b.per_query[name][metric]
            worst = max([worst, *(abs(v - other[q]) for q, v in by_query.items())])
    return worst


def run(
    embedder: Embedder,
    queryset: QuerySet,
    modes: Sequence[Mode],
    tmp: Path,
    before: bool = True,
    repeats: int = 3,
) -> list[Row]:
    """Raw encode, cold and warm evaluation, interleaved ``repeats`` times (medians compared:
    on a shared machine the same call can take three times as long from one minute to the next)."""
    folder = write_beir(queryset, tmp / "beir")
    docs = [d.text for d in queryset.corpus.values()]
    queries = [q.text for q in queryset.queries.values()]
    embedder.encode_queries(queries[:8])  # one-time session start-up is nobody's per-text cost
    t0 = time.perf_counter()
    evaluate(synthetic_set(3, 3), {"warm-up": {}})  # importing ranx, scipy and numba's first compile
    once = Row(
        "scoring library start-up (once per process)", (time.perf_counter() - t0,), "not in the ratios"
    )
    t0 = time.perf_counter()
    loaded = load_queryset(folder)
    load = Row("load (validate + detect languages)", (time.perf_counter() - t0,), loaded.metadata["files"])
    specs = [PipelineSpec(embedder.spec.name, mode=mode) for mode in modes]
    hybrid = any(mode != "dense" for mode in modes)
    label = "+".join(modes)
    raw, cold, warm, previous = [], [], [], []
    reference = cold_report = warm_report = None
    for repeat in range(repeats):
        t0 = time.perf_counter()
        embedder.encode_documents(docs)
        embedder.encode_queries(queries)
        raw.append(time.perf_counter() - t0)
        services = services_for(embedder, tmp / f"cache-after-{repeat}", hybrid)  # empty: everything embedded
        t0 = time.perf_counter()
        cold_report = evaluate_pipelines(services, loaded, specs, k=K)
        cold.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        warm_report = evaluate_pipelines(services, loaded, specs, k=K)
        warm.append(time.perf_counter() - t0)
        services.close()
        if before and repeat == 0:
            t0 = time.perf_counter()
            reference = one_by_one(services_for(embedder, tmp / "cache-before", hybrid), loaded, specs)
            previous.append(time.perf_counter() - t0)
    assert cold_report is not None and warm_report is not None
    rows = [
        Row("raw batched encode", tuple(raw), f"{len(docs)} documents + {len(queries)} queries"),
        once,
        load,
        *([Row(f"before: one query at a time ({label})", tuple(previous), "once")] if previous else []),
        Row(f"after, cold cache ({label})", tuple(cold)),
        Row(f"after, warm cache ({label})", tuple(warm)),
    ]
    base = rows[0].median
    print(
        format_table(
            ["step", "median s", "min s", "max s", "x raw encode", "note"],
            [[r.step, r.median, min(r.seconds), max(r.seconds), r.median / base, r.note] for r in rows],
        )
    )
    after = statistics.median(cold)
    verdict = "met" if after / base <= TARGET_RATIO else "NOT met"
    print(
        f"\neval wall / raw batched encode of the same texts, cold cache (medians of {repeats}): "
        f"{after / base:.2f}x (target <= {TARGET_RATIO}x: {verdict})"
    )
    if reference is not None:
        print(
            f"before / raw batched encode: {previous[0] / base:.2f}x; before / after: {previous[0] / after:.1f}x"
        )
        print(
            f"largest per-query metric difference, before vs after: {max_difference(reference, cold_report):.2g}"
        )
    print(f"same numbers cold and warm: {max_difference(cold_report, warm_report) == 0.0}")
    print(
        f"load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    for name in cold_report.pipelines:
        print(f"{name}: nDCG@10 {cold_report.overall[name]['ndcg@10']:.4f}")
    for key, value in cold_report.source.items():
        print(f"  {key}: {value}")
    return rows


def main(argv: Sequence[str] | None = None, embedder: Embedder | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--docs", type=int, default=1000, help="about this many documents (whole paragraphs)")
    parser.add_argument("--modes", default="dense", help="comma-separated: dense,sparse,hybrid")
    parser.add_argument("--synthetic", action="store_true", help="random sentences instead of XQuAD-R")
    parser.add_argument("--no-before", action="store_true", help="skip the (slow) one-query-at-a-time path")
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved runs of raw encode and evaluation"
    )
    parser.add_argument("--cache-dir", type=Path, help="where the model is (default: the app's cache dir)")
    parser.add_argument("--device", help="cpu, cuda ... (default: CUDA when available)")
    args = parser.parse_args(argv)
    if embedder is None:
        from search.models.loading import load_embedder
        from search.models.specs import DEFAULT_MODEL

        embedder = load_embedder(DEFAULT_MODEL, device=args.device, cache_dir=args.cache_dir)
    queryset = (
        synthetic_set(args.queries, args.docs) if args.synthetic else xquad_r_set(args.queries, args.docs)
    )
    modes: list[Mode] = [m for m in ("dense", "sparse", "hybrid") if m in args.modes.split(",")]  # type: ignore[misc]
    print(
        f"{queryset.name}: {len(queryset.queries)} queries, {len(queryset.corpus)} documents, model {embedder.spec.name}"
    )
    with tempfile.TemporaryDirectory(prefix="eval-speed-") as tmp:
        return run(embedder, queryset, modes, Path(tmp), before=not args.no_before, repeats=args.repeats)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
