"""First launch: index the sample documents in the background so a newcomer has something to search.

Runs in a thread started by ``launch`` (not on page load), so indexing begins
before anyone opens the page; the Search tab polls ``status()`` to show
progress. It takes the app's index lock, so it never overlaps an index run
started from the Index tab.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from search.application.terminal_progress import TerminalSteps
from search.core.errors import user_message
from search.core.reports import BUILDING_STAGE, IndexProgress, IndexReport

if TYPE_CHECKING:
    from search.application.search_app import SearchApp

log = logging.getLogger("ui")

State = Literal["idle", "running", "done", "failed", "skipped"]
# What a newcomer waits for, in order; the page and the terminal name them.
STEPS = ("preparing the model", "indexing the sample documents", BUILDING_STAGE)


@dataclass(frozen=True)
class BootstrapStatus:
    state: State
    files_done: int = 0
    files_total: int = 0
    message: str = ""
    report: IndexReport | None = None
    step: int = 0  # 1-based index into STEPS while running, 0 otherwise
    step_started: float = 0.0  # time.monotonic() when the step began

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "skipped")

    @property
    def step_label(self) -> str:
        """'step 2 of 3: indexing the sample documents' (empty when no step runs)."""
        if not 1 <= self.step <= len(STEPS):
            return ""
        return f"step {self.step} of {len(STEPS)}: {STEPS[self.step - 1]}"

    @property
    def where(self) -> str:
        """'step 2 of 3: indexing the sample documents, 12/51 files' (the count only once it is known)."""
        counts = (
            f", {self.files_done}/{self.files_total} files" if self.step == 2 and self.files_total else ""
        )
        return self.step_label + counts

    @property
    def step_seconds(self) -> float:
        return time.monotonic() - self.step_started if self.step_started else 0.0


def sample_documents(sample_folder: Path) -> Path:
    """The documents below a sample folder (its queryset and sources are not documents)."""
    documents = sample_folder / "documents"
    return documents if documents.is_dir() else sample_folder


class SampleBootstrap:
    def __init__(self, app: SearchApp, sample_folder: Path, index_lock: threading.Lock) -> None:
        self._app = app
        self._folder = sample_documents(sample_folder)
        self._index_lock = index_lock
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._status = BootstrapStatus("idle")
        self._terminal = TerminalSteps(len(STEPS), enabled=False)
        self._model_name = ""
        self._writing: tuple[str, ...] = ()  # collections this run has still to write (or finish)

    @property
    def collection(self) -> str:
        return self._app.collection_for(None)

    def models(self) -> list[str | None]:
        """The default model, then a second model for the Compare tab (one that runs here without a build:
        USE embeds the ~200 sample passages in seconds), each that has no collection yet."""
        wanted: list[str | None] = [None]
        companion = self._app.companion_model()
        if companion is not None:
            wanted.append(companion)
        return [model for model in wanted if self._app.catalog.get(self._app.collection_for(model)) is None]

    def writes(self, collection: str) -> bool:
        """Whether the first launch is running and has still to write (or finish) ``collection``:
        a search of it then answers with the state of the run, not with 'no results'."""
        return self._status.state == "running" and collection in self._writing

    def needed(self) -> bool:
        return bool(self.models())

    def start(self, terminal: bool = False) -> None:
        """Start indexing if the default model has no collection yet; a second call does nothing.

        ``terminal`` also draws the steps as progress bars on stderr (``python app.py``).
        """
        with self._guard:
            if self._status.state != "idle":
                return
            if not self.needed():
                self._status = BootstrapStatus("skipped", message="The sample collections exist.")
                threading.Thread(target=self._warm_then_plan, name="ui-warm-up", daemon=True).start()
                return
            log.info(
                "first launch: indexing the sample documents in %s (progress on the Search tab)", self._folder
            )
            self._writing = tuple(self._app.collection_for(model) for model in self.models())
            self._terminal = TerminalSteps(len(STEPS), enabled=terminal)
            self._set_step(1, "Preparing the model (the first launch converts it, once) …")
            self._thread = threading.Thread(target=self._run, name="ui-sample-index", daemon=True)
            self._thread.start()

    def status(self) -> BootstrapStatus:
        return self._status

    def wait(self, timeout: float | None = None) -> BootstrapStatus:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._status

    def _set_step(self, step: int, message: str, done: int = 0, total: int = 0) -> None:
        self._status = BootstrapStatus(
            "running", done, total, message, step=step, step_started=time.monotonic()
        )
        self._terminal.step(step, STEPS[step - 1], total if step == 2 else None)

    def _progress(self, event: IndexProgress) -> None:
        if event.stage == BUILDING_STAGE:
            if self._status.step != 3:
                self._set_step(3, "Building the search index …", event.files_done, event.files_total)
            return
        if self._status.step != 2:
            self._set_step(2, "Indexing the sample documents (first launch)", 0, event.files_total)
        self._status = BootstrapStatus(
            "running",
            event.files_done,
            event.files_total,
            f"Indexing the sample documents with {self._model_name} (first launch): {event.current}"
            + (f" ({event.pages_ocr} scanned pages read by OCR)" if event.pages_ocr else ""),
            step=2,
            step_started=self._status.step_started,
        )
        self._terminal.update(event.files_done, event.current)

    def _plan_backends(self) -> None:
        """Measure how the default model runs fastest here, once, when nothing else is running.

        First launch indexes on the provisional backend (no ONNX export, no timing: searchable
        sooner); the measured plan is used from the next start.
        """
        threading.Thread(target=self._start_plan, name="ui-backend-plan", daemon=True).start()

    def _start_plan(self) -> None:
        try:
            started = self._app.plan_backends_in_background()
        except Exception as exc:  # noqa: BLE001 - measuring is an optimisation; the app runs without it
            log.warning("could not start measuring the backends: %s", exc)
            return
        if not started:
            log.info("backend plan: nothing to measure (already chosen; app.py doctor shows it)")
        try:
            self._app.compile_metrics_in_background()
        except Exception as exc:  # noqa: BLE001 - an optimisation; the first evaluation compiles them itself
            log.warning("could not start compiling the evaluation metrics: %s", exc)

    def _warm_then_plan(self) -> None:
        """A relaunch: the query backend is built now, so the first search does not wait for it."""
        started = time.perf_counter()
        try:
            self._app.warm_up()
            log.info("model ready for searching in %.1f s", time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - an optimisation; the first search loads the model itself
            log.warning("could not load the model ahead of the first search: %s", exc)
        self._plan_backends()

    def _run(self) -> None:
        try:
            self._index_and_report()
            self._app.warm_up()  # the queries' backend, when it is not the passages'
        except Exception as exc:  # noqa: BLE001 - the status already says what failed
            log.debug("warm-up after first-launch indexing failed: %s", exc)
        finally:
            self._plan_backends()

    def _index_and_report(self) -> None:
        reports = []
        try:
            with self._index_lock:
                for model in self.models():
                    if model is None:
                        reports.append(self._index_with(model))
                        continue
                    try:  # the second model is a bonus for the Compare tab: its failure is only logged
                        reports.append(self._index_with(model))
                    except Exception as exc:  # noqa: BLE001
                        log.warning(
                            "first launch: indexing the sample documents with %s failed: %s", model, exc
                        )
        except Exception as exc:
            self._terminal.close()
            reason = user_message(exc)
            if reason is None:
                log.exception("first-launch indexing failed", exc_info=exc)
                reason = f"Something went wrong ({type(exc).__name__}); the details are in the server log."
            self._status = BootstrapStatus(
                "failed", message=f"Indexing the sample documents failed: {reason}"
            )
            return
        self._terminal.close()
        if not reports:
            self._status = BootstrapStatus("skipped", message="The sample collections exist.")
            return
        report = reports[0]
        seconds = sum(r.timings.get("total", 0) for r in reports)
        models = " and ".join(r.model for r in reports)
        self._status = BootstrapStatus(
            "done",
            len(report.indexed),
            report.files_seen,
            f"Sample documents indexed with {models}: {len(report.indexed)} files, {report.chunks_written} "
            f"passages in {seconds:.0f} s. Try a query in any language"
            + (", or compare the models in the Compare tab." if len(reports) > 1 else "."),
            report,
        )

    def _index_with(self, model: str | None) -> IndexReport:
        name = self._model_name = self._app.services.spec(model).name
        started = time.perf_counter()
        if self._status.step != 1:
            self._set_step(1, f"Preparing {name} …")
        backends = self._app.load_model(model)
        self._terminal.close()  # the step's line ends before the log line
        log.info(
            "first launch: %s ready in %.1f s (passages on %s, queries on %s)",
            name,
            time.perf_counter() - started,
            *backends,
        )
        try:
            report = self._app.index_folder(self._folder, model=model, progress=self._progress)
        finally:
            done = self._app.collection_for(model)
            self._writing = tuple(name for name in self._writing if name != done)
        log.info("sample documents indexed with %s: %s", name, report.summary())
        return report
