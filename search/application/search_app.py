"""SearchApp: the use cases in one place — what the CLI, the web UI and its API call.

Index a folder or uploaded files, search, compare pipelines, evaluate on a
labelled query set, list collections, models and second stages. The facade
holds what a process shares between requests (the ``Services``: store handle and
loaded models; the ``Catalog`` of collections; one ``Searcher`` per collection)
and delegates the work to the modules that do it; front ends only parse their
input and render the results.

A search costs two store calls whatever the number of collections: one to
confirm the collection's description (another process may have rebuilt it) and
the query itself (one more, its voters, where the cross-lingual vote runs).
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from search.application.access import is_inside
from search.application.catalog import Catalog, CollectionInfo
from search.application.cues import RelevanceCues
from search.application.index_rates import IndexRate, IndexRates
from search.application.metric_warmup import MetricWarmup
from search.application.models import ModelInfo, list_models
from search.application.searching import SearchOutcome, SearchRequest, language_warnings, make_request
from search.application.services import IndexerFactory, Services, default_collection
from search.application.sources import displayed_files, match_sources
from search.application.variants import (
    CORRECTIONS,
    Correction,
    corrections_of,
    parse_corrections,
    prompt_record,
    query_embedder,
    searched_correction,
    variant_suffix,
)
from search.core.errors import NotAllowedError, QueryError, user_message
from search.core.reports import BackendReport, IndexReport, OcrEngineReport, ProgressFn
from search.core.settings import IndexOptions, Settings
from search.evaluation.leaderboard import (
    LeaderboardRow,
    ReferenceScores,
    format_leaderboard,
    leaderboard,
    mteb_task_for,
)
from search.evaluation.report import format_report
from search.models.reranker import Reranker
from search.retrieval.cue_calibration import Calibration, CueThresholds, shipped_calibration
from search.retrieval.highlight import Highlight, Highlighter, LexicalHighlighter, SemanticHighlighter
from search.retrieval.raw_scan import RawScan
from search.retrieval.relevance import NoiseFloor
from search.retrieval.searcher import Searcher, SearchResult
from search.space.vector_space import check_model
from search.stores.base import SearchFilter

log = logging.getLogger("search")
MB = 1024 * 1024

if TYPE_CHECKING:  # imported where used: a cold `app.py search` needs none of them (issue 18)
    from search.application.access import SavedUploads
    from search.application.backend_plans import BackgroundPlan
    from search.application.documents import DocumentAccess, OpenedDocument
    from search.application.evaluating import EvalWorkspace, PipelineSpec, ProgressCallback
    from search.core.types import QuerySet
    from search.evaluation.report import EvalReport


@dataclass(frozen=True)
class PipelineChoice:
    """One side of a comparison: a collection (and so a model), a first stage and a second stage."""

    collection: str | None
    mode: str = "dense"
    second_stage: str | None = None
    correction: str | None = None  # raw / corrected / vote; None: what the collection records
    query_prompt: str | None = None  # None: the model's

    @property
    def label(self) -> str:
        stage = f" + {self.second_stage}" if self.second_stage else ""
        variant = variant_suffix(self.correction, self.query_prompt)
        return f"{self.collection or '?'} · {self.mode or 'dense'}{stage}{variant}"


@dataclass(frozen=True)
class ComparedSide:
    """A pipeline's answer to the compared query, or why it has none (one failing side never hides the others)."""

    choice: PipelineChoice
    outcome: SearchOutcome | None = None
    error: str | None = None


