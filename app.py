"""Multilingual semantic search: `python app.py` opens the UI; subcommands index, search and evaluate.

python app.py                                  # UI on http://127.0.0.1:7860 (--port, --host)
python app.py index ~/Documents/papers         # index (incrementally) with the default model
python app.py search "Wie lernen Bienen?" --lang en,zh -k 5
python app.py eval --queries sample_corpora/queryset --models multilingual-e5-small
python app.py doctor                           # how the model runs on this machine, and why; the OCR engine
python app.py models                           # the models you can pick, and which run here offline
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from search.core.display import safe_json, shown_name, shown_text
from search.core.environment import apply_network_policy, prepare_process
from search.core.errors import user_message
from search.core.settings import Settings
from search.models.backends import BACKENDS

if TYPE_CHECKING:
    from search.application.ports import Indexer
    from search.application.search_app import SearchApp

REPO = Path(__file__).resolve().parent
SAMPLE_CORPORA = REPO / "sample_corpora"
REFERENCE_SCORES = (
    REPO.parent / "shared" / "evaldata" / "reference_scores"
)  # published MTEB figures, if present
EXIT_USER_ERROR = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _serve_options(p: argparse.ArgumentParser, defaults: bool) -> None:
    """UI options, accepted before or after ``serve`` (``python app.py --port 7861`` works too)."""
    default = None if defaults else argparse.SUPPRESS
    p.add_argument("--host", default=default, help="bind address (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=default, help="port of the web UI (default 7860)")
    p.add_argument(
        "--allow-root",
        action="append",
        type=Path,
        default=default,
        help="folder the UI may index and read query sets from, whose indexed documents results may open "
        "(repeatable; nothing else in it is served)",
    )
    p.add_argument(
        "--max-uploads-mb",
        type=int,
        default=default,
        help="room for all files uploaded through the UI together (default 1000 MB)",
    )
    p.add_argument(
        "--no-sample",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="do not index the sample corpora on first launch",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="app.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where the embedded index lives (default: ~/.local/share/multilingual-search)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="converted/downloaded models (default: ~/.cache/multilingual-search)"
    )
    parser.add_argument(
        "--qdrant-url", help="use a Qdrant server or cluster, e.g. http://host:6333 (default: embedded store)"
    )
    parser.add_argument("--qdrant-api-key", default=os.environ.get("QDRANT_API_KEY"))
    parser.add_argument("--shards", type=int, help="shards per new collection (server/cluster)")
    parser.add_argument("--replicas", type=int, help="replication factor per new collection (server/cluster)")
    parser.add_argument("--on-disk", action="store_true", help="keep vectors on disk (server/cluster)")
    parser.add_argument(
        "--quantization", choices=["int8"], help="scalar quantisation of stored vectors (server/cluster)"
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="how models run (default auto: the fastest backend that keeps the vectors, measured once per "
        "model on this machine; app.py doctor shows the choice)",
    )
    parser.add_argument(
        "--allow-downloads", action="store_true", help="allow fetching hub models (off by default)"
    )
    parser.add_argument(
        "--no-embedding-cache",
        action="store_true",
        help="always embed with the model (default: reuse vectors of texts embedded before, kept in the cache dir)",
    )
    parser.add_argument(
        "--ocr-langs",
        help="Tesseract packs for every scanned page and image, e.g. deu+eng or jpn,jpn_vert "
        "(default: chosen per page from the detected script and the installed packs)",
    )
    parser.add_argument(
        "--no-ocr", action="store_true", help="do not read scanned pages and images (they are reported)"
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of unexpected errors")
    _serve_options(parser, defaults=True)
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("index", help="index a folder (incremental: unchanged files are skipped)")
    p.add_argument("folder", type=Path)
    p.add_argument("--model", help="embedding model (default: multilingual-e5-small, bundled)")
    p.add_argument("--collection", help="collection name (default: one per model)")
    p.add_argument("--chunk-tokens", type=int, default=256)
    p.add_argument("--overlap-tokens", type=int, default=32)
    p.add_argument("--max-file-mb", type=float, help="skip text files larger than this")
    p.add_argument(
        "--no-language-correction",
        action="store_true",
        help="a new collection keeps the model's raw vectors (default: the pull toward the query's own "
        "language is corrected where the model's metadata says it helps; recorded per collection)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("search", help="search a collection")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--lang", help="only chunks in these languages, e.g. en,de")
    p.add_argument(
        "--source",
        action="append",
        help="only this file, as results show it (e.g. food/es-paella.pdf) or absolute (repeatable)",
    )
    p.add_argument("--model", help="must be the collection's model (checked)")
    p.add_argument("--collection")
    p.add_argument("--mode", choices=["dense", "sparse", "hybrid"], default="dense")
    p.add_argument("--rerank", help="second stage, e.g. a cross-encoder folder or hub id")
    p.add_argument("--query-lang", help="the query's language, when detection reads it wrong (e.g. de)")
    p.add_argument(
        "--correction",
        choices=("raw", "corrected", "vote"),
        help="search another variant of the collection's vectors: raw (the model's own), corrected (the "
        "language correction, no vote), vote (corrected + the cross-lingual vote); default: what it records",
    )
    p.add_argument(
        "--query-prompt",
        metavar="TEXT",
        help="the text put before the query instead of the model's (e5: 'query: '); for a model with an "
        "instruction template (e5-instruct, Qwen3) the instruction it wraps. Passages keep theirs",
    )
    p.add_argument("--json", action="store_true")

    p = sub.add_parser(
        "eval",
        help="evaluate models/pipelines on a labeled query set",
        description=(
            "Evaluate retrieval pipelines on a labeled query set: a BEIR folder (corpus.jsonl, "
            "queries.jsonl, qrels/<split>.tsv; .jsonl.gz too), this project's layout (qrels.tsv at the "
            "top), or an MTEB retrieval task on disk (corpus, queries and qrels subsets as Parquet or "
            "JSON lines). Languages missing from the files are detected."
        ),
    )
    p.add_argument(
        "--queries",
        type=Path,
        required=True,
        help="query set folder: BEIR, this project's layout, or an MTEB retrieval task",
    )
    p.add_argument("--split", default="test", help="qrels split of a BEIR or MTEB set (default: test)")
    p.add_argument("--subset", help="subset of a multilingual MTEB task, e.g. de (its files: de-corpus, ...)")
    p.add_argument("--models", default=None, help="comma-separated models (default: the default model)")
    p.add_argument("--modes", default="dense", help="comma-separated first stages: dense,sparse,hybrid")
    p.add_argument("--rerank", help="comma-separated second stages to add to each pipeline")
    p.add_argument(
        "--corrections",
        help="comma-separated language-correction variants, each its own pipeline: raw (the model's own "
        "vectors), corrected (language means out, no vote), vote (corrected + vote: the default); a "
        "model without a correction (USE, m2v) runs raw only",
    )
    p.add_argument(
        "--query-prompt",
        metavar="TEXT",
        action="append",
        help="a query prompt to evaluate beside the model's own (repeatable; '' for none); for an "
        "instruction template, the instruction. Each is its own pipeline, recorded in report.json",
    )
    p.add_argument("--out", type=Path, help="write report.json and PNG charts here")
    p.add_argument(
        "--search-index",
        choices=("exact", "ann"),
        default="exact",
        help="exact: every search scans all chunks (the default); ann: build the search index (int8 copies "
        "scanned and rescored) as indexing a folder does and search through it, so the figures include what "
        "it misses (below the store's indexing threshold, ~66k chunks, the two are the same)",
    )
    p.add_argument(
        "--reference-scores",
        type=Path,
        default=REFERENCE_SCORES,
        help="published MTEB figures to show beside the leaderboard, read if present "
        "(default: ../shared/evaldata/reference_scores)",
    )

    p = sub.add_parser("serve", help="start the web UI (the default without a command)")
    _serve_options(p, defaults=False)

    sub.add_parser("collections", help="list collections with their models and sizes")

    p = sub.add_parser("models", help="list the models you can pick and which of them run here offline")
    p.add_argument("--all-models", action="store_true", help="also list models that need a download")
    p.add_argument("--json", action="store_true", help="print a JSON list (every model, with 'available')")

    p = sub.add_parser("doctor", help="how a model runs on this machine (backend plan, figures, why)")
    p.add_argument("--model", help="embedding model (default: the default model)")
    p.add_argument("--replan", action="store_true", help="measure the backends again (a few seconds)")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The one place where command-line options become settings; everything below gets them passed."""
    settings = Settings().with_overrides(
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        qdrant_url=args.qdrant_url,
        qdrant_api_key=args.qdrant_api_key,
        shards=args.shards,
        replication_factor=args.replicas,
        quantization=args.quantization,
        device=args.device,
        backend=args.backend,
        host=args.host,
        port=args.port,
        allowed_roots=tuple(p.resolve() for p in args.allow_root) if args.allow_root else None,
        max_uploads_mb=getattr(args, "max_uploads_mb", None),
    )
    if args.on_disk:
        settings = settings.with_overrides(on_disk=True)
    if args.no_embedding_cache:
        settings = settings.with_overrides(embedding_cache=False)
    if args.allow_downloads:
        settings = settings.with_overrides(allow_downloads=True)
    if args.no_ocr:
        settings = settings.with_overrides(ocr=False)
    if args.ocr_langs:
        settings = settings.with_overrides(ocr_languages=tuple(re.split(r"[+,\s]+", args.ocr_langs.strip())))
    if getattr(args, "no_language_correction", False):
        settings = settings.with_overrides(language_correction=False)
    settings = settings.with_overrides(reference_scores=getattr(args, "reference_scores", REFERENCE_SCORES))
    planning = "replan" if getattr(args, "replan", False) else BACKEND_PLANNING.get(args.command or "serve")
    return settings.with_overrides(backend_planning=planning)


