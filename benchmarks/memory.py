"""Peak memory of the app serving a 100k-chunk collection, against the model alone.

Why: the app runs on desktops next to everything else; the model is a fixed
cost, the index must not add much on top. A collection of synthetic chunks
(clustered 384-d vectors, the indexer's payload fields) is built once in a
temporary data dir and optimized (HNSW). Then fresh processes, one per line
of the table, each report their peak RSS (``ru_maxrss``) after N searches:

* model alone: the default model loaded, N query embeddings (the baseline);
* store alone: the collection opened, N searches with random query vectors;
* app: ``SearchApp.build`` on the data dir, ``app.searcher(...)``, N ``search(text)``
  calls: what ``python app.py`` holds while it serves.

    python -m benchmarks.memory                   # 100k chunks
    python -m benchmarks.memory --chunks 5000     # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import REPO, format_table
from benchmarks.store_latency import build, synthetic_points
from search.application.services import default_collection
from search.core.paths import default_cache_dir
from search.models.registry import ModelRegistry
from search.models.specs import DEFAULT_MODEL
from search.stores.base import CollectionMeta
from search.stores.edge import EdgeStore

# Runs in a fresh interpreter: argv = mode, data dir, cache dir, searches.
CHILD = """
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[5])
mode, data_dir, cache_dir, searches = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
from pathlib import Path
import psutil
texts = [json.loads(line)["text"] for line in open(sys.argv[6], encoding="utf-8") if line.strip()]
texts = (texts * (searches // len(texts) + 1))[:searches]
started = time.perf_counter()
if mode == "model":
    from search.models.loading import load_embedder
    embedder = load_embedder(sys.argv[7], cache_dir=Path(cache_dir))
    for text in texts:
        embedder.encode_queries([text])
elif mode == "store":
    import numpy as np
    from search.stores.base import StoreQuery, search_one
    from search.stores.edge import EdgeStore
    store = EdgeStore(Path(data_dir) / "qdrant")
    rng = np.random.default_rng(0)
    for _ in texts:
        vector = rng.standard_normal(384).astype(np.float32)
        search_one(store, sys.argv[8], StoreQuery(dense=vector / np.linalg.norm(vector)), 10)
    store.close()
else:
    from search.application.search_app import SearchApp
    from search.core.settings import Settings
    app = SearchApp.build(Settings(data_dir=Path(data_dir), cache_dir=Path(cache_dir)))
    searcher = app.searcher(sys.argv[8])
    for text in texts:
        searcher.search(text, k=10)
    app.close()
print(json.dumps({
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "rss_mb": psutil.Process().memory_info().rss / 2**20,
    "seconds": time.perf_counter() - started,
}))
"""

MODES = (("model alone (baseline)", "model"), ("store alone", "store"), ("app: Services + searches", "app"))


def prepare(data_dir: Path, chunks: int) -> str:
    """An optimized collection of ``chunks`` synthetic chunks for the default model; returns its name."""
    spec = ModelRegistry().get(DEFAULT_MODEL)
    name = default_collection(spec.name)
    with EdgeStore(data_dir / "qdrant") as store:
        build(store, synthetic_points(chunks, seed=chunks), meta=CollectionMeta.for_model(spec), name=name)
    return name


def run_child(mode: str, data_dir: Path, cache_dir: Path, searches: int, collection: str) -> dict[str, float]:
    queries = REPO / "sample_corpora" / "queryset" / "queries.jsonl"
    args = [
        mode,
        str(data_dir),
        str(cache_dir),
        str(searches),
        str(REPO),
        str(queries),
        DEFAULT_MODEL,
        collection,
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env, cwd=REPO, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{mode} child failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> list[list[object]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--cache-dir", type=Path, default=None, help="model cache (default: the app's)")
    args = parser.parse_args(argv)
    cache_dir = args.cache_dir or default_cache_dir()
    with tempfile.TemporaryDirectory(prefix="memory-bench-") as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        collection = prepare(data_dir, args.chunks)
        print(f"built {args.chunks} chunks in {time.perf_counter() - started:.0f} s", flush=True)
        results = {mode: run_child(mode, data_dir, cache_dir, args.searches, collection) for _, mode in MODES}
    base = results["model"]["peak_mb"]
    rows: list[list[object]] = [
        [label, results[mode]["peak_mb"], results[mode]["rss_mb"], results[mode]["peak_mb"] - base,
         results[mode]["peak_mb"] / base]
        for label, mode in MODES
    ]  # fmt: skip
    print()
    print(f"{args.chunks} stored chunks (384-d, HNSW), {args.searches} searches per process, {DEFAULT_MODEL}")
    print(format_table(["process", "peak RSS MB", "RSS at end MB", "peak - model MB", "vs model"], rows))
    return rows


if __name__ == "__main__":
    main()
