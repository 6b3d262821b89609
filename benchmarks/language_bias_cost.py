"""What the language correction costs: query latency and indexing throughput, with and without it.

Why: issue 12 asks for the correction to leave query p50 and indexing throughput
unchanged within noise. Per document the correction is one vector subtraction;
per query it is one subtraction plus the feedback's re-scoring of 100 candidates
returned with their vectors (search.retrieval.feedback), instead of 10 without.
This measures both through the app (SearchApp, the embedded store, the default
model), in one process and one run, the two settings alternating round by round
so that load on the machine hits both alike:

* indexing: a generated folder (benchmarks.gen_corpus) into a fresh collection per
  round and setting, the embedding cache off, chunks/s of the whole run;
* search: the sample query set (122 queries, 15 languages) against the sample
  corpus, dense mode, k=10; p50/p90 of the app's own end-to-end time per query.

    python -m benchmarks.language_bias_cost [--files 120] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from benchmarks.common import REPO, format_table
from benchmarks.gen_corpus import generate
from search.application.search_app import SearchApp
from search.application.searching import SearchRequest
from search.core.settings import Settings
from search.evaluation.querysets import load_queryset

SETTINGS = {False: "raw (before)", True: "corrected"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=120, help="generated files indexed per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, help="model cache (default: the app's)")
    args = parser.parse_args()
    queries = [q.text for q in load_queryset(REPO / "sample_corpora" / "queryset").queries.values()]
    with tempfile.TemporaryDirectory(prefix="correction-cost-") as tmp:
        root = Path(tmp)
        folder = generate(root / "docs", args.files).root
        base = Settings(embedding_cache=False).with_overrides(cache_dir=args.cache_dir)
        apps = {
            c: SearchApp.build(base.with_overrides(data_dir=root / f"data-{c}", language_correction=c))
            for c in SETTINGS
        }
        rates: dict[bool, list[float]] = {c: [] for c in SETTINGS}
        latency: dict[bool, list[float]] = {c: [] for c in SETTINGS}
        try:
            for corrected, app in apps.items():  # warm: model loaded, sample collection built
                app.index_folder(REPO / "sample_corpora" / "documents", collection=f"sample-{corrected}")
                app.search(SearchRequest(queries[0], f"sample-{corrected}"))
            for round_ in range(args.rounds):
                for corrected, app in apps.items():
                    report = app.index_folder(folder, collection=f"gen-{corrected}-{round_}")
                    rates[corrected].append(report.chunks_written / report.timings["total"])
                    for text in queries:
                        outcome = app.search(SearchRequest(text, f"sample-{corrected}"))
                        latency[corrected].append(outcome.result.timings_ms["total"])
        finally:
            for app in apps.values():
                app.close()
    rate = {c: statistics.median(rates[c]) for c in SETTINGS}
    p50 = {c: statistics.median(latency[c]) for c in SETTINGS}
    p90 = {c: sorted(latency[c])[int(0.9 * (len(latency[c]) - 1))] for c in SETTINGS}
    rows = [[label, rate[c], p50[c], p90[c]] for c, label in SETTINGS.items()]
    print(
        f"{args.files} generated files x {args.rounds} rounds; {len(queries)} queries x {args.rounds} rounds"
    )
    print(format_table(["vectors", "index chunks/s (median)", "query p50 ms", "query p90 ms"], rows))
    print(
        f"corrected / raw: indexing {rate[True] / rate[False]:.3f}x, query p50 {p50[True] / p50[False]:.3f}x"
    )


if __name__ == "__main__":
    main()
