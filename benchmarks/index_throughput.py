"""Indexing throughput: index_folder end to end vs the raw model encode of the same chunk texts.

Why: on a CPU the embedding model is the cost of indexing; hashing, extraction,
language detection, chunking and writing must hide behind it. The pipeline
indexes a folder into a fresh embedded store (EdgeStore in a temporary
directory) with dense and sparse vectors, as the app does; then the chunk
texts it stored are embedded again with one ``encode_documents`` call of the
same embedder (same forward batch size, texts length-sorted globally: the best
case). Targets: pipeline >= 0.9x the raw
encode's chunks/s, and wall time outside embedding < 10 % of the total.

Loading the parsers (unstructured, PyMuPDF, language profiles) is a one-time
cost of a process, like loading the model: both happen before the timed runs
(one file of each format is extracted and chunked) and the parsers' share is
printed separately.

The stage table is the pipeline's own report: extraction and chunking run in a
producer beside the embedding loop, so stages overlap and do not add up to the
wall time. CPU seconds (this process plus children) are printed too: they are
less disturbed than wall time by other load on the machine.

    python -m benchmarks.index_throughput                   # generated folder, 600 files (~3-4k chunks)
    python -m benchmarks.index_throughput --files 60        # quicker
    python -m benchmarks.index_throughput --sample          # sample_corpora/documents (issue 3's split)
    python -m benchmarks.index_throughput --folder DIR      # any folder
    python -m benchmarks.index_throughput --backends auto,onnx:before   # new default vs the old one

``--backends`` indexes the same folder with several configurations in one run,
alternating round by round: a backend name (``auto`` is the measured plan) and,
with ``:before``, the pipeline as it was before issue 15 (langdetect for documents
and chunks, the model tokenising each chunk again, the producer at the model's
priority); ``:nice=N`` sets how much the producer
thread yields to the model (IndexConfig.producer_nice). The first configuration
is the reference of the "vs first" column.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

from benchmarks.common import REPO, format_table
from benchmarks.gen_corpus import generate
from indexer.chunking import chunk_document
from indexer.extract.loaders import ExtractionError, discover, load_document
from indexer.pipeline import IndexConfig, chunk_budget, index_folder
from search.core.reports import IndexReport
from search.models.backends import BACKENDS, Backend
from search.models.embedder import Embedder
from search.space.vector_space import VectorSpace
from search.stores.base import VectorStore
from search.stores.edge import EdgeStore
from search.text.bm25 import SubwordBM25Encoder, SubwordTokenizer

COLLECTION = "bench"
TARGET_RATIO = 0.95
TARGET_OVERHEAD = 0.10
# Stages in the order a chunk meets them; the pipeline may report others too (sparse, ...).
STAGES = ("discover", "hash", "extract", "chunk", "embed", "sparse", "write", "optimize")


@dataclass(frozen=True)
class Measured:
    seconds: float  # wall
    cpu: float  # user + system of this process and its children


@dataclass(frozen=True)
class Run:
    report: IndexReport
    pipeline: Measured
    raw: Measured
    chunks: int
    tokens: int

    @property
    def ratio(self) -> float:
        """Pipeline chunks/s over raw encode chunks/s (same chunk count)."""
        return self.raw.seconds / self.pipeline.seconds

    @property
    def overhead(self) -> float:
        """Share of the pipeline's wall time spent outside the embedding call."""
        return 1.0 - self.report.timings.get("embed", 0.0) / self.pipeline.seconds


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(fn: Callable[[], object]) -> tuple[object, Measured]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = fn()
    return result, Measured(time.perf_counter() - wall, cpu_seconds() - cpu)


def warm_up_parsers(folder: Path, embedder: Embedder, config: IndexConfig) -> tuple[float, list[str]]:
    """Extract and chunk one file per format: imports and language profiles load here, once."""
    started = time.perf_counter()
    first: dict[str, Path] = {}
    for entry in discover(folder, config.loader).files:
        first.setdefault(Path(entry.path).suffix.lower(), Path(entry.path))
    for path in first.values():
        try:
            document = load_document(path, folder, config.loader)
        except ExtractionError:
            continue
        chunk_document(document, embedder, chunk_budget(embedder, config), config.overlap_tokens)
    return time.perf_counter() - started, sorted(first)


def stored_texts(store: VectorStore) -> list[str]:
    return [str(payload["text"]) for _, payload in store.iter_payloads(COLLECTION, ("text",))]


