"""What an index run reports: progress while it runs, and what it did when it ends."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from search.core.display import shown_name, shown_text


@dataclass(frozen=True)
class SkippedFile:
    path: str  # relative to the indexed root
    reason: str


BUILDING_STAGE = "building the index"


@dataclass(frozen=True)
class IndexProgress:
    files_done: int
    files_total: int
    chunks_written: int
    current: str
    stage: str = "indexing"  # then BUILDING_STAGE (the ANN graph, after every file is written)


@dataclass(frozen=True)
class IndexReport:
    root: str
    collection: str
    model: str
    files_seen: int
    indexed: tuple[str, ...]  # files (re)indexed by this run, relative paths
    unchanged: int
    removed: tuple[str, ...]  # files gone from disk whose chunks were deleted
    skipped: tuple[SkippedFile, ...]
    unsupported: int
    chunks_written: int
    chunks_by_language: Mapping[str, int]
    timings: Mapping[str, float]  # seconds per stage; stages overlap, "total" is wall time
    cancelled: bool = False
    vectors_reused: int = 0  # chunks whose vectors came from the embedding cache, not the model
    ignored: int = 0  # files and folders left out by the folder's .mlsearchignore
    # new chunks in languages the model was not trained on (indexed, but their vectors are unreliable)
    unsupported_languages: Mapping[str, int] = field(default_factory=dict)

    @property
    def language_warning(self) -> str:
        langs = ", ".join(f"{lang} {n}" for lang, n in sorted(self.unsupported_languages.items()))
        return (
            f"passages in languages {self.model} was not trained on ({langs}): indexed, but their "
            "vectors are unreliable; index them with a model that covers these languages"
        )

    def summary(self) -> str:
        langs = ", ".join(
            f"{lang} {n}" for lang, n in sorted(self.chunks_by_language.items(), key=lambda kv: -kv[1])
        )
        lines = [
            f"Indexed {shown_name(self.root)} into collection {self.collection!r} with {shown_name(self.model)}"
            + (" (cancelled)" if self.cancelled else ""),
            f"  files: {self.files_seen} seen, {len(self.indexed)} indexed, {self.unchanged} unchanged, "
            f"{len(self.removed)} removed, {len(self.skipped)} skipped, {self.unsupported} unsupported type"
            + (f", {self.ignored} ignored (.mlsearchignore)" if self.ignored else ""),
            f"  new chunks: {self.chunks_written}" + (f" ({langs})" if langs else ""),
        ]
        if self.vectors_reused:
            lines.append(f"  vectors reused from the embedding cache: {self.vectors_reused}")
        if self.unsupported_languages:
            lines.append(f"  warning: {shown_text(self.language_warning)}")
        for skipped in self.skipped:  # names come from the folder: never raw escapes or bidi overrides
            lines.append(f"  skipped {shown_name(skipped.path)}: {shown_name(skipped.reason)}")
        for removed in self.removed:
            lines.append(f"  removed {shown_name(removed)}")
        stages = ", ".join(f"{k} {v:.2f}s" for k, v in self.timings.items())
        lines.append(f"  time: {stages}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "collection": self.collection,
            "model": self.model,
            "files_seen": self.files_seen,
            "indexed": list(self.indexed),
            "unchanged": self.unchanged,
            "removed": list(self.removed),
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "unsupported": self.unsupported,
            "chunks_written": self.chunks_written,
            "chunks_by_language": dict(self.chunks_by_language),
            "timings": dict(self.timings),
            "cancelled": self.cancelled,
            "vectors_reused": self.vectors_reused,
            "ignored": self.ignored,
            "unsupported_languages": dict(self.unsupported_languages),
        }


ProgressFn = Callable[[IndexProgress], None]


@dataclass(frozen=True)
class BackendReport:
    """How a model runs in this process, and why (``app.py doctor``)."""

    model: str
    requested: str  # the --backend setting: "auto" or an explicit backend
    documents: str  # backend running passages (indexing)
    queries: str  # backend running single queries (search)
    device: str
    cpu: str  # one line: model, CPU count, native bf16 and the relevant flags
    measured: bool  # False: "auto" runs on the provisional choice, not measured on this machine yet
    plan: tuple[str, ...] = ()  # the plan's choice, reason and per-backend figures (auto only)
    plan_file: str | None = None  # where the measured plan is cached

    def summary(self) -> str:
        lines = [
            f"model: {self.model} on {self.device}",
            f"CPU: {self.cpu}",
            f"--backend {self.requested}: passages run on {self.documents}, queries on {self.queries}",
        ]
        if self.requested == "auto":
            lines += list(self.plan)
            if self.plan_file:
                lines.append(f"plan cached in {self.plan_file} (measure again: app.py doctor --replan)")
            elif not self.measured:
                lines.append(
                    "not measured on this machine yet: app.py doctor measures it (about 10-30 s, once)"
                )
        return "\n".join(lines)


class IndexInterrupted(KeyboardInterrupt):
    """Ctrl-C during an index run, after the run stopped cleanly; ``report`` lists what was completed.

    Still a KeyboardInterrupt, so a caller that does not look for the report (an evaluation
    indexing its corpus) stops as it would on any Ctrl-C.
    """

    def __init__(self, report: IndexReport) -> None:
        super().__init__("interrupted")
        self.report = report
