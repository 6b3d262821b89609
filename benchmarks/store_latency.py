"""Query latency of EdgeStore (after optimize) and ClientStore local mode on synthetic 384-d points.

Why: the embedded default has to stay interactive at desktop scale, and qdrant-client's
local mode (exact brute force in Python/numpy) is the alternative users would reach for.
Both run in this process on the same vectors, so the ratio is a same-run comparison.
Recall@10 against an exact numpy search keeps the speed honest. The end-to-end
latency with the real query model is measured by benchmarks/query_latency.py,
which builds its collections with the helpers here.

    python -m benchmarks.store_latency               # 10k and 100k points
    python -m benchmarks.store_latency --large       # adds 300k (edge only unless --client-max)
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import format_table
from search.stores.base import CollectionMeta, Point, SearchFilter, StoreQuery, VectorStore, search_one
from search.stores.client import ClientStore
from search.stores.edge import EdgeStore

DIM = 384
# Chunk languages of a multilingual desktop index: a long tail behind English (shares sum to 1).
LANGUAGE_SHARES: Mapping[str, float] = {
    "en": 0.30, "de": 0.12, "fr": 0.10, "es": 0.10, "zh": 0.08,
    "ja": 0.07, "ru": 0.07, "ar": 0.06, "hi": 0.05, "ko": 0.05,
}  # fmt: skip
FILTER_LANGUAGE = "de"  # keeps ~12 % of the points: a graph search, not the exact small-filter path
FILTER = SearchFilter(languages=(FILTER_LANGUAGE,))
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
FILLER = "synthetic chunk text of a realistic length " * 20  # ~870 characters, like a 256-token chunk


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


@dataclass(frozen=True)
class Synthetic:
    """Points to load: unit vectors and each point's chunk language."""

    vectors: np.ndarray  # [n, DIM] float32, L2-normalised
    languages: np.ndarray  # [n] language codes

    def __len__(self) -> int:
        return len(self.vectors)

    def keep(self, flt: SearchFilter | None) -> np.ndarray | None:
        """Which points a language filter keeps (None: all)."""
        return None if flt is None else np.isin(self.languages, list(flt.languages))


def point_id(i: int) -> str:
    return str(uuid.UUID(int=i + 1))


def synthetic(n: int, seed: int, uniform: bool = False) -> np.ndarray:
    """Clustered like text embeddings (topics), or uniform on the sphere: the graph index's worst case."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((n, DIM)).astype(np.float32)
    if not uniform:
        centres = rng.standard_normal((max(1, n // CLUSTER_SIZE), DIM)).astype(np.float32)
        rows += centres[rng.integers(0, len(centres), n)]  # cosine ~0.5 within a cluster
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def synthetic_points(n: int, seed: int, uniform: bool = False) -> Synthetic:
    rng = np.random.default_rng(seed + 1)
    codes = np.array(list(LANGUAGE_SHARES))
    shares = np.array(list(LANGUAGE_SHARES.values()))
    return Synthetic(synthetic(n, seed, uniform), rng.choice(codes, size=n, p=shares / shares.sum()))


def queries_near(vectors: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Stored vectors moved ~17 degrees in a random direction: queries with real neighbours."""
    rng = np.random.default_rng(seed)
    picked = vectors[rng.integers(0, len(vectors), count)]
    noise = rng.standard_normal(picked.shape).astype(np.float32)
    noisy = picked + 0.3 * noise / np.linalg.norm(noise, axis=1, keepdims=True)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def chunk_like_payload(i: int, language: str, texts: Sequence[str] = ()) -> dict[str, Any]:
    """The fields the indexer stores (search.stores.base.chunk_payload), with text of a chunk's size."""
    doc = i // 8
    return {
        "text": texts[i % len(texts)] if texts else f"{i} {FILLER}",
        "source": f"/bench/folder-{doc // 100:04d}/document-{doc:07d}.pdf",
        "root": "/bench",
        "position": i % 8,
        "page": i % 8 // 2 + 1,
        "language": language,
        "doc_language": language,
        "doc_hash": f"{doc:064x}",
        "n_chunks": 8,
        "heading": f"Heading {doc}",
        "format": "pdf",
    }


def load(
    store: VectorStore,
    points: Synthetic,
    meta: CollectionMeta = META,
    name: str = NAME,
    payload: Callable[[int, str], dict[str, Any]] = chunk_like_payload,
) -> float:
    store.create_collection(name, meta)
    started = time.perf_counter()
    for start in range(0, len(points), LOAD_BATCH):
        stop = min(start + LOAD_BATCH, len(points))
        store.upsert(
            name,
            [
                Point(id=point_id(i), vector=points.vectors[i], payload=payload(i, str(points.languages[i])))
                for i in range(start, stop)
            ],
        )
    return time.perf_counter() - started


