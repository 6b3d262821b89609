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
    pages_ocr: int = 0  # scanned pages and images read by OCR so far (or taken from its cache)


@dataclass(frozen=True)
class OcrSummary:
    """What OCR did in an index run."""

    pages_read: int = 0  # pages Tesseract read
    pages_cached: int = 0  # pages whose text came from the OCR cache (read in an earlier run)
    seconds: float = 0.0  # Tesseract's time on the pages it read
    not_read: tuple[SkippedFile, ...] = ()  # "file p. 3" and why (cut off, no pack, no engine)
    install: str = ""  # the apt-get command for the missing engine or packs, when any

    @property
    def active(self) -> bool:
        return bool(self.pages_read or self.pages_cached or self.not_read)

    def lines(self) -> list[str]:
        if not self.active:
            return []
        lines = [
            f"  OCR: {self.pages_read + self.pages_cached} pages read ({self.pages_cached} from the OCR cache, "
            f"{self.seconds:.1f}s of Tesseract), {len(self.not_read)} not read"
        ]
        lines += [f"  not OCR'd {page.path}: {page.reason}" for page in self.not_read[:20]]
        if len(self.not_read) > 20:
            lines.append(f"  ... and {len(self.not_read) - 20} more pages not OCR'd")
        if self.install:
            lines.append(f"  to read them, install: {self.install}")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "pages_read": self.pages_read,
            "pages_cached": self.pages_cached,
            "seconds": self.seconds,
            "not_read": [{"page": p.path, "reason": p.reason} for p in self.not_read],
            "install": self.install or None,
        }


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
    ocr: OcrSummary = field(default_factory=OcrSummary)  # scanned pages and images read this run

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
        lines += self.ocr.lines()
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
            "ocr": self.ocr.to_json(),
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


@dataclass(frozen=True)
class OcrEngineReport:
    """The OCR engine this process would use (``app.py doctor``)."""

    enabled: bool
    engine: str = ""  # "tesseract 5.3.0"; "" when it is not installed
    binary: str = ""
    tessdata: str = ""
    packs: tuple[str, ...] = ()
    scripts: tuple[str, ...] = ()  # scripts the installed packs read
    languages: tuple[str, ...] = ()  # --ocr-langs; () = chosen per page
    script_detection: bool = False  # the osd pack: languages can be chosen per page
    install: str = ""  # how to install the engine when it is missing
    cache: str = ""
    cached_pages: int = 0

    def summary(self) -> str:
        if not self.enabled:
            return "OCR: off (--no-ocr): scanned pages and images are reported, not read"
        if not self.engine:
            return (
                "OCR: Tesseract is not installed: scanned pages and images are reported, not read; "
                f"install it with: {self.install} (and tesseract-ocr-<lang> for your languages)"
            )
        choice = (
            "+".join(self.languages)
            if self.languages
            else (
                "chosen per page (script detection, then the text's language)"
                if self.script_detection
                else "chosen per page from the document's languages (no osd pack: install tesseract-ocr-osd)"
            )
        )
        lines = [
            f"OCR: {self.engine} ({self.binary}), packs in {self.tessdata}",
            f"  packs ({len(self.packs)}): {' '.join(self.packs)}",
            f"  scripts: {', '.join(self.scripts)}",
            f"  languages: {choice}",
        ]
        if self.cache:
            lines.append(f"  cache: {self.cache} ({self.cached_pages} pages)")
        return "\n".join(lines)


class IndexInterrupted(KeyboardInterrupt):
    """Ctrl-C during an index run, after the run stopped cleanly; ``report`` lists what was completed.

    Still a KeyboardInterrupt, so a caller that does not look for the report (an evaluation
    indexing its corpus) stops as it would on any Ctrl-C.
    """

    def __init__(self, report: IndexReport) -> None:
        super().__init__("interrupted")
        self.report = report
