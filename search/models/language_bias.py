"""Language-bias correction: take the pull toward the query's own language out of the vectors.

Why: a multilingual embedding carries, besides its meaning, a component shared by
every text of its language. In a folder of many languages that component decides
too much: with the bundled multilingual-e5-small, searching XQuAD's paragraphs of
six languages at once (any translation relevant) scored nDCG@10 50.9 against
94.8 per language, with 77 % of a query's top 10 in its own language.

The correction (measured on cached vectors, exact search; benchmarks/language_bias.py
measures it through the app):

* documents: subtract the mean vector of the chunk's language (known at index time,
  stored with the chunk), then re-normalise;
* queries: subtract half of one global query-side mean, then re-normalise. No query
  language is needed: per-language query means gained nothing measurable, also with
  the query language misread on purpose.

The reference means are model metadata, computed by ``compute_centering`` from text
the project ships (``language_reference/``: 36 sentences written for this project,
in 18 languages), as the mean of 24 pseudo-paragraphs per language (paragraph-sized
text transfers to chunks better than single sentences: pool nDCG@10 76.8 vs 72.4).
They are where a collection starts: since issue 22 (``centering-v2``) each language's
mean moves toward the collection's own chunks of that language by count (SHRINKAGE
pseudo-chunks for the reference), so a language without a reference sentence, or a
domain unlike the reference text, gets its own mean once the folder holds enough of
it. Each chunk records the mean it was corrected with; when the means move, stored
vectors are re-corrected from the stored vectors alone (no re-embedding), and an
unchanged folder indexed again changes nothing. Collections written before keep
their frozen means (``centering-v1``). A language seen in neither starts from the
mean of all references: never raw (left raw, Hindi alone took the six-language pool
from 77 to 26.5).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from search.models.embedder import Embedder
from search.models.reference_text import REFERENCE_FOLDER, REFERENCE_PACKAGE, reference_sentences

METHOD = "centering-v1"  # frozen reference means (collections written before issue 22 keep them)
FITTED_METHOD = "centering-v2"  # reference means moved toward the collection's own, per language
QUERY_WEIGHT = 0.5  # queries lose half the global query-side mean (1.0 cost same-language and R@1)
PARAGRAPHS = 24  # pseudo-paragraphs per language (2 -> 72.9, 8 -> 76.3, 24 -> 76.8 pool nDCG@10)
# How many chunks the reference mean counts for against the collection's own chunks of a language:
# the mean used is (sum of the language's chunk vectors + SHRINKAGE x reference mean) / (chunks +
# SHRINKAGE). Chosen on the development sets (README, "A folder of many languages").
SHRINKAGE = 100.0
# Stored vectors are re-corrected when a language's mean has moved by more than this (Euclidean, in
# the unit-vector space): smaller moves change scores by less than about this much, and a folder
# that grows a little does not rewrite every vector each run.
REFIT_TOLERANCE = 0.01
PRIOR = "r:"  # mean ids of reference means ("r:de"; "r:*" the fallback): not stored, rebuilt from the name
_NO_SPACE = frozenset({"zh", "ja"})  # scripts written without spaces between sentences


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def mean_id(vector: np.ndarray) -> str:
    """Content id of a fitted mean (what a stored chunk records it was corrected with)."""
    return hashlib.sha256(np.asarray(vector, dtype="<f4").tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class FittedMeans:
    """A collection's language means as they moved from the reference toward its own chunks.

    ``vectors`` holds every fitted mean a stored chunk may still carry (by id), ``current``
    the one new chunks of each language get, ``counts`` the collection's chunks per language
    at the last refit.
    Reference means are not stored: their ids (PRIOR) are resolved by the LanguageCentering.
    """

    vectors: Mapping[str, np.ndarray] = field(default_factory=dict)
    current: Mapping[str, str] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "vectors": {
                    key: base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode()
                    for key, v in sorted(self.vectors.items())
                },
                "current": dict(sorted(self.current.items())),
                "counts": dict(sorted(self.counts.items())),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> FittedMeans:
        if not text:
            return cls()
        data = json.loads(text)
        vectors = {
            key: np.frombuffer(base64.b64decode(blob), dtype="<f4").astype(np.float32)
            for key, blob in data.get("vectors", {}).items()
        }
        return cls(
            vectors, dict(data.get("current", {})), {k: int(v) for k, v in data.get("counts", {}).items()}
        )


@dataclass(frozen=True)
class Refit:
    """What a refit decided: the new means, and the languages whose stored chunks must be re-corrected."""

    means: FittedMeans
    moved: frozenset[str]


@dataclass(frozen=True, eq=False)
class LanguageCentering:
    """Per-language document means and a global query mean; ``name`` identifies them in collection metadata.

    ``fitted``: a collection's means start at these reference means and move toward the mean of
    its own chunks of each language as they accumulate (FittedMeans; the indexer refits them
    after each run). Otherwise the reference means are used as they are (collections of
    earlier versions).
    """

    name: str
    document_means: Mapping[str, np.ndarray]
    document_fallback: np.ndarray  # for "und" and languages without a reference mean
    query_mean: np.ndarray
    query_weight: float = QUERY_WEIGHT
    languages: tuple[str, ...] = field(default=())
    fitted: bool = False
    shrinkage: float = SHRINKAGE

    def documents(self, vectors: np.ndarray, languages: Sequence[str]) -> np.ndarray:
        """Chunk vectors with their language's reference mean removed, re-normalised."""
        return self.correct(vectors, languages, None)[0]

    def correct(
        self, vectors: np.ndarray, languages: Sequence[str], means: FittedMeans | None
    ) -> tuple[np.ndarray, list[str]]:
        """Chunk vectors with their language's current mean removed, re-normalised, and the ids
        of the means used (the reference means when ``means`` is None)."""
        if len(languages) != len(vectors):
            raise ValueError(f"{len(languages)} languages for {len(vectors)} vectors")
        if not len(vectors):
            return np.asarray(vectors, dtype=np.float32), []
        ids = [self.current_id(lang, means) for lang in languages]
        stack = np.stack([self.mean_of(i, means) for i in ids])
        return _normalise(np.asarray(vectors, dtype=np.float32) - stack), ids

    def current_id(self, language: str, means: FittedMeans | None) -> str:
        """The id of the mean a new chunk of ``language`` is corrected with."""
        if means is not None and language in means.current:
            return means.current[language]
        return PRIOR + (language if language in self.document_means else "*")

    def mean_of(self, mean: str, means: FittedMeans | None) -> np.ndarray:
        """A mean by id: a reference mean (PRIOR ids) or one of the collection's fitted ones."""
        if mean.startswith(PRIOR):
            return self.prior(mean[len(PRIOR) :])
        if means is None or mean not in means.vectors:
            raise KeyError(f"unknown language mean {mean!r}")
        return np.asarray(means.vectors[mean], dtype=np.float32)

    def prior(self, language: str) -> np.ndarray:
        """The reference mean of ``language``, the fallback for a language without one."""
        return np.asarray(self.document_means.get(language, self.document_fallback), dtype=np.float32)

    def refit(self, means: FittedMeans, sums: Mapping[str, np.ndarray], counts: Mapping[str, int]) -> Refit:
        """New means from the collection's per-language sums of raw chunk vectors.

        Each language's target is (sum + shrinkage x reference) / (count + shrinkage); it
        replaces the current mean when it moved more than REFIT_TOLERANCE. Languages with no
        chunk left lose their entry (their chunks are gone).
        """
        vectors = dict(means.vectors)
        current: dict[str, str] = {}
        fitted_counts: dict[str, int] = {}
        moved: set[str] = set()
        for language, count in counts.items():
            if count <= 0:
                continue
            prior = self.prior(language).astype(np.float64)
            target = ((sums[language] + self.shrinkage * prior) / (count + self.shrinkage)).astype(np.float32)
            old_id = self.current_id(language, means)
            old = self.mean_of(old_id, means)
            fitted_counts[language] = int(count)
            if float(np.linalg.norm(target - old)) > REFIT_TOLERANCE:
                new_id = mean_id(target)
                vectors[new_id] = target
                current[language] = new_id
                moved.add(language)
            else:
                current[language] = old_id
        return Refit(FittedMeans(vectors, current, fitted_counts), frozenset(moved))

    def queries(self, vectors: np.ndarray) -> np.ndarray:
        return _normalise(np.asarray(vectors, dtype=np.float32) - self.query_weight * self.query_mean)

    def with_fitting(self, fitted: bool = True) -> LanguageCentering:
        """The same reference means, fitted to each collection (or not), named accordingly."""
        method = FITTED_METHOD if fitted else METHOD
        return replace(self, name=f"{method}:{self.name.split(':', 1)[1]}", fitted=fitted)

    def to_arrays(self) -> dict[str, np.ndarray]:
        langs = sorted(self.document_means)
        return {
            "languages": np.array(langs),
            "document_means": np.stack([self.document_means[lang] for lang in langs]),
            "document_fallback": self.document_fallback,
            "query_mean": self.query_mean,
            "query_weight": np.array(self.query_weight),
            "name": np.array(self.name),
        }

    @classmethod
    def from_arrays(cls, data: Mapping[str, np.ndarray]) -> LanguageCentering:
        langs = [str(lang) for lang in data["languages"]]
        means = np.asarray(data["document_means"], dtype=np.float32)
        return cls(
            name=str(data["name"]),
            document_means=dict(zip(langs, means)),
            document_fallback=np.asarray(data["document_fallback"], dtype=np.float32),
            query_mean=np.asarray(data["query_mean"], dtype=np.float32),
            query_weight=float(data["query_weight"]),
            languages=tuple(langs),
        )