def exact_top(points: Synthetic, queries: np.ndarray, flt: SearchFilter | None) -> list[set[str]]:
    """The true top K by cosine, in blocks so 300k points x many queries stays small."""
    keep = points.keep(flt)
    out: list[set[str]] = []
    for start in range(0, len(queries), 64):
        scores = queries[start : start + 64] @ points.vectors.T
        if keep is not None:
            scores[:, ~keep] = -np.inf
        top = np.argpartition(-scores, K, axis=1)[:, :K]
        out += [{point_id(int(i)) for i in row} for row in top]
    return out


def recall(found: Sequence[set[str]], truth: Sequence[set[str]]) -> float:
    return float(np.mean([len(f & t) / K for f, t in zip(found, truth)]))


def percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(np.asarray(seconds) * 1000, [50, 95])
    return float(p50), float(p95)


def measure(
    store: VectorStore, points: Synthetic, queries: np.ndarray, filtered: bool, name: str = NAME
) -> tuple[float, float, float]:
    flt = FILTER if filtered else None
    search_one(store, name, StoreQuery(dense=queries[0]), K, flt)  # warm caches and lazy loading
    latencies, found = [], []
    for query in queries:
        started = time.perf_counter()
        hits = search_one(store, name, StoreQuery(dense=query), K, flt)
        latencies.append(time.perf_counter() - started)
        found.append({h.id for h in hits})
    p50, p95 = percentiles(latencies)
    return p50, p95, recall(found, exact_top(points, queries, flt))


def open_backend(backend: str, workdir: Path) -> VectorStore:
    """edge: the embedded default; client: qdrant-client's local persistent mode (a folder)."""
    workdir.mkdir(parents=True, exist_ok=True)
    if backend == "edge":
        return EdgeStore(workdir / "edge")
    if backend == "client":
        return ClientStore(str(workdir / "client"))
    raise ValueError(f"unknown backend {backend!r}; choose edge or client")


def build(store: VectorStore, points: Synthetic, **load_args: Any) -> tuple[float, float]:
    """Load and optimize; returns (load seconds, optimize seconds)."""
    load_s = load(store, points, **load_args)
    started = time.perf_counter()
    store.optimize(load_args.get("name", NAME))
    return load_s, time.perf_counter() - started


def bench(backend: str, points: Synthetic, queries: np.ndarray, workdir: Path) -> list[Row]:
    store = open_backend(backend, workdir / f"{backend}-{len(points)}")
    try:
        load_s, optimize_s = build(store, points)
        rows = []
        for filtered in (False, True):
            p50, p95, rec = measure(store, points, queries, filtered)
            rows.append(Row(backend, len(points), filtered, p50, p95, rec, load_s, optimize_s))
            print(f"  {backend:6} {len(points):>7} filter={filtered!s:5} p50 {p50:.2f} ms", flush=True)
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


def quiet_local_mode_warning() -> None:
    # qdrant-client warns above 20k points in local mode; measuring that cost is the point here.
    warnings.filterwarnings("ignore", message="Local mode is not recommended")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", help="comma-separated point counts (default 10000,100000)")
    parser.add_argument("--large", action="store_true", help="also measure 300k points")
    parser.add_argument("--uniform", action="store_true", help="uniform random vectors instead of clusters")
    parser.add_argument("--queries", type=int, default=200, help="queries per edge measurement")
    parser.add_argument("--client-queries", type=int, default=30, help="queries per client measurement")
    parser.add_argument(
        "--client-max", type=int, default=100_000, help="skip the brute-force client above this many points"
    )
    args = parser.parse_args(argv)
    quiet_local_mode_warning()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [10_000, 100_000]
    sizes += [300_000] if args.large else []
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="store-latency-") as tmp:
        for size in sizes:
            points = synthetic_points(size, seed=size, uniform=args.uniform)
            queries = queries_near(points.vectors, max(args.queries, args.client_queries), seed=1)
            rows += bench("edge", points, queries[: args.queries], Path(tmp))
            if size <= args.client_max:
                rows += bench("client", points, queries[: args.client_queries], Path(tmp))
    print()
    data = "uniform" if args.uniform else "clustered"
    share = LANGUAGE_SHARES[FILTER_LANGUAGE]
    print(
        f"{data} {DIM}-d vectors, k={K}, filter = language {FILTER_LANGUAGE!r} (~{share:.0%} of the points)"
    )
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
