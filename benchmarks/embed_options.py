"""Embedding speed options against the default torch path, with their retrieval cost, in one run.

Why: on a CPU the model forward is nearly all of indexing time. An option is worth
offering only if it is faster *and* keeps retrieval quality: it is kept when its
throughput beats the default torch path measured in the same run and its XQuAD
nDCG@10 drops by no more than 0.5 points.

Variants: the default torch path (fp32, torch's default thread count), torch with
one thread, bf16 weights and bf16 autocast (fast only where the CPU runs bf16
natively), torch int8 dynamic quantisation of every Linear, ONNX Runtime (graph
exported once with dynamic axes) with its default and with one thread, and ONNX
Runtime's own int8 dynamic quantisation of that graph.

Speed: sentences/s on ~60-token multilingual texts (the embed_speed texts), batch
32, alternating rounds, median. Quality: same-language XQuAD retrieval, MTEB's
protocol (questions with the e5 query prompt against all 240 paragraphs of their
language with the passage prompt) through the app's evaluator (benchmarks.xquad), nDCG@10
by ranx, on three languages; plus the cosine of each variant's passage vectors to the
default path's on the first 48 paragraphs of each language. Thread-count
variants run the same weights, so they reuse their base variant's quality.

Keep the full paragraph pool for decisions: on a 48-paragraph pool nDCG saturates
(~97) and hid a 1-point loss of ONNX int8 that the full pool shows.

    python -m benchmarks.embed_options [--texts 256] [--rounds 5] [--langs de,ar,zh]
        [--variants torch,int8,onnx] [--skip-quality]
    python -m benchmarks.embed_options --texts 64 --rounds 1 --paragraphs 48  # smoke test
    python -m benchmarks.embed_options --variants torch,auto --rounds 3   # the chosen plan against fp32
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch

from benchmarks.common import evaldata_dir, format_table
from benchmarks.embed_texts import make_texts, time_rounds
from benchmarks.xquad import XquadBench, whole_paragraphs
from search.application.services import Services
from search.core.paths import default_cache_dir
from search.core.settings import Settings
from search.evaluation.xquad import xquad_same_language
from search.models.backends import Backend, OnnxEncoder, onnx_dir
from search.models.encoders.transformers import TransformersEmbedder
from search.models.loading import load_embedder
from search.models.registry import ModelRegistry
from search.models.specs import DEFAULT_MODEL
from search.stores.client import ClientStore

MAX_NDCG_LOSS = 0.5  # points of nDCG@10 an option may lose and still be kept
MIN_SPEEDUP = 1.05  # below this a "faster" option is within timing noise
ALL_VARIANTS = ("torch", "torch-1t", "bf16", "bf16-autocast", "int8", "onnx", "onnx-1t", "onnx-int8", "auto")


@dataclass(frozen=True)
class Variant:
    name: str
    embedder: TransformersEmbedder
    threads: int | None = None  # torch threads while this variant runs; None = leave as is
    setup_seconds: float = 0.0
    quality_of: str | None = None  # same weights and graph as this variant: its quality applies


@dataclass(frozen=True)
class Quality:
    ndcg: dict[str, float]  # lang -> nDCG@10 (points)
    cosine_min: float
    cosine_mean: float

    @property
    def mean(self) -> float:
        return statistics.fmean(self.ndcg.values())


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def encoder(variant: Variant) -> Callable[[list[str]], np.ndarray]:
    def encode(texts: list[str]) -> np.ndarray:
        with torch_threads(variant.threads):
            return variant.embedder.encode_documents(texts)

    return encode


COSINE_PARAGRAPHS = 48  # paragraphs per language embedded again for the cosine to the torch path


def evaluate(
    variant: Variant, langs: Sequence[str], paragraphs: int, reference: dict[str, np.ndarray] | None
) -> tuple[Quality, dict[str, np.ndarray]]:
    """The variant's same-language XQuAD nDCG@10 through the app's evaluator (benchmarks.xquad: the MTEB
    protocol, raw vectors, whole paragraphs), and its passage vectors of the first COSINE_PARAGRAPHS
    paragraphs per language, compared with ``reference`` (the torch path's)."""
    data = evaldata_dir()
    embedder = variant.embedder
    ndcg: dict[str, float] = {}
    vectors: dict[str, np.ndarray] = {}
    cosines: list[np.ndarray] = []
    with tempfile.TemporaryDirectory(prefix="embed-options-") as tmp:
        services = Services(  # the variant is the model: every text embedded by it, nothing cached
            Settings(data_dir=Path(tmp), cache_dir=Path(tmp) / "cache", embedding_cache=False),
            ClientStore(":memory:"),
            ModelRegistry((embedder.spec,)),
            embedder_factory=lambda spec: embedder,
        )
        with torch_threads(variant.threads), whole_paragraphs(services, embedder.spec.name) as workspace:
            bench = XquadBench(services, workspace, embedder.spec.name)
            for lang in langs:
                queryset = xquad_same_language(data, lang, limit=paragraphs)
                ndcg[lang] = bench.report(queryset).overall[bench.label]["ndcg@10"] * 100
                texts = [doc.text for doc in list(queryset.corpus.values())[:COSINE_PARAGRAPHS]]
                vectors[lang] = embedder.encode_documents(texts)
                if reference is not None:
                    cosines.append((vectors[lang] * reference[lang]).sum(axis=1))
        services.close()
    all_cos = np.concatenate(cosines) if cosines else np.ones(1)
    return Quality(ndcg, float(all_cos.min()), float(all_cos.mean())), vectors


def _load(backend: str, cache_dir: Path) -> TransformersEmbedder:
    """A backend of the default model; "auto" is this machine's plan (measured now if there is none), which
    may run passages and queries on different backends: its quality is that of the mix."""
    embedder = load_embedder(
        DEFAULT_MODEL, device="cpu", cache_dir=cache_dir, backend=cast(Backend, backend), planning="now"
    )
    assert isinstance(embedder, TransformersEmbedder)
    embedder.encode_queries(["build"])  # runners are built on first use: an export or a cast happens here
    return embedder


def build_variants(names: Sequence[str], cache_dir: Path) -> list[Variant]:
    variants = [Variant("torch", _load("torch", cache_dir))]  # always first: the baseline
    base = variants[0].embedder
    for name in names:
        started = time.perf_counter()
        if name == "torch":
            continue
        if name == "torch-1t":
            variants.append(Variant(name, base, threads=1, quality_of="torch"))
        elif name == "onnx-1t":
            onnx = _load("onnx", cache_dir)
            view = TransformersEmbedder(
                onnx.spec,
                OnnxEncoder(onnx_dir(cache_dir, onnx_folder(cache_dir), onnx_id(onnx)) / "model.onnx", 1),
                base._tokenizer,
                base._head,
                device="cpu",
                pad_id=base._pad_id,
                backend="onnx",
            )
            variants.append(
                Variant(name, view, setup_seconds=time.perf_counter() - started, quality_of="onnx")
            )
        elif name in ALL_VARIANTS:
            variants.append(
                Variant(name, _load(name, cache_dir), setup_seconds=time.perf_counter() - started)
            )
        else:
            raise SystemExit(f"unknown variant {name!r}; choose from {', '.join(ALL_VARIANTS)}")
    return variants


def onnx_folder(cache_dir: Path) -> Path:
    from search.models.encoders.bundled import ensure_bundled_model

    return ensure_bundled_model(cache_dir)


def onnx_id(embedder: TransformersEmbedder) -> str:
    from search.models.encoders.planning import model_id

    return model_id(embedder.spec)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--langs", default="de,ar,zh", help="XQuAD languages for the quality check")
    parser.add_argument("--paragraphs", type=int, default=240, help="paragraph pool per language (240 = all)")
    parser.add_argument("--skip-quality", action="store_true", help="speed only (no XQuAD)")
    parser.add_argument("--variants", default=",".join(v for v in ALL_VARIANTS if v != "auto"))
    parser.add_argument("--cache-dir", type=Path, default=None, help="where models and ONNX exports are kept")
    args = parser.parse_args(argv)

    cache_dir = args.cache_dir or default_cache_dir()
    variants = build_variants([v.strip() for v in args.variants.split(",") if v.strip()], cache_dir)
    base = variants[0].embedder
    texts = make_texts(base, args.texts)
    tokens = base.count_tokens(texts)
    langs = [lang.strip() for lang in args.langs.split(",") if lang.strip()]
    langs = [] if args.skip_quality else langs

    quality: dict[str, Quality] = {}
    reference: dict[str, np.ndarray] | None = None
    for variant in variants:
        if langs and variant.quality_of is None:
            quality[variant.name], vectors = evaluate(variant, langs, args.paragraphs, reference)
            reference = reference or vectors
    for variant in variants:
        if variant.quality_of in quality:
            quality[variant.name] = quality[variant.quality_of]
    timings = time_rounds({v.name: encoder(v) for v in variants}, texts, args.rounds)

    base_speed = timings["torch"].per_second
    rows = []
    verdicts: dict[str, bool] = {}
    for variant in variants:
        speed, q = timings[variant.name], quality.get(variant.name)
        ratio = speed.per_second / base_speed
        delta = None if q is None else q.mean - quality["torch"].mean
        keep = (
            variant.name != "torch" and ratio >= MIN_SPEEDUP and delta is not None and delta >= -MAX_NDCG_LOSS
        )
        verdicts[variant.name] = keep
        if variant.name == "torch":
            verdict = "baseline"
        else:
            verdict = "speed only" if q is None else ("keep" if keep else "drop")
        rows.append(
            (
                variant.name,
                speed.per_second,
                ratio,
                *(None if q is None else q.ndcg[lang] for lang in langs),
                None if q is None else q.mean,
                delta,
                None if q is None else f"{q.cosine_min:.4f}",
                None if q is None else f"{q.cosine_mean:.5f}",
                f"{variant.setup_seconds:.0f}",
                verdict,
            )
        )
    print(
        f"{len(texts)} texts, tokens/text mean {np.mean(tokens):.1f}, batch {base._batch_size}, "
        f"{args.rounds} rounds, torch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.2f}; XQuAD: "
        + (
            f"{', '.join(langs)}, {args.paragraphs} paragraphs each (MTEB protocol, the app's evaluator)"
            if langs
            else "skipped"
        )
    )
    headers = [
        "variant",
        "sent/s",
        "vs torch",
        *(f"nDCG {lang}" for lang in langs),
        "nDCG mean",
        "Δ nDCG",
        "cos min",
        "cos mean",
        "setup s",
        "verdict",
    ]
    print(format_table(headers, rows))
    kept = [name for name, keep in verdicts.items() if keep]
    print(
        f"kept (>= {MIN_SPEEDUP}x the torch path, nDCG@10 loss <= {MAX_NDCG_LOSS}): {', '.join(kept) or 'none'}"
    )


if __name__ == "__main__":
    main()
