"""Everything the tabs share, built once per app by ``build_app`` (never module-level)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from search.application.bootstrap import SampleBootstrap, sample_documents
from search.application.search_app import SearchApp

if TYPE_CHECKING:
    from search.application.evaluating import EvalWorkspace


class LazyEvalWorkspace:
    """The app's one scratch store for evaluations, built on first use and reused, so a
    query set's corpus is embedded once per model however many runs compare it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workspace: EvalWorkspace | None = None

    def get(self, app: SearchApp) -> EvalWorkspace:
        with self._lock:
            if self._workspace is None:
                self._workspace = app.eval_workspace()
            return self._workspace

    def close(self) -> None:
        with self._lock:
            if self._workspace is not None:
                self._workspace.close()
                self._workspace = None


@dataclass(frozen=True)
class UiContext:
    app: SearchApp
    uploads_dir: Path  # each upload is copied into a folder of its own below this one and indexed from there
    outputs_dir: Path  # evaluation reports and charts the page shows
    sample_folder: Path | None = None
    queryset_folder: Path | None = None  # default query set of the Evaluate tab
    index_lock: threading.Lock = field(default_factory=threading.Lock)  # one index run at a time
    bootstrap: SampleBootstrap | None = None
    eval_workspace: LazyEvalWorkspace = field(default_factory=LazyEvalWorkspace)

    @property
    def open_roots(self) -> tuple[Path, ...]:
        """Folders whose files a result may link to: the allowed roots, uploads and the sample documents."""
        roots = [*self.app.settings.allowed_roots, self.uploads_dir]
        if self.sample_folder is not None:
            roots.append(sample_documents(self.sample_folder))
        return tuple(dict.fromkeys(Path(root).resolve() for root in roots))

    @property
    def max_upload_bytes(self) -> int:
        return int(self.app.settings.max_upload_mb) * 1024 * 1024

    @property
    def uploads_quota_bytes(self) -> int:
        """Room for all uploads together."""
        return int(self.app.settings.max_uploads_mb) * 1024 * 1024


def make_context(app: SearchApp, sample_folder: Path | None) -> UiContext:
    data_dir = Path(app.settings.data_dir)
    lock = threading.Lock()
    queryset = sample_folder / "queryset" if sample_folder and (sample_folder / "queryset").is_dir() else None
    bootstrap = SampleBootstrap(app, sample_folder, lock) if sample_folder else None
    return UiContext(
        app=app,
        uploads_dir=data_dir / "uploads",
        outputs_dir=data_dir / "ui-runs",
        sample_folder=sample_folder,
        queryset_folder=queryset,
        index_lock=lock,
        bootstrap=bootstrap,
    )
