"""How well the relevance cue ("strong / weak / no clear match") separates relevant from irrelevant hits.

Runs every query of the sample query set through ``SearchApp`` (what the CLI and UI show:
dense, the collection's language correction and feedback included), top 10, and labels each
hit relevant when the query's qrels grade its file >= 1. Prints, per margin threshold, the
share of hits above it that are relevant (precision) and the share of relevant hits it keeps
(recall), the ROC AUC of the margin and of the raw score, and what nonsense queries that are
not among the probes get. The thresholds in search/retrieval/relevance.py come from this table.

    python -m benchmarks.relevance_cue --data-dir D --cache-dir C   # a collection of sample_corpora/documents
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from benchmarks.common import REPO, format_table
from search.application.search_app import SearchApp
from search.application.searching import make_request
from search.core.settings import Settings
from search.evaluation.querysets import load_queryset
from search.retrieval.relevance import NONSENSE_LIKENESS, STRONG_MARGIN, WEAK_MARGIN

QUERYSET = REPO / "sample_corpora" / "queryset"
# Meaningless queries that are not among the probes (held out): what the issue reported as 0.81-0.83.
NONSENSE = ("a" * 3000, "🙂🙂🙂🙂🙂", "asdf jkl", "!!!! ????", "xyzzy plugh", "ooooo", "ыыы", "嗯嗯嗯")


def auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a relevant hit outranks an irrelevant one (ties count half)."""
    if not positives or not negatives:
        return float("nan")
    ordered = sorted([(v, 1) for v in positives] + [(v, 0) for v in negatives])
    rank_sum, i = 0.0, 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j][0] == ordered[i][0]:
            j += 1
        average = (i + j + 1) / 2
        rank_sum += average * sum(label for _, label in ordered[i:j])
        i = j
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--collection")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--mode", default="dense", choices=("dense", "sparse", "hybrid"))
    args = parser.parse_args()

    queryset = load_queryset(QUERYSET)
    queries, qrels = list(queryset.queries.values()), queryset.qrels

    app = SearchApp.build(Settings(data_dir=args.data_dir, cache_dir=args.cache_dir))
    try:
        collection = args.collection or app.default_collection()
        assert collection, "no collection: index sample_corpora/documents first"
        floor = app.noise_floor(collection)
        margins: list[tuple[float, float, bool]] = []  # (margin, score, relevant)
        top1_cues: dict[str, int] = defaultdict(int)
        likeness: list[float] = []
        cues: list[tuple[str, bool]] = []
        for query in queries:
            request = make_request(query.text, collection, None, args.k, args.mode, None, "off")
            outcome = app.search(request)
            likeness.append(floor.likeness(outcome.result.query_vector))
            for rank, hit in enumerate(outcome.result.hits):
                judged = qrels.get(query.qid, {}).get(hit.relpath, 0) >= 1
                margins.append((floor.margin(hit.score), hit.score, judged))
                cues.append((outcome.cues[rank], judged))
                if rank == 0:
                    top1_cues[outcome.cues[0]] += 1
        nonsense = []
        for text in NONSENSE:
            outcome = app.search(make_request(text, collection, None, 3, args.mode, None, "off"))
            if not outcome.result.hits:  # sparse: no shared term, no result at all
                nonsense.append([text[:12] + ("…" if len(text) > 12 else ""), "-", "-", "-", "no results"])
                continue
            hit = outcome.result.hits[0]
            nonsense.append([text[:12] + ("…" if len(text) > 12 else ""), f"{hit.score:.3f}",
                             f"{floor.margin(hit.score):.1f}",
                             f"{floor.likeness(outcome.result.query_vector):.3f}", outcome.cues[0]])  # fmt: skip
    finally:
        app.close()

    relevant = [m for m, _, r in margins if r]
    irrelevant = [m for m, _, r in margins if not r]
    print(
        f"mode {args.mode} (the margin table reads raw scores: meaningful for dense only; the cue bands for every mode)"
    )
    print(f"collection {collection}: noise floor mean {floor.mean:.3f}, spread {floor.spread:.4f}")
    print(
        f"thresholds: strong margin >= {STRONG_MARGIN}, weak >= {WEAK_MARGIN}, nonsense likeness >= {NONSENSE_LIKENESS}"
    )
    print(
        f"{len(queries)} queries, top {args.k}: {len(relevant)} relevant and {len(irrelevant)} irrelevant hits"
    )
    print(
        f"ROC AUC relevant vs irrelevant: margin {auc(relevant, irrelevant):.3f}, "
        f"raw score {auc([s for _, s, r in margins if r], [s for _, s, r in margins if not r]):.3f}"
    )
    rows = []
    for threshold in (-2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 2):
        above = [r for m, _, r in margins if m >= threshold]
        precision = sum(above) / len(above) if above else float("nan")
        recall = sum(above) / len(relevant) if relevant else float("nan")
        share_irrelevant = sum(1 for m in irrelevant if m >= threshold) / len(irrelevant) if irrelevant else 0
        rows.append([threshold, len(above), f"{precision:.2f}", f"{recall:.2f}", f"{share_irrelevant:.2f}"])
    print(format_table(["margin >=", "hits", "precision", "recall", "irrelevant kept"], rows))
    for name in ("strong", "weak", "none"):
        band = [judged for cue, judged in cues if cue == name]
        share = sum(band) / len(band) if band else float("nan")
        kept = sum(band) / len(relevant) if relevant else float("nan")
        print(f"  {name:6s}: {len(band):4d} hits, {share:.0%} relevant, {kept:.0%} of all relevant hits")
    ordered = sorted(likeness)
    print(
        f"likeness of real queries to the probes: median {ordered[len(ordered) // 2]:.3f}, "
        f"max {ordered[-1]:.3f}; {sum(v >= NONSENSE_LIKENESS for v in ordered)} of {len(ordered)} "
        f"at or above the nonsense threshold {NONSENSE_LIKENESS}"
    )
    print("top hit of each query:", dict(top1_cues))
    print(format_table(["nonsense query", "score", "margin", "likeness", "cue"], nonsense))


if __name__ == "__main__":
    main()
