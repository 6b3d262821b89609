"""The offline models side by side, in one run: quality on an XQuAD subset, cross-lingual, speed, size.

Why: the Compare and Evaluate tabs offer three offline models (multilingual-e5-small,
USE multilingual v3, and m2v-e5-small, distilled from e5-small); this prints what each
costs and earns, measured in the same run so the speed columns share a machine and a
moment. Each table goes through the app's own evaluation path (SearchApp.evaluate:
chunking, embedding, the store, ranx), embeddings always computed (no cache).

* same-language XQuAD (MTEB XQuADRetrieval protocol) per language, with the published
  MTEB mean of the model's original weights where one exists;
* cross-lingual XQuAD: questions in each language -> the English paragraphs;
* encoding speed on the same texts: XQuAD questions (sentences) and paragraphs per second,
  e5-small on ONNX Runtime as the baseline;
* the distilled model: distillation seconds (from its build marker), size on disk vs e5-small.

    python -m benchmarks.models --cache-dir ~/.cache/multilingual-search
    python -m benchmarks.models --langs de,en --limit 20 --speed-texts 100   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import evaldata_dir, format_table
from indexer.service import FolderIndexer
from search.application.evaluating import PipelineSpec
from search.application.search_app import SearchApp
from search.core.settings import Settings
from search.core.types import QuerySet
from search.evaluation.leaderboard import ReferenceScores
from search.evaluation.report import EvalReport
from search.evaluation.xquad import read_xquad, xquad_cross_lingual, xquad_same_language

OFFLINE_MODELS = ("multilingual-e5-small", "use-multilingual-v3", "m2v-e5-small")


def folder_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)


def evaluate(app: SearchApp, queryset: QuerySet, models: Sequence[str]) -> EvalReport:
    return app.evaluate(queryset, [PipelineSpec(model=m) for m in models])


def same_language(app: SearchApp, models: Sequence[str], langs: Sequence[str], limit: int | None) -> dict:
    evaldata = evaldata_dir()
    out: dict[str, dict[str, Any]] = {m: {"ndcg@10": {}, "recall@10": {}, "mrr@10": {}} for m in models}
    speed: dict[str, list[tuple[float, float]]] = {m: [] for m in models}
    significance: dict[str, list[str]] = {m: [] for m in models[1:]}
    for lang in langs:
        report = evaluate(app, xquad_same_language(evaldata, lang, limit=limit), models)
        for m in models:
            for metric in ("ndcg@10", "recall@10", "mrr@10"):
                out[m][metric][lang] = report.overall[m][metric]
            details = report.details[m]
            speed[m].append((float(details.get("documents_per_second") or 0), report.latency[m].p50_ms))
        for m in models[1:]:
            c = report.comparison(models[0], m)
            if c is not None:
                significance[m].append(f"{lang} {c.delta:+.3f}{'*' if c.significant else ''}")
    for m in models:
        out[m]["docs_per_s"] = round(statistics.mean(s for s, _ in speed[m]), 1)
        out[m]["query_ms"] = round(statistics.mean(q for _, q in speed[m]), 1)
    return {"scores": out, "significance": significance}


def cross_lingual(app: SearchApp, models: Sequence[str], langs: Sequence[str], limit: int | None) -> dict:
    queryset = xquad_cross_lingual(evaldata_dir(), langs, ["en"], limit=limit)
    report = evaluate(app, queryset, models)
    rows = {}
    for m in models:
        c = report.comparison(models[0], m) if m != models[0] else None
        rows[m] = {
            "ndcg@10": report.overall[m]["ndcg@10"],
            "recall@1": report.overall[m]["recall@1"],
            "by_language": {
                lang: report.by_query_language[lang][m]["ndcg@10"] for lang in report.by_query_language
            },
            "vs_first": None if c is None else f"{c.delta:+.3f} p={c.p:.3g} (Holm)",
        }
    return rows


def speed(app: SearchApp, models: Sequence[str], n_texts: int) -> dict:
    """Texts per second on the same questions and paragraphs; e5-small on ONNX Runtime is the baseline."""
    from search.models.backends import Backend
    from search.models.loading import load_embedder

    evaldata = evaldata_dir()
    paragraphs: list[str] = []
    questions: list[str] = []
    for lang in ("en", "de", "zh", "ar"):
        for p in read_xquad(evaldata, lang):
            paragraphs.append(p.context)
            questions.extend(text for _, text in p.questions)
    paragraphs, questions = paragraphs[:n_texts], questions[:n_texts]
    runs: list[tuple[str, Backend]] = [(m, "auto") for m in models]
    if "multilingual-e5-small" in models:
        runs.insert(0, ("multilingual-e5-small", "onnx"))
    results = {}
    for model, backend in runs:
        embedder = load_embedder(model, cache_dir=app.settings.cache_dir, backend=backend)
        embedder.encode_documents(paragraphs[:8])  # warm up
        row = {}
        for name, texts, fn in (
            ("sentences_per_s", questions, embedder.encode_queries),
            ("paragraphs_per_s", paragraphs, embedder.encode_documents),
        ):
            t0 = time.perf_counter()
            fn(texts)
            row[name] = round(len(texts) / (time.perf_counter() - t0), 1)
        results[f"{model}" + (" (onnx)" if backend == "onnx" else "")] = row
    return results


def distilled_facts(app: SearchApp) -> dict:
    from search.models.encoders.bundled import bundled_model_dir
    from search.models.encoders.static import MARKER_FILENAME, DistillationMarker, distilled_dir

    spec = app.services.spec("m2v-e5-small")
    folder = distilled_dir(spec, app.settings.cache_dir)
    marker = DistillationMarker.read(folder / MARKER_FILENAME)
    return {
        "distill_seconds": marker.seconds if marker else None,
        "vocabulary": marker.vocabulary if marker else None,
        "m2v_mb": folder_mb(folder) if folder.is_dir() else None,
        "e5_small_mb": folder_mb(bundled_model_dir(app.settings.cache_dir)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(OFFLINE_MODELS))
    parser.add_argument("--langs", default="ar,de,en,hi,th,zh", help="same-language XQuAD languages")
    parser.add_argument("--cross-langs", default="ar,de,zh", help="question languages -> English paragraphs")
    parser.add_argument("--limit", type=int, help="paragraphs per language (default: all 240)")
    parser.add_argument("--speed-texts", type=int, default=1000)
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    langs = [lang for lang in args.langs.split(",") if lang]
    with tempfile.TemporaryDirectory(prefix="mlsearch-models-") as tmp:
        settings = Settings(data_dir=Path(tmp), embedding_cache=False).with_overrides(
            cache_dir=args.cache_dir
        )
        app = SearchApp.build(settings, indexer_factory=FolderIndexer)
        try:
            started = time.perf_counter()
            figures: dict[str, Any] = {"models": models}
            figures["xquad_same"] = same_language(app, models, langs, args.limit)
            figures["xquad_cross"] = cross_lingual(app, models, args.cross_langs.split(","), args.limit)
            figures["speed"] = speed(app, models, args.speed_texts)
            if "m2v-e5-small" in models:
                figures["distilled"] = distilled_facts(app)
            figures["seconds"] = round(time.perf_counter() - started, 1)
            mteb_names = {
                m: app.services.spec(m).mteb_name for m in models
            }  # as the app's leaderboard maps them
        finally:
            app.close()
    reference = ReferenceScores.read(evaldata_dir() / "reference_scores")
    same = figures["xquad_same"]["scores"]
    rows = []
    for m in models:
        ndcg = same[m]["ndcg@10"]
        published = reference.ndcg10(mteb_names[m], "XQuADRetrieval") if mteb_names[m] else None
        rows.append(
            [m, *(f"{ndcg[lang]:.3f}" for lang in langs), f"{statistics.mean(ndcg.values()):.3f}",
             f"{statistics.mean(same[m]['recall@10'].values()):.3f}", f"{statistics.mean(same[m]['mrr@10'].values()):.3f}",
             same[m]["docs_per_s"], same[m]["query_ms"], "" if published is None else f"{published[0] / 100:.3f}"]
        )  # fmt: skip
    print(f"XQuAD same-language nDCG@10 ({args.limit or 240} paragraphs per language)")
    print(format_table(["model", *langs, "mean", "R@10", "MRR@10", "docs/s", "query ms", "MTEB mean"], rows))
    print("paired t-test vs", models[0], figures["xquad_same"]["significance"])
    cross = figures["xquad_cross"]
    print("\nXQuAD cross-lingual: questions in", args.cross_langs, "-> English paragraphs")
    print(format_table(["model", "nDCG@10", "R@1", "vs first"],
                       [[m, f"{cross[m]['ndcg@10']:.3f}", f"{cross[m]['recall@1']:.3f}", cross[m]["vs_first"] or ""]
                        for m in models]))  # fmt: skip
    print("\nEncoding speed (texts/s, same texts, one run)")
    sp = figures["speed"]
    print(format_table(["model", "sentences/s", "paragraphs/s"],
                       [[m, r["sentences_per_s"], r["paragraphs_per_s"]] for m, r in sp.items()]))  # fmt: skip
    if "distilled" in figures:
        print("\nDistilled model:", figures["distilled"])
    print(f"\n{figures['seconds']} s in all")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
