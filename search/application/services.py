"""Settings and the one Services object a process builds.

The CLI and the UI both get their store handle and models from here, built
explicitly once: no module-level caches (Gradio would share them across users
in surprising ways) and never two handles on the same embedded store.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from search.models.embed_cache import CachedEmbedder, EmbeddingCache
from search.models.embedders import Embedder
from search.models.registry import DEFAULT_MODEL, ModelRegistry, ModelSpec, UnknownModelError
from search.core.paths import default_cache_dir, default_data_dir
from search.retrieval.rerank import Reranker
from search.retrieval.searcher import Searcher
from search.models.sparse import SparseEncoder
from search.stores.base import CollectionMeta, CollectionNotFoundError, VectorStore

COLLECTION_PREFIX = "docs"


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
    backend: str = "auto"  # how models run: auto = ONNX Runtime on a CPU, torch on a GPU (embed_backends)
    embedding_cache: bool = True  # indexing reuses vectors of texts embedded before (search/models/embed_cache.py)
    allowed_roots: tuple[Path, ...] = ()  # folders the UI may index; empty = only uploads
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: int = 50

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


def default_collection(model: str) -> str:
    """Each model gets its own collection by default, so switching models never mixes vector spaces."""
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower().rsplit("/", 1)[-1]).strip("-")
    return f"{COLLECTION_PREFIX}-{slug}"


def open_store(settings: Settings) -> VectorStore:
    if settings.qdrant_url:
        from search.stores.client import ClientStore

        return ClientStore(
            settings.qdrant_url,
            api_key=settings.qdrant_api_key,
            shards=settings.shards,
            replication_factor=settings.replication_factor,
            on_disk=settings.on_disk,
            quantization=settings.quantization,
        )
    from search.stores.edge import EdgeStore

    return EdgeStore(settings.data_dir / "qdrant")


EmbedderFactory = Callable[[ModelSpec], Embedder]
SparseFactory = Callable[[Embedder], SparseEncoder]
RerankerFactory = Callable[[str], Reranker]


class Services:
    """The store handle plus models, each loaded once on first use and shared by every request."""

    def __init__(
        self,
        settings: Settings,
        store: VectorStore,
        registry: ModelRegistry | None = None,
        embedder_factory: EmbedderFactory | None = None,
        sparse_factory: SparseFactory | None = None,
        reranker_factory: RerankerFactory | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry or ModelRegistry()
        self._embedder_factory = embedder_factory or self._load_embedder
        self._sparse_factory = sparse_factory
        self._reranker_factory = reranker_factory
        self._embedders: dict[str, Embedder] = {}
        self._sparse: dict[str, SparseEncoder] = {}
        self._rerankers: dict[str, Reranker] = {}
        self._cached: dict[str, CachedEmbedder] = {}
        self._cache: EmbeddingCache | None = None
        self._lock = threading.Lock()  # one load per model even when two requests ask at once

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """The app's services: BM25 over each model's own tokenizer for sparse/hybrid, cross-encoders by name."""
        from search.models.rerankers import load_reranker
        from search.models.bm25 import SubwordBM25Encoder

        return cls(
            settings,
            open_store(settings),
            sparse_factory=SubwordBM25Encoder.for_embedder,  # type: ignore[arg-type]
            reranker_factory=lambda name: load_reranker(name, device=settings.device),
        )

    def _load_embedder(self, spec: ModelSpec) -> Embedder:
        from search.models.embedders import load_embedder

        return load_embedder(
            spec,
            registry=self.registry,
            device=self.settings.device,
            cache_dir=self.settings.cache_dir,
            backend=self.settings.backend,  # type: ignore[arg-type]
        )

    def spec(self, model: str | None = None) -> ModelSpec:
        return self.registry.get(model or self.settings.default_model)

    def embedder(self, model: str | None = None) -> Embedder:
        spec = self.spec(model)
        with self._lock:
            if spec.name not in self._embedders:
                self._embedders[spec.name] = self._embedder_factory(spec)
            return self._embedders[spec.name]

    def document_embedder(self, model: str | None = None) -> Embedder:
        """The model as indexing uses it: behind the persistent embedding cache.

        A text the model embedded before (an unchanged passage of an edited file, the same
        folder in a second collection, a query-set corpus evaluated again) is read back, not
        recomputed. Searches use ``embedder``: a query is cheaper to embed than to look up.
        Only models pinned to a revision are cached; a local folder without one may change
        its weights under the same name.
        """
        embedder = self.embedder(model)
        name = embedder.spec.name
        if not (self.settings.embedding_cache and embedder.spec.revision):
            return embedder
        with self._lock:
            if name not in self._cached:
                if self._cache is None:
                    self._cache = EmbeddingCache.in_dir(self.settings.cache_dir)
                self._cached[name] = CachedEmbedder(embedder, self._cache)
            return self._cached[name]

    def sparse_encoder(self, model: str | None = None) -> SparseEncoder | None:
        """The lexical encoder paired with a model (it uses that model's tokenizer), if configured."""
        if self._sparse_factory is None:
            return None
        embedder = self.embedder(model)
        with self._lock:
            if embedder.spec.name not in self._sparse:
                self._sparse[embedder.spec.name] = self._sparse_factory(embedder)
            return self._sparse[embedder.spec.name]

    def available_rerankers(self) -> list[str]:
        """Registry rerankers whose files are on this machine: what a UI may offer (never free-form names)."""
        if self._reranker_factory is None:
            return []
        from search.models.rerankers import available_rerankers

        return available_rerankers()

    def reranker(self, name: str) -> Reranker:
        if self._reranker_factory is None:
            raise UnknownModelError(f"No reranker {name!r} is available.")
        with self._lock:
            if name not in self._rerankers:
                self._rerankers[name] = self._reranker_factory(name)
            return self._rerankers[name]

    def collection_meta(self, collection: str) -> CollectionMeta:
        meta = self.store.get_meta(collection)
        if meta is None:
            known = ", ".join(self.store.list_collections()) or "none yet"
            raise CollectionNotFoundError(
                f"No collection {collection!r} (collections: {known}). "
                f"Index a folder first: python app.py index DIR --collection {collection}"
            )
        return meta

    def model_for(self, collection: str) -> ModelSpec:
        """The model that built a collection, resolved from the registry or its recorded local folder."""
        meta = self.collection_meta(collection)
        try:
            return self.registry.get(meta.model)
        except UnknownModelError:
            return self.registry.get(meta.model_source)

    def searcher(self, collection: str, model: str | None = None) -> Searcher:
        """A searcher for ``collection``; with ``model`` given, a mismatch is refused by the Searcher."""
        spec = self.spec(model) if model else self.model_for(collection)
        sparse = self.sparse_encoder(spec.name) if self.collection_meta(collection).sparse_encoder else None
        return Searcher(self.store, collection, self.embedder(spec.name), sparse)

    def close(self) -> None:
        self.store.close()
        if self._cache is not None:
            self._cache.close()
