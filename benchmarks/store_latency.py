"""Query latency of EdgeStore (after optimize) and ClientStore local mode on synthetic 384-d points.

Why: the embedded default has to stay interactive at desktop scale, and qdrant-client's
local mode (exact brute force in Python/numpy) is the alternative users would reach for.
Both run in this process on the same vectors, so the ratio is a same-run comparison.

    python -m benchmarks.store_latency               # 10k and 100k points
    python -m benchmarks.store_latency --large       # adds 300k (edge only unless --client-max)
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import format_table
from search.client_store import ClientStore
from search.edge_store import EdgeStore
from search.store import CollectionMeta, Point, SearchFilter, VectorStore

DIM = 384
LANGUAGES = ("en", "de", "fr", "ja", "ar")  # the filter keeps one of five: 20 % of the points
FILTER = SearchFilter(languages=("de",))
LOAD_BATCH = 2000
K = 10
CLUSTER_SIZE = 50
NAME = "bench"
META = CollectionMeta(
    model="synthetic-384",
    model_source="synthetic",
    revision=None,
    dimension=DIM,
    query_prompt="",
    document_prompt="",
    pooling="mean",
    normalize=True,
)


@dataclass(frozen=True)
class Row:
    backend: str
    points: int
    filtered: bool
    p50_ms: float
    p95_ms: float
    recall: float
    load_s: float
    optimize_s: float


def synthetic(n: int, seed: int, uniform: bool) -> np.ndarray:
    """Clustered like text embeddings (topics), or uniform on the sphere: the graph index's worst case."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((n, DIM)).astype(np.float32)
    if not uniform:
        centres = rng.standard_normal((max(1, n // CLUSTER_SIZE), DIM)).astype(np.float32)
        rows += centres[rng.integers(0, len(centres), n)]  # cosine ~0.5 within a cluster
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def queries_near(vectors: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Stored vectors moved ~17 degrees in a random direction: queries with real neighbours."""
    rng = np.random.default_rng(seed)
    picked = vectors[rng.integers(0, len(vectors), count)]
    noise = rng.standard_normal(picked.shape).astype(np.float32)
    noisy = picked + 0.3 * noise / np.linalg.norm(noise, axis=1, keepdims=True)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def load(store: VectorStore, vectors: np.ndarray) -> float:
    store.create_collection(NAME, META)
    started = time.perf_counter()
    for start in range(0, len(vectors), LOAD_BATCH):
        store.upsert(
            NAME,
            [
                Point(
                    id=str(uuid.UUID(int=i + 1)),
                    vector=vectors[i],
                    payload={
                        "language": LANGUAGES[i % len(LANGUAGES)],
                        "source": f"/bench/{i // 20}.txt",
                        "root": "/bench",
                        "text": f"synthetic chunk {i} " + "lorem ipsum " * 15,
                    },
                )
                for i in range(start, min(start + LOAD_BATCH, len(vectors)))
            ],
        )
    return time.perf_counter() - started


def exact_top(vectors: np.ndarray, queries: np.ndarray, filtered: bool) -> list[set[str]]:
    scores = queries @ vectors.T
    if filtered:
        keep = np.arange(len(vectors)) % len(LANGUAGES) == LANGUAGES.index(FILTER.languages[0])
        scores[:, ~keep] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :K]
    return [{str(uuid.UUID(int=int(i) + 1)) for i in row} for row in top]


def measure(
    store: VectorStore, vectors: np.ndarray, queries: np.ndarray, filtered: bool
) -> tuple[float, float, float]:
    flt = FILTER if filtered else None
    store.search_dense(NAME, queries[0], K, flt)  # warm caches and lazy loading
    latencies, found = [], []
    for query in queries:
        started = time.perf_counter()
        hits = store.search_dense(NAME, query, K, flt)
        latencies.append(time.perf_counter() - started)
        found.append({h.id for h in hits})
    truth = exact_top(vectors, queries, filtered)
    recall = float(np.mean([len(f & t) / K for f, t in zip(found, truth)]))
    p50, p95 = np.percentile(np.asarray(latencies) * 1000, [50, 95])
    return float(p50), float(p95), recall


def bench(backend: str, vectors: np.ndarray, queries: np.ndarray, workdir: Path) -> list[Row]:
    store: VectorStore = (
        EdgeStore(workdir / f"edge-{len(vectors)}") if backend == "edge" else ClientStore(":memory:")
    )
    try:
        load_s = load(store, vectors)
        started = time.perf_counter()
        store.optimize(NAME)
        optimize_s = time.perf_counter() - started
        rows = []
        for filtered in (False, True):
            p50, p95, recall = measure(store, vectors, queries, filtered)
            rows.append(Row(backend, len(vectors), filtered, p50, p95, recall, load_s, optimize_s))
            print(f"  {backend:6} {len(vectors):>7} filter={filtered!s:5} p50 {p50:.2f} ms", flush=True)
        return rows
    finally:
        store.close()


def ratio_rows(rows: Sequence[Row]) -> list[list[object]]:
    by_key = {(r.backend, r.points, r.filtered): r for r in rows}
    out: list[list[object]] = []
    for r in rows:
        client = by_key.get(("client", r.points, r.filtered))
        if r.backend == "edge" and client:
            out.append(
                [
                    r.points,
                    "language" if r.filtered else "none",
                    client.p50_ms / r.p50_ms,
                    client.p95_ms / r.p95_ms,
                ]
            )
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--large", action="store_true", help="also measure 300k points")
    parser.add_argument("--uniform", action="store_true", help="uniform random vectors instead of clusters")
    parser.add_argument("--queries", type=int, default=200, help="queries per edge measurement")
    parser.add_argument("--client-queries", type=int, default=50, help="queries per client measurement")
    parser.add_argument(
        "--client-max", type=int, default=100_000, help="skip the brute-force client above this many points"
    )
    args = parser.parse_args(argv)
    # qdrant-client warns above 20k points in local mode; measuring that cost is the point here.
    warnings.filterwarnings("ignore", message="Local mode is not recommended")
    sizes = [10_000, 100_000] + ([300_000] if args.large else [])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="store-latency-") as tmp:
        for size in sizes:
            vectors = synthetic(size, seed=size, uniform=args.uniform)
            queries = queries_near(vectors, max(args.queries, args.client_queries), seed=1)
            rows += bench("edge", vectors, queries[: args.queries], Path(tmp))
            if size <= args.client_max:
                rows += bench("client", vectors, queries[: args.client_queries], Path(tmp))
    print()
    data = "uniform" if args.uniform else "clustered"
    print(f"{data} {DIM}-d vectors, k={K}, filter = 1 language of {len(LANGUAGES)}")
    print(
        format_table(
            ["backend", "points", "filter", "p50 ms", "p95 ms", f"recall@{K}", "load s", "optimize s"],
            [
                [
                    r.backend,
                    r.points,
                    "language" if r.filtered else "none",
                    r.p50_ms,
                    r.p95_ms,
                    r.recall,
                    r.load_s,
                    r.optimize_s,
                ]
                for r in rows
            ],
        )
    )
    print()
    print(format_table(["points", "filter", "client/edge p50", "client/edge p95"], ratio_rows(rows)))


if __name__ == "__main__":
    main()