def one_run(folder: Path, embedder: Embedder, config: IndexConfig, workdir: Path) -> Run:
    """Index into a fresh store as the app does (dense + the sparse vectors hybrid search needs),
    then encode exactly the stored chunk texts."""
    # The smoke test's fake embedder has no tokenizer, so no sparse vectors there.
    sparse = SubwordBM25Encoder.for_embedder(embedder) if isinstance(embedder, SubwordTokenizer) else None
    store = EdgeStore(workdir)
    try:
        report, pipeline = measure(
            lambda: index_folder(
                folder, VectorSpace(embedder, sparse=sparse), store, COLLECTION, config=config
            )
        )
        assert isinstance(report, IndexReport)
        texts = stored_texts(store)
    finally:
        store.close()
    _, raw = measure(lambda: embedder.encode_documents(texts))
    tokens = sum(embedder.count_tokens(texts)) + len(texts) * embedder.document_overhead()
    return Run(report, pipeline, raw, len(texts), tokens)


def stage_rows(run: Run) -> list[list[object]]:
    timings = run.report.timings
    names = [s for s in STAGES if s in timings] + sorted(set(timings) - set(STAGES) - {"total"})
    rows: list[list[object]] = [[s, timings[s], 100 * timings[s] / run.pipeline.seconds] for s in names]
    rows.append(["wall total", run.pipeline.seconds, 100.0])
    rows.append(["outside embed", run.pipeline.seconds - timings.get("embed", 0.0), 100 * run.overhead])
    return rows


def summary_rows(runs: Sequence[Run]) -> list[list[object]]:
    pipeline_s = statistics.median(r.pipeline.seconds for r in runs)
    raw_s = statistics.median(r.raw.seconds for r in runs)
    chunks = runs[0].chunks
    pipeline_cpu = statistics.median(r.pipeline.cpu for r in runs)
    raw_cpu = statistics.median(r.raw.cpu for r in runs)
    return [
        ["raw encode (baseline)", chunks, raw_s, chunks / raw_s, raw_cpu, 1.0],
        ["index_folder", chunks, pipeline_s, chunks / pipeline_s, pipeline_cpu, raw_s / pipeline_s],
    ]


@dataclass(frozen=True)
class Setup:
    """One configuration to index with: its label, embedder and pipeline settings."""

    label: str
    embedder: Embedder
    config: IndexConfig


def before_issue_15(config: IndexConfig) -> IndexConfig:
    """The pipeline as it ran before issue 15: langdetect everywhere, the model tokenising again,
    the producer at the model's priority (BM25 still runs in the producer, script counts by table)."""
    return replace(
        config,
        reuse_token_ids=False,
        producer_nice=0,
        loader=replace(config.loader, language_detector="langdetect"),
    )


def run_benchmark(
    folder: Path, embedder: Embedder, config: IndexConfig, rounds: int, workdir: Path
) -> list[Run]:
    return run_setups(folder, [Setup("", embedder, config)], rounds, workdir)[0]


