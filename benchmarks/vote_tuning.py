"""Choose the cross-lingual vote's weights on XQuAD's development articles, report them on the test ones.

Why: the vote's weight, its number of voters and its temperature were chosen on the sets
their gains were reported on (issue 22). This runs the app's evaluation path (the corpus
indexed by ``EvalWorkspace`` with the model's language correction, queries through
``Searcher.search_batch``, scored by ranx) on one half of XQuAD's articles
(benchmarks.splits: ``dev`` 0-23, ``test`` 24-47) for each setting of a grid, and prints
the table; the setting with the best mean of the two development scores is the choice, and
``--split test`` reports the chosen and the current default on the other half.

Sets (a language mix is where the vote acts; it never runs in a one-language collection):
* ``pool``: XQuAD paragraphs of 6 languages at once (ar de en hi ru zh), any translation
  of the question's paragraph relevant; nDCG@10;
* ``xquad-r``: XQuAD-R's answer sentences of 11 languages, the answer sentence in each
  language relevant; mAP@20.

    python -m benchmarks.vote_tuning --split dev                    # the grid, on articles 0-23
    python -m benchmarks.vote_tuning --split test --grid "0.4:5:0.01"   # a setting, on articles 24-47
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import evaldata_dir, format_table
from benchmarks.splits import SPLITS, article_split
from indexer.service import FolderIndexer
from search.application.evaluating import EvalWorkspace, PipelineSpec, chunk_depth, run_pipeline
from search.application.services import Services
from search.core.settings import Settings
from search.core.types import QuerySet
from search.evaluation.metrics import evaluate
from search.evaluation.xquad import xquad_cross_lingual, xquad_r
from search.retrieval.searcher import Searcher
from search.space.feedback import DEFAULT_FEEDBACK, Feedback

POOL = ("ar", "de", "en", "hi", "ru", "zh")
XQUAD_R = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
METRICS = ("ndcg@10", "hit_rate@1", "map@20")
GRID = "none," + ",".join(
    f"{w}:{top}:{t}" for w, top, t in itertools.product((0.2, 0.3, 0.4, 0.6), (1, 3, 5, 10), (0.01, 0.05))
)


def parse_setting(text: str) -> Feedback | None:
    if text == "none":
        return None
    weight, top, temperature = text.split(":")
    return Feedback(weight=float(weight), top=int(top), temperature=float(temperature))


def scores(
    services: Services, workspace: EvalWorkspace, queryset: QuerySet, settings: Sequence[Feedback | None]
) -> list[dict[str, float]]:
    """Each setting's overall scores on ``queryset``: one index, one query embedding, one search per setting."""
    space = dataclasses.replace(services.space(document=True), sparse=None)
    embedder = space.embedder
    corpus = workspace.indexed(queryset, space)
    meta = workspace.store.get_meta(corpus.collection)
    assert meta is not None
    queries = [q for qid, q in queryset.queries.items() if queryset.qrels.get(qid)]
    vectors = embedder.encode_queries([q.text for q in queries])
    depth = chunk_depth(100, corpus.chunks, corpus.documents)
    out = []
    for feedback in settings:
        searcher = Searcher(
            workspace.store,
            corpus.collection,
            dataclasses.replace(space, feedback=feedback),
            meta=dataclasses.replace(meta, feedback=feedback.name if feedback else None),
        )
        run, _ = run_pipeline(
            searcher, queries, PipelineSpec(embedder.spec.name), None, depth, 100, vectors=vectors
        )
        report = evaluate(queryset, {"run": run}, METRICS)
        out.append(dict(report.overall["run"]))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", choices=SPLITS, default="dev")
    parser.add_argument(
        "--grid", default=GRID, help="settings weight:top:temperature, comma-separated ('none': no vote)"
    )
    parser.add_argument("--cache-dir", type=Path, help="model and embedding cache (default: the app's)")
    args = parser.parse_args(argv)
    evaldata = evaldata_dir()
    labels = args.grid.split(",")
    settings = [parse_setting(label) for label in labels]
    sets = {
        "pool": article_split(xquad_cross_lingual(evaldata, POOL, POOL), args.split),
        "xquad-r": article_split(xquad_r(evaldata, XQUAD_R, XQUAD_R), args.split),
    }
    with tempfile.TemporaryDirectory(prefix="vote-tuning-") as tmp:
        services = Services.build(
            Settings(data_dir=Path(tmp), backend_planning="later").with_overrides(cache_dir=args.cache_dir)
        )
        try:
            with EvalWorkspace(FolderIndexer()) as workspace:
                results = {name: scores(services, workspace, qs, settings) for name, qs in sets.items()}
        finally:
            services.close()
    rows = []
    for i, label in enumerate(labels):
        pool, xr = results["pool"][i], results["xquad-r"][i]
        objective = statistics.fmean([pool["ndcg@10"], xr["map@20"]])
        setting = settings[i]
        default = " (default)" if setting is not None and setting.name == DEFAULT_FEEDBACK.name else ""
        rows.append(
            [
                label + default,
                100 * pool["ndcg@10"],
                100 * pool["hit_rate@1"],
                100 * xr["map@20"],
                100 * objective,
            ]
        )
    rows.sort(key=lambda row: -float(row[4]))  # type: ignore[arg-type]
    print(
        f"XQuAD articles: {args.split}; {', '.join(f'{n}: {len(q.queries)} queries, {len(q.corpus)} documents' for n, q in sets.items())}"
    )
    print(
        format_table(
            [
                "vote weight:top:temperature",
                "pool nDCG@10",
                "pool any translation @1 %",
                "XQuAD-R mAP@20",
                "mean of the two",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
