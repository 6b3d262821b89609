"""Cost of the "raw" variant of a corrected collection (search.retrieval.raw_scan) against the store's search.

Why: Search and Compare can search a collection written with the language correction as the
model's raw vectors. Those are not in the store: the scan recovers them from the stored
vectors (once per collection state) and scores every chunk exactly. This measures that first
build, a warm scan's latency and its memory against the store's own dense search of the same
collection, in the same run (synthetic clustered 384-d points, 10 languages, the embedded store
after optimize).

    python -m benchmarks.raw_scan                  # 10k and 50k points
    python -m benchmarks.raw_scan --points 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.common import format_table
from benchmarks.store_latency import (
    DIM,
    LANGUAGE_SHARES,
    META,
    NAME,
    build,
    open_backend,
    percentiles,
    point_id,
    queries_near,
    synthetic_points,
)
from search.models.language_bias import LanguageCentering, raw_vectors
from search.retrieval.raw_scan import RawScan
from search.stores.base import StoreQuery, search_one

K = 10


def toy_correction(seed: int = 7) -> LanguageCentering:
    """Language means of a realistic size (|mean| ~0.3 of a unit vector, as e5's reference means)."""
    rng = np.random.default_rng(seed)
    means = {}
    for language in LANGUAGE_SHARES:
        vector = rng.standard_normal(DIM).astype(np.float32)
        means[language] = 0.3 * vector / np.linalg.norm(vector)
    fallback = np.mean(list(means.values()), axis=0).astype(np.float32)
    return LanguageCentering("centering-v1:toy", means, fallback, fallback, languages=tuple(means))


def run(n: int, queries: int, workdir: Path) -> list[object]:
    points = synthetic_points(n, seed=3)
    store = open_backend("edge", workdir / f"edge-{n}")
    build(store, points)
    correction = toy_correction()
    query_vectors = queries_near(points.vectors, queries, seed=5)
    meta = store.get_meta(NAME) or META
    scan = RawScan(store, NAME, correction)
    started = time.perf_counter()
    first = scan.search_batch([query_vectors[0]], K, None, meta)
    build_s = time.perf_counter() - started
    scan_times, store_times = [], []
    for query in query_vectors:
        t0 = time.perf_counter()
        scan.search_batch([query], K, None, meta)
        scan_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        search_one(store, NAME, StoreQuery(dense=query), K)
        store_times.append(time.perf_counter() - t0)
    # The scan's top 10 against numpy over the same recovered vectors: the same chunks.
    means = np.stack([correction.prior(str(lang)) for lang in points.languages])
    raw = raw_vectors(points.vectors, means)
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    truth = {point_id(int(i)) for i in np.argsort(-(raw @ query_vectors[0]))[:K]}
    same = len(truth & {p.id for p in first[0]}) / K
    scan_p50, scan_p95 = percentiles(scan_times)
    store_p50, _ = percentiles(store_times)
    store.close()
    return [
        n,
        round(build_s, 2),
        round(n * DIM * 4 / 2**20, 1),
        round(scan_p50, 2),
        round(scan_p95, 2),
        round(store_p50, 2),
        round(scan_p50 / store_p50, 2),
        same,
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, action="append", help="collection sizes (default 10000, 50000)")
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="raw-scan-") as folder:
        for n in args.points or (10_000, 50_000):
            rows.append(run(n, args.queries, Path(folder)))
    print(
        format_table(
            [
                "points",
                "first raw search s (recover)",
                "matrix MB",
                "raw scan p50 ms",
                "p95 ms",
                "store dense p50 ms",
                "raw / store",
                "top-10 = numpy",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