class SearchApp:
    """``any_reranker``: a second stage may be any hub id or local folder (the CLI's trusted user);
    otherwise only the rerankers installed on this machine (what a browser user may name)."""

    def __init__(
        self, services: Services, *, any_reranker: bool = False, calibration: Calibration | None = None
    ) -> None:
        self.services = services
        self._any_reranker = any_reranker
        self.catalog = Catalog(services.store)
        self.index_rates = IndexRates(services.settings.data_dir)
        self._searchers: dict[str, Searcher] = {}
        self._lock = threading.Lock()
        self._second_stages: list[str] | None = None
        self._background_plan: BackgroundPlan | None = None
        self._metric_warmup: MetricWarmup | None = None
        # The last raw variant's scan and the searcher it belongs to (one recovered matrix at a time:
        # 73 MB per 50k chunks of 384-d); a new searcher of the collection means a new scan.
        self._raw_scan: tuple[Searcher, RawScan] | None = None
        self._documents: DocumentAccess | None = None
        # The relevance cue, with its thresholds per model, mode and vectors (search.retrieval.cue_calibration).
        self.cues = RelevanceCues(
            self.catalog,
            services.settings.data_dir,
            calibration if calibration is not None else shipped_calibration(),
            self.searcher,
        )

    @property
    def calibration(self) -> Calibration:
        return self.cues.calibration

    @calibration.setter
    def calibration(self, calibration: Calibration) -> None:
        self.cues.calibration = calibration

    @classmethod
    def build(
        cls, settings: Settings, *, indexer_factory: IndexerFactory | None = None, any_reranker: bool = False
    ) -> SearchApp:
        """The app over ``settings``; ``indexer_factory`` is ``indexer.service.FolderIndexer`` where it
        indexes or evaluates (search never imports the indexer: app.py and the test builders wire it)."""
        return cls(Services.build(settings, indexer_factory), any_reranker=any_reranker)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def close(self) -> None:
        if self._metric_warmup is not None:  # first: stopping the plan would let it start its child
            self._metric_warmup.stop()
        if self._background_plan is not None:
            self._background_plan.stop()
        self.services.close()

    # ---- what there is ---------------------------------------------------------------------------

    def collections(self) -> list[CollectionInfo]:
        return self.catalog.infos()

    def default_collection(self) -> str | None:
        """The default model's collection when it exists, else the first one, else None."""
        names = self.catalog.names()
        preferred = default_collection(self.settings.default_model)
        if preferred in names:
            return preferred
        return names[0] if names else None

    def collection_for(self, model: str | None) -> str:
        """The collection a model indexes into by default."""
        return default_collection(self.services.spec(model).name)

    def companion_model(self) -> str | None:
        """A second model to compare the default with, ready here without a download or a long build."""
        for info in self.models():
            if info.available and not info.default and not info.builds_on_first_use and info.cross_lingual:
                return info.name
        return None

    def model_names(self) -> list[str]:
        """Registry models, the default first."""
        default = self.services.spec().name
        return [default, *[name for name in self.services.registry.names() if name != default]]

    def models(self) -> list[ModelInfo]:
        """Every registry model with its metadata and whether it runs here offline (the default first)."""
        return list_models(self.services)

    def second_stages(self) -> list[str]:
        """Second stages this machine can run (rerankers whose files are here), found once per process.

        Only these are offered and accepted: a reranker loader would also load any hub id or
        local folder it is given, which a browser user must not be able to name.
        """
        with self._lock:
            if self._second_stages is None:
                self._second_stages = [str(name) for name in self.services.available_rerankers()]
            return list(self._second_stages)

    # ---- how models run --------------------------------------------------------------------------

    def load_model(self, model: str | None = None) -> tuple[str, str]:
        """Load (on first use: convert) the model now; the backends its passages and queries run on."""
        backends = getattr(self.services.embedder(model), "backends", ("torch", "torch"))
        return str(backends[0]), str(backends[1])

    def warm_up(self, model: str | None = None) -> None:
        """Build what the first search needs (the query backend) before anyone searches.

        Backends are built on first use; without this the first search of a relaunch would
        wait for the model to load (seconds on two cores)."""
        self.services.embedder(model).encode_queries(["warm-up"])

    def backend_report(self, model: str | None = None) -> BackendReport:
        """Which backend runs passages and queries of ``model`` here, and the measured figures behind it."""
        from search.application.backend_plans import backend_report

        return backend_report(self.services, model)

    def ocr_report(self) -> OcrEngineReport:
        """The OCR engine indexing would use here: version, packs, how languages are chosen."""
        return self.services.indexer.ocr_report()

    def plan_backends_in_background(self, model: str | None = None) -> bool:
        """Measure the model's backend plan in a background process if "auto" has none yet (the UI, after
        its first-launch indexing); True when one was started. The plan is used from the next start."""
        with self._lock:
            if self._background_plan is not None:
                return False
            from search.application.backend_plans import BackgroundPlan

            self._background_plan = BackgroundPlan(self.services, model)
        return self._background_plan.start()

    def compile_metrics_in_background(self) -> bool:
        """Once the background plan (if one runs) has finished, compile the evaluation metrics in a niced
        process, once per installation (search.application.metric_warmup); True when that was started."""
        with self._lock:
            if self._metric_warmup is not None:
                return False
            self._metric_warmup = MetricWarmup(self.settings.cache_dir)
            plan = self._background_plan
        return self._metric_warmup.start_after(plan.wait if plan is not None else lambda: None)

    # ---- searching -------------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchOutcome:
        """Search, rerank and highlight (as ``request.highlight`` says)."""
        started = time.perf_counter()
        if self.catalog.get(request.collection) is None:
            known = ", ".join(self.catalog.names()) or "none yet"
            raise QueryError(
                f"No collection {request.collection[:80]!r} on this server (collections: {known}). Pick one of "
                f"them, or index a folder into it first: python app.py index DIR --collection {request.collection[:80]}"
            )
        warnings: tuple[str, ...] = ()
        if request.sources:
            match = match_sources(request.sources, displayed_files(self.services.store, request.collection))
            warning = match.warning(request.collection)
            warnings = (warning,) if warning else ()
            # unmatched filters stay in: they match nothing, as asked (dropping them would widen the search)
            request = replace(request, sources=match.sources + match.unmatched)
        searcher = self.searcher(request.collection)
        if request.model is not None:  # the model a caller names must be the collection's (not loaded)
            check_model(searcher.meta, self.services.spec(request.model), request.collection)
        own = searcher
        searcher = self._as_variant(searcher, request.correction, request.query_prompt)
        reranker = self._reranker(request.second_stage)
        flt = SearchFilter(languages=request.languages, sources=request.sources)
        result = searcher.search(
            request.query,
            k=request.k,
            flt=flt,
            mode=request.mode,  # type: ignore[arg-type]
            reranker=reranker,
            query_language=request.query_language,
        )
        timings = dict(result.timings_ms)
        timings.pop("total", None)
        timings["total"] = round((time.perf_counter() - started) * 1000, 2)
        warnings += language_warnings(searcher.embedder.spec, result)
        if searcher is own:
            cues, note = self.cues.of(result)
        else:  # the cue's thresholds and noise floor were measured on the collection's own pipeline
            cues, note = (
                (),
                (
                    "No relevance cue: it is calibrated for the collection's own vectors and query prompt, "
                    f"not for this variant ({searcher.variant}, query prompt {searcher.embedder.spec.query_prefix()!r})."
                ),
            )
        variant = {
            "correction": searched_correction(request.mode, searcher.variant),
            **prompt_record(own.embedder.spec, request.query_prompt),
        }
        plain = SearchOutcome(
            request, result, (None,) * len(result.hits), timings, warnings, cues, note, variant
        )
        return self.highlight(plain, request.highlight)

    def _as_variant(self, searcher: Searcher, correction: str | None, prompt: str | None) -> Searcher:
        """A collection's searcher as another variant (search.application.variants): ``correction``
        raw / corrected / vote (None: what the collection records), ``prompt`` the query prompt (None:
        the model's). The scores stay the variant's own: "corrected" searches the stored vectors without
        the vote; "raw" scans the model's vectors recovered exactly from the stored ones
        (search.retrieval.raw_scan), never a raw query against corrected passages. A collection
        written raw has no corrected variant (its vectors were never corrected): refused in one line.
        """
        collection = searcher.collection
        wanted = parse_corrections([correction])[0] if correction else searcher.variant
        if wanted != searcher.variant:
            if wanted == "raw":
                with self._lock:
                    if self._raw_scan is None or self._raw_scan[0] is not searcher:
                        self._raw_scan = (searcher, searcher.raw_scan())
                    scan = self._raw_scan[1]
                searcher = searcher.uncorrected(scan)
            elif wanted == "corrected" and searcher.variant == "vote":
                searcher = searcher.without_vote()
            else:
                raise QueryError(
                    f"Collection {collection!r} holds {searcher.variant!r} vectors ({searcher.meta.model}"
                    f"{'' if searcher.variant == 'raw' else ' without the vote'}): it has no {wanted!r} variant; "
                    f"choose {' or '.join(CORRECTIONS[: CORRECTIONS.index(searcher.variant) + 1])}."
                )
        if prompt is not None:
            searcher = searcher.with_queries(query_embedder(searcher.embedder, prompt))
        return searcher

    def highlight(self, outcome: SearchOutcome, kind: str) -> SearchOutcome:
        """The outcome with its sentences highlighted by ``kind``; the page runs this as a second step
        (lexical first, then semantic) so results appear before the model has read their sentences."""
        result = outcome.result
        timings = {
            stage: ms for stage, ms in outcome.timings_ms.items() if stage not in ("highlight", "total")
        }
        total = float(outcome.timings_ms.get("total", 0.0)) - float(outcome.timings_ms.get("highlight", 0.0))
        highlighter = self._highlighter(kind, result.collection)
        highlights: tuple[Highlight | None, ...] = (None,) * len(result.hits)
        if highlighter is not None and result.hits:
            t0 = time.perf_counter()
            highlights = tuple(
                highlighter.pick(result.query, result.query_vector, [hit.text for hit in result.hits])
            )
            timings["highlight"] = round((time.perf_counter() - t0) * 1000, 2)
            total += timings["highlight"]
        timings["total"] = round(total, 2)
        return replace(
            outcome,
            request=replace(outcome.request, highlight=kind),
            highlights=highlights,
            timings_ms=timings,
        )

    def compare(self, query: str, k: int, choices: Sequence[PipelineChoice]) -> list[ComparedSide]:
        """One query through each pipeline; a side that fails carries its message instead of results."""
        sides = []
        for choice in choices:
            try:
                collection = choice.collection or self.default_collection()
                request = make_request(
                    query,
                    collection,
                    (),
                    k,
                    choice.mode,
                    choice.second_stage,
                    "off",
                    correction=choice.correction,
                    query_prompt=choice.query_prompt,
                )
                sides.append(ComparedSide(choice, outcome=self.search(request)))
            except Exception as exc:
                message = user_message(exc)
                if message is None:
                    raise
                sides.append(ComparedSide(choice, error=message))
        return sides

    def noise_floor(self, collection: str) -> NoiseFloor:
        """The best dense scores meaningless queries reach in ``collection`` (search.application.cues)."""
        return self.cues.noise_floor(collection)

    def cue_thresholds(self, result: SearchResult) -> CueThresholds | str:
        return self.cues.thresholds(result)

    def relevance_margins(self, result: SearchResult) -> tuple[tuple[float | None, ...], float]:
        return self.cues.margins(result)

    def searcher(self, collection: str) -> Searcher:
        """The collection's searcher, its description confirmed with one store call."""
        info = self.catalog.confirm(collection, self.services.store.get_meta(collection))
        with self._lock:
            searcher = self._searchers.get(collection)
            if searcher is not None and searcher.meta == info.meta:
                return searcher
        searcher = Searcher(
            self.services.store, collection, self.services.space_of(info.meta), meta=info.meta
        )
        with self._lock:
            self._searchers[collection] = searcher
        return searcher

    def _reranker(self, name: str | None) -> Reranker | None:
        if not name:
            return None
        if not self._any_reranker and name not in self.second_stages():
            raise QueryError(f"Second stage {name!r} is not available on this server.")
        return self.services.reranker(name)

    def _highlighter(self, kind: str, collection: str) -> Highlighter | None:
        if kind == "semantic":
            # Through the embedding cache: a hit shown again (the same or a related query, a Compare
            # run) has its sentences read back instead of embedded again (~0.5 s for 40 sentences).
            info = self.catalog.require(collection)
            return SemanticHighlighter(
                self.services.document_embedder(self.services.model_of(info.meta).name)
            )
        if kind == "lexical":
            return LexicalHighlighter()
        return None

    def open_document(self, collection: str, chunk_id: str, roots: Sequence[Path]) -> OpenedDocument:
        """The source file of a search result, checked and open, for a browser (only below ``roots``;
        see search.application.documents for every check)."""
        with self._lock:
            if self._documents is None:
                from search.application.documents import DocumentAccess

                self._documents = DocumentAccess(self.services.store, self.services.indexer)
            documents = self._documents
        return documents.open(collection, chunk_id, roots)

    # ---- indexing --------------------------------------------------------------------------------

    def index_folder(
        self,
        folder: Path,
        model: str | None = None,
        collection: str | None = None,
        options: IndexOptions | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        """Index ``folder`` (incremental); an existing collection keeps the model it was built with."""
        try:
            from search.application.indexing import index_with_services

            report = index_with_services(self.services, folder, model, collection, options, progress, cancel)
        finally:
            self.catalog.invalidate()
            with self._lock:  # a fresh searcher reads the collection's languages again (the vote)
                self._searchers.clear()
                self._raw_scan = None
        self.index_rates.record(report)
        self._measure_floor(report.collection)
        return report

    def same_documents(self, collection: str) -> list[CollectionInfo]:
        """Other models' collections over the same folders as ``collection`` (the companion model's first):
        what Compare may put beside it. Empty when the collection is unknown or empty."""
        infos = self.catalog.infos()
        base = next((info for info in infos if info.name == collection), None)
        if base is None or not base.documents:
            return []
        companion = self.companion_model()
        return sorted(
            (info for info in infos if info.model != base.model and info.documents == base.documents),
            key=lambda info: (info.model != companion, info.name),
        )

    def second_model_offer(self, collection: str) -> tuple[str, IndexRate | None] | None:
        """The model to index ``collection``'s folders with so that Compare can put two models over the
        same documents, and its measured indexing rate (None: not measured yet); None when no model is
        available or another model's collection over the same folders exists already."""
        info = self.catalog.get(collection)
        if info is None or not info.documents or self.same_documents(collection):
            return None
        model = self.companion_model()
        if model is None or model == info.model:
            model = next(
                (m.name for m in self.models() if m.available and m.name != info.model and m.cross_lingual),
                None,
            )
        if model is None:
            return None
        return model, self.index_rates.get(self.services.spec(model).name)

    def index_with_second_model(
        self,
        collection: str,
        model: str,
        progress: ProgressFn | None = None,
        within: Sequence[Path] | None = None,
    ) -> list[IndexReport]:
        """Index the folders ``collection`` was built from with ``model``: only folders already indexed here,
        and from a browser (``within``: the folders it may index) only those inside them, since a folder the
        CLI indexed may hold files added since that nobody chose to make searchable from the browser. Into
        the model's default collection when that is new or holds the same folders, else into
        ``<collection>-<model>``, so it holds these documents only."""
        info = self.catalog.require(collection)
        if any(not root or not Path(root).is_absolute() for root in info.documents):
            raise NotAllowedError(
                f"Some documents of {collection} were not indexed from a folder (an evaluation corpus?); "
                f"index their folder with --model {model} instead"
            )
        if within is not None:
            real = [Path(root).resolve() for root in within]
            for root in sorted(info.documents):
                if not any(is_inside(Path(root).resolve(), allowed) for allowed in real):
                    raise NotAllowedError(
                        f"{root} was indexed from the command line, outside the folders this server may "
                        f"index; run: python app.py index {shlex.quote(root)} --model {model}"
                    )
        target = self.second_model_collection(collection, model)
        return [
            self.index_folder(Path(root), model, target, progress=progress) for root in sorted(info.documents)
        ]

    def second_model_collection(self, collection: str, model: str) -> str:
        """Where index_with_second_model writes (see there)."""
        name = self.collection_for(model)
        existing = self.catalog.get(name)
        base = self.catalog.require(collection)
        if existing is None or existing.documents == base.documents:
            return name
        return f"{collection}-{name.split('-', 1)[-1]}"

    def _measure_floor(self, collection: str) -> None:
        """Measure the new noise floor now, so no search (nor a cold CLI process) waits for it."""
        try:
            self.noise_floor(collection)
        except Exception as exc:  # noqa: BLE001 - the cue is a hint; the first search measures it again
            log.warning(
                "could not measure the relevance floor of %s: %s", collection, user_message(exc) or exc
            )

    def index_allowed_folder(
        self,
        raw_folder: str,
        model: str | None = None,
        collection: str | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        """Index a folder a browser user typed: only inside the allowed roots."""
        from search.application.access import resolve_allowed_folder

        folder = resolve_allowed_folder(raw_folder, self.settings.allowed_roots)
        return self.index_folder(folder, model, collection, progress=progress, cancel=cancel)

    def index_uploads(
        self,
        files: Sequence[str | Path],
        uploads_dir: Path,
        model: str | None = None,
        collection: str | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> tuple[SavedUploads, IndexReport | None]:
        """Copy uploads (typed, size-checked, within the quota) into a new folder below ``uploads_dir`` and
        index that folder alone; files it could not index are not kept."""
        from search.application.access import save_uploads, tidy_upload

        saved = save_uploads(
            files, uploads_dir, self.settings.max_upload_mb * MB, self.settings.max_uploads_mb * MB
        )
        if saved.folder is None:
            return saved, None
        report = self.index_folder(saved.folder, model, collection, progress=progress, cancel=cancel)
        tidy_upload(saved.folder, [s.path for s in report.skipped])
        return saved, report

    # ---- evaluating ------------------------------------------------------------------------------

    def leaderboard(self, report: EvalReport, queryset: QuerySet) -> list[LeaderboardRow]:
        """The report's models side by side, with the published MTEB figure where the settings' folder has one."""
        rows, _, _ = self._leaderboard(report, queryset)
        return rows

    def leaderboard_text(self, report: EvalReport, queryset: QuerySet) -> str:
        rows, task, reference = self._leaderboard(report, queryset)
        return format_leaderboard(report, rows, task=task, origin=reference.origin)

    def report_text(self, report: EvalReport, queryset: QuerySet) -> str:
        """The report as text, then the leaderboard: what ``app.py eval`` prints and the Evaluate tab shows."""
        return format_report(report) + "\n\n" + self.leaderboard_text(report, queryset)

    def _leaderboard(
        self, report: EvalReport, queryset: QuerySet
    ) -> tuple[list[LeaderboardRow], str | None, ReferenceScores]:
        task = mteb_task_for(queryset)
        reference = ReferenceScores.read(self.settings.reference_scores)
        models = {str(d.get("model")) for d in report.details.values() if d.get("model")}
        names = {model: self.services.spec(model).mteb_name for model in models}
        return leaderboard(report, mteb_names=names, reference=reference, task=task), task, reference

    def eval_grid(
        self,
        models: Sequence[str],
        modes: Sequence[str],
        rerankers: Sequence[str] = (),
        corrections: Sequence[str] = (),
        prompts: Sequence[str] = (),
    ) -> tuple[list[PipelineSpec], list[str]]:
        """The pipelines to evaluate for these choices (every model x mode x correction variant x query
        prompt x second stage), and one line per model that cannot have a variant asked for."""
        from search.application.evaluating import grid_notes, pipeline_grid

        def variants_of(model: str) -> tuple[Correction, ...]:
            return corrections_of(self.services, model)

        def prompted(model: str) -> bool:
            return self.services.spec(model).takes_query_prompt

        for model in models:
            self.services.spec(model)  # an unknown name fails here, listing the known ones
        grid = pipeline_grid(
            models, modes, rerankers, corrections, prompts, variants_of=variants_of, prompted=prompted
        )
        notes = grid_notes(models, corrections, prompts, variants_of=variants_of, prompted=prompted)
        return grid, notes

    def eval_workspace(self, *, ann: bool = False) -> EvalWorkspace:
        """A scratch store for evaluations (the caller closes it), indexed by this app's indexer."""
        from search.application.evaluating import EvalWorkspace

        return EvalWorkspace(self.services.indexer, ann=ann)

    def evaluate(
        self,
        queryset: QuerySet,
        pipelines: Sequence[PipelineSpec],
        progress: ProgressCallback | None = None,
        workspace: EvalWorkspace | None = None,
        **options: object,
    ) -> EvalReport:
        """Every pipeline on the query set: indexes the corpus per model (in ``workspace``), scores the runs."""
        from search.application.evaluating import evaluate_pipelines

        return evaluate_pipelines(
            self.services,
            queryset,
            pipelines,
            progress=progress,
            workspace=workspace,
            in_use=self._models_in_use,
            **options,  # type: ignore[arg-type]
        )

    def _models_in_use(self) -> set[str]:
        """Models the app's cached searchers hold (an evaluation must not drop them)."""
        with self._lock:
            return {searcher.embedder.spec.name for searcher in self._searchers.values()}