def run_setups(folder: Path, setups: Sequence[Setup], rounds: int, workdir: Path) -> list[list[Run]]:
    """Every setup once per round, in turn, so load on the machine hits them alike."""
    for setup in setups:
        setup.embedder.encode_documents(["warm-up: first calls allocate and pick kernels"] * 8)
        seconds, formats = warm_up_parsers(folder, setup.embedder, setup.config)
        print(
            f"  parsers loaded for {', '.join(formats)} in {seconds:.1f} s (once per process, not timed below)"
        )
    runs: list[list[Run]] = [[] for _ in setups]
    for round_ in range(rounds):
        for i, setup in enumerate(setups):
            run = one_run(folder, setup.embedder, setup.config, workdir / f"store-{round_}-{i}")
            runs[i].append(run)
            print(
                f"  round {round_ + 1}{' ' + setup.label if setup.label else ''}: {run.chunks} chunks, "
                f"pipeline {run.pipeline.seconds:.1f} s, raw {run.raw.seconds:.1f} s, "
                f"load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    return runs


def comparison_rows(setups: Sequence[Setup], runs: Sequence[Sequence[Run]]) -> list[list[object]]:
    """Per setup: pipeline and raw chunks/s (medians), pipeline/raw, and pipeline vs the first setup's."""
    rows: list[list[object]] = []
    first = 0.0
    for setup, these in zip(setups, runs):
        pipeline = statistics.median(r.chunks / r.pipeline.seconds for r in these)
        raw = statistics.median(r.chunks / r.raw.seconds for r in these)
        first = first or pipeline
        backend = getattr(setup.embedder, "backend", "-")
        ratio = statistics.median(r.ratio for r in these)
        rows.append([setup.label, backend, these[0].chunks, pipeline, raw, ratio, pipeline / first])
    return rows


def print_results(runs: Sequence[Run], label: str, batch_size: int) -> None:
    median_run = sorted(runs, key=lambda r: r.ratio)[len(runs) // 2]
    report = median_run.report
    langs = len(report.chunks_by_language)
    print()
    print(
        f"{label}: {report.files_seen} files, {len(report.indexed)} indexed, {len(report.skipped)} skipped, "
        f"{median_run.chunks} chunks in {langs} languages, "
        f"{median_run.tokens / max(median_run.chunks, 1):.0f} tokens/chunk; batch {batch_size}; {len(runs)} round(s); cpu count {os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(format_table(["stage (overlapping)", "seconds", "% of wall"], stage_rows(median_run)))
    print()
    print(format_table(["path", "chunks", "wall s", "chunks/s", "cpu s", "vs raw"], summary_rows(runs)))
    ratio = statistics.median(r.ratio for r in runs)
    overhead = statistics.median(r.overhead for r in runs)
    print(
        f"pipeline / raw encode: {ratio:.3f}x (target >= {TARGET_RATIO}x: {_verdict(ratio >= TARGET_RATIO)}); "
        f"outside embedding: {100 * overhead:.1f} % of wall (target < {100 * TARGET_OVERHEAD:.0f} %: "
        f"{_verdict(overhead < TARGET_OVERHEAD)})"
    )


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def main(argv: Sequence[str] | None = None, embedder: Embedder | None = None) -> list[Run]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--folder", type=Path, help="index this folder instead of a generated one")
    source.add_argument("--sample", action="store_true", help="index sample_corpora/documents")
    parser.add_argument("--files", type=int, default=600, help="files in the generated folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1, help="repeat pipeline + raw; medians are printed")
    parser.add_argument(
        "--batch-size", type=int, default=IndexConfig().batch_size, help="IndexConfig.batch_size"
    )
    parser.add_argument("--device", help="cpu, cuda ... (default: CUDA when available)")
    parser.add_argument(
        "--backends",
        default="auto",
        help="comma-separated backends to compare (auto, torch, bf16, onnx ...); NAME:before runs the "
        "pipeline as before issue 15, NAME:nice=N with the producer thread's nice raised by N "
        "(default: auto, the app's default)",
    )
    args = parser.parse_args(argv)

    config = replace(IndexConfig(), batch_size=args.batch_size)
    setups: list[Setup] = []
    if embedder is None:
        from search.models.loading import load_embedder
        from search.models.specs import DEFAULT_MODEL

        for item in args.backends.split(","):
            name, *variants = item.strip().split(":")
            setup_config = config
            for variant in variants:
                if variant == "before":
                    setup_config = before_issue_15(setup_config)
                elif variant.startswith("nice=") and variant[5:].isdigit():
                    setup_config = replace(setup_config, producer_nice=int(variant[5:]))
                else:
                    parser.error(f"unknown pipeline variant {variant!r} in {item!r} (:before, :nice=N)")
            if name not in BACKENDS:
                parser.error(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
            backend = cast(Backend, name)
            loaded = load_embedder(DEFAULT_MODEL, device=args.device, backend=backend, planning="now")
            setups.append(Setup(item.strip(), loaded, setup_config))
    else:
        setups.append(Setup("", embedder, config))
    with tempfile.TemporaryDirectory(prefix="index-throughput-") as tmp:
        workdir = Path(tmp)
        if args.folder or args.sample:
            folder = args.folder or REPO / "sample_corpora" / "documents"
            label = str(folder)
        else:
            started = time.perf_counter()
            corpus = generate(workdir / "corpus", args.files, seed=args.seed)
            folder = corpus.root
            label = f"generated folder ({corpus.summary()}; built in {time.perf_counter() - started:.0f} s)"
        print(f"indexing {folder} with {setups[0].embedder.spec.name}", flush=True)
        all_runs = run_setups(folder, setups, args.rounds, workdir)
    for setup, runs in zip(setups, all_runs):
        print_results(runs, f"{setup.label or 'pipeline'} on {label}", config.batch_size)
    if len(setups) > 1:
        print()
        headers = [
            "setup",
            "backend",
            "chunks",
            "pipeline chunks/s",
            "raw chunks/s",
            "pipeline/raw",
            "vs first",
        ]
        print(format_table(headers, comparison_rows(setups, all_runs)))
    return all_runs[0]


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
