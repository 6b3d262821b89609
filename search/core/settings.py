"""Settings: every choice the entry point makes, passed down explicitly (nothing read from globals later)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from search.core.paths import default_cache_dir, default_data_dir

DEFAULT_MODEL = "multilingual-e5-small"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    cache_dir: Path = field(default_factory=default_cache_dir)
    qdrant_url: str | None = None  # a Qdrant server or cluster; None = embedded store in data_dir
    qdrant_api_key: str | None = None
    shards: int | None = None
    replication_factor: int | None = None
    on_disk: bool = False
    quantization: str | None = None  # "int8" scalar quantisation on a server
    default_model: str = DEFAULT_MODEL
    device: str | None = None  # None = CUDA when available, else CPU
    backend: str = "auto"  # how models run (search.models.backends)
    # "auto" before this machine has a measured plan for a model (search.models.encoders.planning):
    # "now" measures at first use (seconds, once), "replan" measures again; "later" runs on the
    # provisional choice; "background" too, and the UI measures in a process of its own.
    backend_planning: str = "later"
    # Indexing reuses vectors of texts embedded before (search.models.embed_cache).
    embedding_cache: bool = True
    # New collections: take the pull toward the query's own language out (search.models.language_bias).
    language_correction: bool = True
    allow_downloads: bool = False  # the network policy: may hub models be fetched (off: offline only)
    allowed_roots: tuple[Path, ...] = ()  # folders the UI may index; empty = only uploads
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: int = 50
    max_uploads_mb: int = 1000  # all uploads together (each upload is kept in a folder of its own)
    # Published MTEB figures shown beside evaluation leaderboards, read at run time if the folder exists.
    reference_scores: Path | None = None
    # Scanned pages and images are read by Tesseract where it is installed (indexer.ocr); off: reported.
    ocr: bool = True
    ocr_languages: tuple[str, ...] = ()  # Tesseract packs for every page (--ocr-langs); () = chosen per page

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the given fields changed; ``None`` values leave a field as it is."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


@dataclass(frozen=True)
class IndexOptions:
    """What a front end may set for one index run; None keeps the indexer's own default."""

    chunk_tokens: int | None = None  # longest chunk in model tokens, prompt included
    overlap_tokens: int | None = None
    batch_size: int | None = None  # chunks per embed + write round trip
    max_file_mb: float | None = None  # size cap on text files (the only formats read whole into memory)
    optimize: bool = True  # build the ANN index after the run (off: every search is exact)
