"""What the language handling costs: indexing throughput and query latency, against another checkout.

Why: issue 22 asks for the new language identification (prose filter, script vote, lingua's
second opinion) and the language means fitted to each collection (refit and re-correction
after each run) to keep indexing throughput and query p50 within 1.2x of the code before.
Both checkouts run the same script, each round in a fresh process of its own (imports, model
load and a warm-up index of the sample corpus happen before anything is timed), alternating
round by round so load on the machine hits both alike:

* indexing: a generated folder (benchmarks.gen_corpus, 14 languages, 7 formats) into a fresh
  collection of the embedded store, the embedding cache off; chunks/s of the whole run as the
  report times it (extraction, language identification, chunking, embedding, writing, the
  refit of the language means and the HNSW build);
* search: the sample query set against the sample corpus,
  dense mode, k=10; p50/p90 of the app's own end-to-end time per query (its language read).

The language correction is on in both (each checkout's default). Without ``--baseline`` this
checkout is compared with itself, correction off ("raw") and on.

    python -m benchmarks.language_bias_cost --baseline ../main --rounds 3     # the README's ratio
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, format_table, run_json_child
from benchmarks.gen_corpus import generate

# Runs inside each checkout (PYTHONPATH = that checkout): only APIs both sides have.
DRIVER = r"""
import json, sys, time
from pathlib import Path
from search.application.search_app import SearchApp
from search.application.searching import SearchRequest
from search.core.settings import Settings
from search.evaluation.querysets import load_queryset

folder, data, cache, sample, corrected = sys.argv[1:6]
settings = Settings(embedding_cache=False, data_dir=Path(data), cache_dir=Path(cache),
                    language_correction=corrected == "1")
try:
    from indexer.service import FolderIndexer
except ModuleNotFoundError as missing:  # a checkout from before the app was given its indexer (main before issue 22)
    if missing.name != "indexer.service":
        raise
    app = SearchApp.build(settings)
else:
    app = SearchApp.build(settings, indexer_factory=FolderIndexer)
queries = [q.text for q in load_queryset(Path(sample) / "queryset").queries.values()]
try:
    app.index_folder(Path(sample) / "documents", collection="sample")
    app.search(SearchRequest(queries[0], "sample"))
    report = app.index_folder(Path(folder), collection="generated")
    latency = []
    for text in queries:
        latency.append(app.search(SearchRequest(text, "sample")).result.timings_ms["total"])
finally:
    app.close()
print(json.dumps({"chunks": report.chunks_written, "seconds": report.timings["total"],
                  "timings": report.timings, "latency": latency}))
"""


def one_round(repo: Path, folder: Path, data: Path, cache: Path, corrected: bool) -> dict[str, Any]:
    args = [str(folder), str(data), str(cache), str(REPO / "sample_corpora"), "1" if corrected else "0"]
    return run_json_child(DRIVER, args, repo, str(repo))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", type=Path, help="the checkout before (e.g. ../main)")
    parser.add_argument("--files", type=int, default=120, help="generated files indexed per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--cache-dir", type=Path, help="model cache shared by both (default: a temporary one)"
    )
    args = parser.parse_args()
    if args.baseline:
        setups = [("before (baseline)", args.baseline.resolve(), True), ("this checkout", REPO, True)]
    else:
        setups = [("raw (correction off)", REPO, False), ("this checkout", REPO, True)]
    with tempfile.TemporaryDirectory(prefix="correction-cost-") as tmp:
        root = Path(tmp)
        folder = generate(root / "docs", args.files).root
        cache = args.cache_dir or root / "cache"
        results: dict[str, list[dict[str, object]]] = {name: [] for name, _, _ in setups}
        for round_ in range(args.rounds):
            for i, (name, repo, corrected) in enumerate(setups):
                data = root / f"data-{i}-{round_}"
                results[name].append(one_round(repo, folder, data, cache, corrected))
                print(f"  round {round_ + 1}: {name} done", file=sys.stderr, flush=True)
    rows = []
    rate: dict[str, float] = {}
    p50: dict[str, float] = {}
    for name, runs in results.items():
        rates = [float(r["chunks"]) / float(r["seconds"]) for r in runs]  # type: ignore[arg-type]
        latency = sorted(float(x) for r in runs for x in r["latency"])  # type: ignore[attr-defined]
        rate[name] = statistics.median(rates)
        p50[name] = statistics.median(latency)
        recenter = statistics.median(float(r["timings"].get("recenter", 0.0)) for r in runs)  # type: ignore[attr-defined]
        chunk = statistics.median(float(r["timings"].get("chunk", 0.0)) for r in runs)  # type: ignore[attr-defined]
        rows.append(
            [
                name,
                runs[0]["chunks"],
                rate[name],
                chunk,
                recenter,
                p50[name],
                latency[int(0.9 * (len(latency) - 1))],
            ]
        )
    queries = len(next(iter(results.values()))[0]["latency"])  # type: ignore[arg-type]
    print(
        f"{args.files} generated files x {args.rounds} rounds; {queries} sample queries x {args.rounds} rounds"
    )
    print(
        format_table(
            [
                "setup",
                "chunks",
                "index chunks/s (median)",
                "chunk stage s",
                "recenter s",
                "query p50 ms",
                "query p90 ms",
            ],
            rows,
        )
    )
    first, last = (name for name, _, _ in (setups[0], setups[-1]))
    print(
        f"{last} / {first}: indexing {rate[first] / rate[last]:.3f}x the time per chunk, "
        f"query p50 {p50[last] / p50[first]:.3f}x"
    )


if __name__ == "__main__":
    main()
