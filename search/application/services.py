"""The one Services object a process builds: the store handle and the models, each loaded once.

The CLI and the UI both get them through ``SearchApp``, built explicitly once:
no module-level caches (Gradio would share them across users in surprising
ways) and never two handles on the same embedded store. Each model has its own
load lock, so a search for a loaded model never waits behind another model's
(or a reranker's) first load.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from search.core.errors import ModelMismatchError, UnknownModelError
from search.core.settings import Settings
from search.models.embed_cache import CachedEmbedder, EmbeddingCache, model_key
from search.models.embedder import Embedder
from search.models.language_bias import FITTED_METHOD, LanguageCentering, centering_for
from search.models.loading import available_rerankers, load_embedder, load_reranker, model_available_offline
from search.models.registry import ModelRegistry
from search.models.reranker import Reranker
from search.models.specs import ModelSpec
from search.space.feedback import DEFAULT_FEEDBACK, Feedback
from search.space.vector_space import Chunking, VectorSpace
from search.stores.base import CollectionMeta, VectorStore
from search.text.sparse import SparseEncoder

if TYPE_CHECKING:
    from search.application.ports import Indexer

COLLECTION_PREFIX = "docs"
T = TypeVar("T")


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
IndexerFactory = Callable[[Settings], "Indexer"]


class _Loaded:
    """Objects built once per key, each key behind its own lock (two keys load concurrently)."""

    def __init__(self) -> None:
        self._items: dict[str, object] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str, build: Callable[[], T]) -> T:
        item = self._items.get(key)
        if item is not None:
            return item  # type: ignore[return-value]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._items:
                self._items[key] = build()
            return self._items[key]  # type: ignore[return-value]

    def keys(self) -> frozenset[str]:
        return frozenset(self._items)

    def drop(self, key: str) -> None:
        """Forget the object (built again on next use); whoever still holds it keeps it alive."""
        with self._guard:
            self._items.pop(key, None)


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
        indexer_factory: IndexerFactory | None = None,
    ) -> None:
        self.settings = settings
        # Wired by whatever builds the app (app.py: FolderIndexer): search never imports the indexer.
        self._indexer_factory = indexer_factory
        self._indexer: Indexer | None = None
        self.store = store
        self.registry = registry or ModelRegistry()
        self._embedder_factory = embedder_factory or self._load_embedder
        self._sparse_factory = sparse_factory
        self._reranker_factory = reranker_factory
        self._embedders = _Loaded()
        self._sparse = _Loaded()
        self._rerankers = _Loaded()
        self._cached = _Loaded()
        self._centerings = _Loaded()
        self._cache: EmbeddingCache | None = None
        self._cache_lock = threading.Lock()

    @classmethod
    def build(cls, settings: Settings, indexer_factory: IndexerFactory | None = None) -> Services:
        """The app's services: BM25 over each model's own tokenizer for sparse/hybrid, cross-encoders by name;
        ``indexer_factory`` is ``indexer.service.FolderIndexer`` where the app indexes (app.py wires it)."""
        from search.text.bm25 import SubwordBM25Encoder

        return cls(
            settings,
            open_store(settings),
            sparse_factory=SubwordBM25Encoder.for_embedder,  # type: ignore[arg-type]
            reranker_factory=lambda name: load_reranker(
                name, device=settings.device, allow_downloads=settings.allow_downloads
            ),
            indexer_factory=indexer_factory,
        )

    @property
    def indexer(self) -> Indexer:
        """The indexer this app was built with; none is a wiring bug of the front end (or test) that built it."""
        factory = self._indexer_factory
        if factory is None:
            raise RuntimeError(
                "no indexer wired: build the app with indexer_factory=FolderIndexer (see app.py)"
            )
        with self._cache_lock:
            if self._indexer is None:
                self._indexer = factory(self.settings)
            return self._indexer

    def _load_embedder(self, spec: ModelSpec) -> Embedder:

        return load_embedder(
            spec,
            registry=self.registry,
            device=self.settings.device,
            cache_dir=self.settings.cache_dir,
            backend=self.settings.backend,  # type: ignore[arg-type]
            allow_downloads=self.settings.allow_downloads,
            planning=self.settings.backend_planning,  # type: ignore[arg-type]
        )

    def model_available(self, spec: ModelSpec) -> bool:
        """Whether the model runs here without a network (one built locally on first use counts).

        An injected embedder factory (tests, embedding servers) builds whatever it is given.
        """
        if self._embedder_factory != self._load_embedder:
            return True

        return model_available_offline(spec, self.registry, self.settings.cache_dir)

    def spec(self, model: str | None = None) -> ModelSpec:
        return self.registry.get(model or self.settings.default_model)

    def model_of(self, meta: CollectionMeta) -> ModelSpec:
        """The model that built a collection, resolved from the registry or its recorded local folder."""
        try:
            return self.registry.get(meta.model)
        except UnknownModelError:
            return self.registry.get(meta.model_source)

    def embedder(self, model: str | None = None) -> Embedder:
        spec = self.spec(model)
        return self._embedders.get(spec.name, lambda: self._embedder_factory(spec))

    def document_embedder(self, model: str | None = None) -> Embedder:
        """The model as indexing uses it: behind the persistent embedding cache.

        A text the model embedded before (an unchanged passage of an edited file, the same
        folder in a second collection, a query-set corpus evaluated again) is read back, not
        recomputed. Searches use ``embedder``: a query is cheaper to embed than to look up.
        Only models pinned to a revision are cached; a local folder without one may change
        its weights under the same name.
        """
        embedder = self.embedder(model)
        if not (self.settings.embedding_cache and embedder.spec.revision):
            return embedder
        cache = self._embedding_cache()
        if cache.disabled:  # said once when it was opened; the run goes on without it
            return embedder
        return self._cached.get(embedder.spec.name, lambda: CachedEmbedder(embedder, cache))

    def _embedding_cache(self) -> EmbeddingCache:
        with self._cache_lock:
            if self._cache is None:
                self._cache = EmbeddingCache.in_dir(self.settings.cache_dir)
            return self._cache

    def centering(self, model: str | None = None) -> LanguageCentering | None:
        """The model's language-bias correction when its metadata asks for one and the settings allow it.

        Shipped with the package for the bundled model; computed once from the project's
        reference text for any other model and kept in the cache folder.
        """
        spec = self.spec(model)
        if not (spec.language_centering and self.settings.language_correction):
            return None
        return self._centerings.get(spec.name, lambda: self._load_centering(spec))

    def space(self, model: str | None = None, *, document: bool = False) -> VectorSpace:
        """The vector space a new collection of this model is written in: the language correction with means
        fitted to the collection, the feedback it was measured with, the sparse encoder when one exists.

        ``document``: embed behind the persistent cache (indexing); queries are cheaper to embed than to look up.
        """
        embedder = self.document_embedder(model) if document else self.embedder(model)
        correction = self.centering(model)
        return VectorSpace(
            embedder,
            correction=correction.with_fitting() if correction else None,
            feedback=DEFAULT_FEEDBACK if correction else None,
            sparse=self.sparse_encoder(model),
        )

    def space_of(
        self, meta: CollectionMeta, model: str | None = None, *, document: bool = False
    ) -> VectorSpace:
        """The vector space a stored collection records, rebuilt for writing into it or searching it.

        ``model``: the model a user asked for instead of the recorded one (``VectorSpace.check`` then says
        whether it fits). Not checked here: the indexer and the searcher check it against the collection.
        """
        spec = self.spec(model) if model is not None else self.model_of(meta)
        embedder = self.document_embedder(spec.name) if document else self.embedder(spec.name)
        correction = None
        if meta.correction is not None and spec.name == meta.model:  # another model is refused by the check
            correction = self._centerings.get(spec.name, lambda: self._load_centering(spec))
            correction = correction.with_fitting(meta.correction.startswith(f"{FITTED_METHOD}:"))
        try:
            feedback = Feedback.parse(meta.feedback) if meta.feedback else None
        except (ValueError, KeyError) as exc:
            raise ModelMismatchError(
                f"This version cannot apply the feedback {meta.feedback!r} the collection records ({exc}); "
                "index the folder again into a new collection."
            ) from exc
        sparse = self.sparse_encoder(spec.name) if meta.sparse_encoder else None
        return VectorSpace(embedder, correction, feedback, sparse, Chunking.recorded(meta.extra))

    def _load_centering(self, spec: ModelSpec) -> LanguageCentering:

        embedder = self.embedder(spec.name)
        key = model_key(embedder.spec, getattr(embedder, "max_tokens", None))
        return centering_for(embedder, key, self.settings.cache_dir)

    def loaded_models(self) -> frozenset[str]:
        """Names of the models loaded now."""
        return self._embedders.keys()

    def unload(self, model: str) -> None:
        """Drop a model and what was built on it (its cached view, sparse encoder, correction): an evaluation
        of several models holds one at a time. Loaded again on next use."""
        name = self.spec(model).name
        for loaded in (self._embedders, self._cached, self._sparse, self._centerings):
            loaded.drop(name)

    @property
    def has_sparse_encoder(self) -> bool:
        return self._sparse_factory is not None

    def sparse_encoder(self, model: str | None = None) -> SparseEncoder | None:
        """The lexical encoder paired with a model (it uses that model's tokenizer), if configured."""
        factory = self._sparse_factory
        if factory is None:
            return None
        embedder = self.embedder(model)
        return self._sparse.get(embedder.spec.name, lambda: factory(embedder))

    def available_rerankers(self) -> list[str]:
        """Registry rerankers whose files are on this machine: what a UI may offer (never free-form names)."""
        if self._reranker_factory is None:
            return []

        return available_rerankers()

    def reranker(self, name: str) -> Reranker:
        factory = self._reranker_factory
        if factory is None:
            raise UnknownModelError(f"No reranker {name!r} is available.")
        return self._rerankers.get(name, lambda: factory(name))

    def close(self) -> None:
        self.store.close()
        if self._cache is not None:
            self._cache.close()
        if self._indexer is not None:
            self._indexer.close()