# "auto" on a machine without a measured plan: the commands that embed many texts measure first (once,
# seconds); a search runs on the provisional choice, and the UI measures in the background after its
# first launch (search.application.backend_plans).
BACKEND_PLANNING = {"index": "now", "eval": "now", "doctor": "now", "serve": "background"}


def cmd_index(app: SearchApp, args: argparse.Namespace) -> int:
    import logging

    from indexer.progress import tqdm_progress
    from search.core.reports import IndexInterrupted
    from search.core.settings import IndexOptions

    options = IndexOptions(
        chunk_tokens=args.chunk_tokens, overlap_tokens=args.overlap_tokens, max_file_mb=args.max_file_mb
    )
    try:
        with tqdm_progress(disable=args.json, loggers=[logging.getLogger(PLAN_LOGGER)]) as progress:
            report = app.index_folder(args.folder, args.model, args.collection, options, progress)
    except IndexInterrupted as stopped:  # Ctrl-C: what was completed, then the one line and 130
        report = stopped.report
        print(safe_json(report.to_json()) if args.json else report.summary())
        print(
            f"interrupted: {len(report.indexed)} file(s) were indexed completely before Ctrl-C; "
            "run the same command again to index the rest",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(safe_json(report.to_json()) if args.json else report.summary())
    return 0


def cmd_search(app: SearchApp, args: argparse.Namespace) -> int:
    from search.application.searching import make_request
    from search.retrieval.relevance import LABELS
    from search.retrieval.searcher import MAX_K

    collection = args.collection or app.collection_for(args.model)
    sources = tuple(args.source or ())  # as results show them, absolute, or relative to here
    request = make_request(
        args.query,
        collection,
        _split(args.lang),
        args.k,
        args.mode,
        args.rerank,
        "off",
        sources=sources,
        model=args.model,
        max_k=MAX_K,
        query_language=args.query_lang,
        correction=args.correction,
        query_prompt=args.query_prompt,
    )
    outcome = app.search(request)
    result = outcome.result
    language = result.query_language.label if result.query_language else "undetermined"
    for warning in outcome.warnings:  # the model out of its depth: said, on stderr (stdout may be JSON)
        print(f"warning: {shown_text(warning)}", file=sys.stderr)
    if args.json:
        hits = [
            {
                "rank": i,
                "score": h.score,
                "relevance": outcome.cues[i - 1] if i <= len(outcome.cues) else None,
                "source": h.relpath,
                "page": h.page,
                "language": h.language,
                "ocr": {"confidence": h.ocr} if h.ocr is not None else None,
                "text": h.text,
            }
            for i, h in enumerate(result.hits, 1)
        ]
        print(
            safe_json(
                {
                    "query": result.query,
                    "query_language": result.query_language.code if result.query_language else None,
                    "timings_ms": dict(result.timings_ms),
                    "warnings": list(outcome.warnings),
                    "relevance_note": outcome.cue_note,
                    **outcome.variant,  # correction searched, query prompt applied (and who set it)
                    "hits": hits,
                }
            )
        )
        return 0
    print(
        f"{len(result.hits)} results from {result.collection!r} ({shown_name(result.model)}, "
        f"{result.timings_ms.get('total', 0):.0f} ms; query read as {language})"
    )
    if request.correction or request.query_prompt is not None:
        print(
            f"variant: {outcome.variant.get('correction')}, query prompt "
            f"{shown_text(repr(outcome.variant.get('query_prompt')))}"
        )
    if outcome.cue_note:
        print(outcome.cue_note)
    for rank, hit in enumerate(result.hits, 1):
        page = f" p.{hit.page}" if hit.page else ""
        page += f" (OCR, confidence {hit.ocr:.0f})" if hit.ocr is not None else ""
        snippet = shown_text(" ".join(hit.text.split())[:240])
        shown_cue = outcome.cues[rank - 1] if rank <= len(outcome.cues) else None
        cue = f" ({LABELS[shown_cue]})" if shown_cue is not None else ""
        where = f"[{shown_name(hit.language)}] {shown_name(hit.relpath)}{page}"
        print(f"{rank:>2}. {hit.score:.3f}{cue} {where}\n    {snippet}")
    return 0


def cmd_eval(app: SearchApp, args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    from search.application.evaluating import write_eval_files
    from search.evaluation.metrics import judged_queries
    from search.evaluation.querysets import load_queryset

    started = time.perf_counter()
    models = _split(args.models) or (app.settings.default_model,)
    pipelines, notes = app.eval_grid(
        models, _split(args.modes), _split(args.rerank), _split(args.corrections), args.query_prompt or ()
    )
    for note in notes:
        print(f"note: {shown_text(note)}", file=sys.stderr)
    bar_format = "{desc} {percentage:3.0f}%|{bar}| {elapsed}"
    with tqdm(total=1000, file=sys.stderr, bar_format=bar_format, leave=False, dynamic_ncols=True) as bar:
        bar.set_description_str("loading the query set", refresh=True)
        queryset = load_queryset(args.queries, split=args.split, subset=args.subset)
        judged = len(judged_queries(queryset))
        skipped = len(queryset.queries) - judged
        tqdm.write(
            shown_text(
                f"query set {shown_name(queryset.name)!r} ({queryset.metadata.get('layout', '')}): read "
                f"{queryset.metadata.get('files', args.queries)}; {len(queryset.corpus)} documents, "
                f"{judged} queries with judgements"
                + (f" ({skipped} without judgements skipped)" if skipped else "")
            ),
            file=sys.stderr,
        )

        def progress(fraction: float, message: str) -> None:
            bar.set_description_str(shown_text(message[:80]), refresh=False)
            bar.update(int(fraction * 1000) - bar.n)

        workspace = app.eval_workspace(ann=args.search_index == "ann")
        try:
            report = app.evaluate(queryset, pipelines, progress=progress, workspace=workspace)
        finally:
            workspace.close()
    print(shown_text(app.report_text(report, queryset)))
    print(f"\n{len(pipelines)} pipeline(s) evaluated in {time.perf_counter() - started:.1f}s")
    if args.out:
        written = write_eval_files(report, args.out)
        print("wrote " + ", ".join(str(p) for p in written.all()))
    return 0


def cmd_collections(app: SearchApp, args: argparse.Namespace) -> int:
    for info in app.collections():
        print(f"{info.name}\t{shown_name(info.model)}\t{info.chunks} chunks")
    return 0


def cmd_models(app: SearchApp, args: argparse.Namespace) -> int:
    infos = app.models()
    if args.json:
        print(safe_json([info.to_json() for info in infos]))
        return 0
    shown = [info for info in infos if info.available or args.all_models]
    rows = [("NAME", "FAMILY", "DIM", "LANGUAGES", "LICENCE", "HERE")]
    for info in shown:
        here = "yes" if info.available else "needs a download"
        name = info.name + (" *" if info.default else "")
        languages = info.languages if len(info.languages) <= 40 else info.languages[:39] + "…"
        rows.append((name, info.family, str(info.dimension), languages, info.license, here))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print("\n* default.  Source and limits:")
    for info in shown:
        print(
            f"  {info.name}: {info.source}"
            + (f"\n    bad at: {info.limitations}" if info.limitations else "")
        )
    hidden = [info for info in infos if not info.available and not args.all_models]
    if hidden:
        print(f"\n{len(hidden)} more need a download: python app.py models --all-models")
    for info in shown:
        if not info.available:
            print(f"  get {info.name}: {info.get_it}")
    return 0


def cmd_doctor(app: SearchApp, args: argparse.Namespace) -> int:
    print(shown_text(app.backend_report(args.model).summary()))
    print(shown_text(app.ocr_report().summary()))
    return 0


def cmd_serve(app: SearchApp, args: argparse.Namespace) -> int:
    import logging

    from search.application.terminal_progress import AboveBars
    from ui.app import launch

    # The UI logs first-launch indexing and handler errors (with tracebacks) under "ui"; above the
    # first launch's step bars, never glued to one.
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
        handlers=[AboveBars(sys.stderr)],
    )
    logging.getLogger("ui").setLevel(logging.INFO)
    logging.getLogger(PLAN_LOGGER).setLevel(logging.INFO)
    launch(app, sample_folder=None if args.no_sample else SAMPLE_CORPORA)
    return 0


COMMANDS: dict[str, Callable[[SearchApp, argparse.Namespace], int]] = {
    "index": cmd_index,
    "search": cmd_search,
    "eval": cmd_eval,
    "collections": cmd_collections,
    "models": cmd_models,
    "doctor": cmd_doctor,
    "serve": cmd_serve,
}
PLAN_LOGGER = "search.models.planner"  # the backend plan's figures, printed once when it is measured


def show_plan_messages() -> None:
    """The measured backend plan goes to stderr as plain lines (stdout may be JSON)."""
    import logging

    from search.application.terminal_progress import AboveBars

    handler = AboveBars(sys.stderr)  # above the index and eval bars, never glued to one
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(PLAN_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI's error boundary: user errors and Ctrl-C become one line on stderr and an exit code."""
    prepare_process()
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    apply_network_policy(settings.allow_downloads)
    command = args.command or "serve"
    if command != "serve":
        show_plan_messages()
    app = None
    try:
        from search.application.search_app import SearchApp

        # The composition root: the application layer gets the indexer here (search never imports it).
        app = SearchApp.build(settings, indexer_factory=folder_indexer, any_reranker=True)
        return COMMANDS[command](app, args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        message = user_message(exc)
        if message is not None:
            print(f"error: {shown_text(message)}", file=sys.stderr)
            return EXIT_USER_ERROR
        if args.debug:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:300]} "
            "(a bug: run again with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_BUG
    finally:
        if app is not None:
            _close(app)


def folder_indexer(settings: Settings) -> Indexer:
    """The indexer behind the application layer, imported when a command first indexes (a cold
    ``app.py search`` skips its ~0.1-0.3 s of imports)."""
    from indexer.service import FolderIndexer

    return FolderIndexer(settings)


def _close(app: SearchApp) -> None:
    """Close the store; a second Ctrl-C while it flushes is not a traceback (its write-ahead log
    replays on the next open)."""
    with contextlib.suppress(KeyboardInterrupt):
        app.close()


if __name__ == "__main__":
    sys.exit(main())