def raw_vectors(stored: np.ndarray, means: np.ndarray) -> np.ndarray:
    """The model's unit vectors back from corrected ones: ``stored`` = (raw - mean) / |raw - mean|.

    raw = mean + t * stored, with t > 0 the root of |mean + t * stored| = 1 (the model's vectors
    are unit length): t = -(m.s) + sqrt((m.s)^2 - |m|^2 + 1). Exact up to float rounding, so a
    collection's vectors can be re-corrected for new means without the text or the model.
    """
    s = np.asarray(stored, dtype=np.float64)
    m = np.asarray(means, dtype=np.float64)
    ms = np.einsum("ij,ij->i", m, s)
    mm = np.einsum("ij,ij->i", m, m)
    t = -ms + np.sqrt(np.maximum(ms * ms - mm + 1.0, 0.0))
    return m + t[:, None] * s


def reference_digest(texts: Mapping[str, Sequence[str]]) -> str:
    return hashlib.sha256(json.dumps(texts, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def pseudo_paragraphs(texts: Mapping[str, Sequence[str]], count: int = PARAGRAPHS) -> dict[str, list[str]]:
    """The same random 4-8 sentence combinations in every language (the reference text is parallel)."""
    n = len(next(iter(texts.values())))
    rng = random.Random(0)
    combos = [rng.sample(range(n), rng.randint(4, 8)) for _ in range(count)]
    return {
        lang: [("" if lang in _NO_SPACE else " ").join(sentences[i] for i in combo) for combo in combos]
        for lang, sentences in texts.items()
    }


def centering_name(model_key: str, digest: str) -> str:
    """What a collection records: the method, and a hash of the model and the reference text used."""
    return f"{METHOD}:{hashlib.sha256(f'{model_key}|{digest}'.encode()).hexdigest()[:12]}"


def compute_centering(
    embedder: Embedder, model_key: str, paragraphs_per_language: int = PARAGRAPHS
) -> LanguageCentering:
    """Embed the reference text with ``embedder`` (a few seconds for a small model on a CPU)."""
    texts = reference_sentences()
    paragraphs = pseudo_paragraphs(texts, paragraphs_per_language)
    document_means: dict[str, np.ndarray] = {}
    query_means = []
    for lang in sorted(texts):
        document_means[lang] = embedder.encode_documents(paragraphs[lang]).mean(0).astype(np.float32)
        query_means.append(embedder.encode_queries(texts[lang]).mean(0))
    return LanguageCentering(
        name=centering_name(model_key, reference_digest(texts)),
        document_means=document_means,
        document_fallback=np.mean(list(document_means.values()), axis=0).astype(np.float32),
        query_mean=np.mean(query_means, axis=0).astype(np.float32),
        languages=tuple(sorted(document_means)),
    )


def load_centering(path: Path) -> LanguageCentering | None:
    """Means from a file; None when it cannot be read or holds a NaN or an infinity (damaged: computed again)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
            centering = LanguageCentering.from_arrays(arrays)
    except (OSError, ValueError, KeyError):
        return None
    numeric = [a for a in arrays.values() if np.issubdtype(np.asarray(a).dtype, np.number)]
    return centering if all(np.isfinite(a).all() for a in numeric) else None


def save_centering(centering: LanguageCentering, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        np.savez(handle, **centering.to_arrays())  # type: ignore[arg-type]
    tmp.replace(path)


SHIPPED = (
    "means"  # language_reference/means/: precomputed for the bundled model, so first launch embeds nothing
)


def _file_name(name: str) -> str:
    return name.replace(":", "-") + ".npz"


def centering_for(embedder: Embedder, model_key: str, cache_dir: Path) -> LanguageCentering:
    """The shipped means for this model and reference text, else cached ones, else computed now and cached.

    The constants are this version's (QUERY_WEIGHT, SHRINKAGE), whatever the file recorded: they
    shape queries and future refits, not the stored vectors, so they may change between versions.
    """
    expected = centering_name(model_key, reference_digest(reference_sentences()))
    shipped = resources.files(REFERENCE_PACKAGE) / REFERENCE_FOLDER / SHIPPED / _file_name(expected)
    cached = cache_dir / "language-means" / _file_name(expected)
    for candidate in (Path(str(shipped)), cached):
        found = load_centering(candidate) if candidate.is_file() else None
        if found is not None and found.name == expected:
            return replace(found, query_weight=QUERY_WEIGHT, shrinkage=SHRINKAGE)
    computed = compute_centering(embedder, model_key)
    with contextlib.suppress(OSError):  # a full or read-only cache: computed again next time
        save_centering(computed, cached)
    return computed
