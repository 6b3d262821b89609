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

The means are model metadata, computed by ``compute_centering`` from text the
project ships (``language_reference/``: 36 sentences written for this project,
in 18 languages), as the mean of 24 pseudo-paragraphs per language (paragraph-sized
text transfers to chunks better than single sentences: pool nDCG@10 76.8 vs 72.4).
Frozen means keep stored vectors consistent however the folder grows (means taken
from the folder itself would move; re-centring as it grows bought at most 0.8).
A language without a reference mean uses the mean of all of them: never raw
(left raw, Hindi alone took the six-language pool from 77 to 26.5).
XQuAD pool (6 languages): 50.9 -> 77.6; same-language 94.78 -> 94.73.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from search.models.embedder import Embedder

METHOD = "centering-v1"
QUERY_WEIGHT = 0.5  # queries lose half the global query-side mean (1.0 cost same-language and R@1)
PARAGRAPHS = 24  # pseudo-paragraphs per language (2 -> 72.9, 8 -> 76.3, 24 -> 76.8 pool nDCG@10)
_NO_SPACE = frozenset({"zh", "ja"})  # scripts written without spaces between sentences
REFERENCE_PACKAGE = "search.models"
REFERENCE_FOLDER = "language_reference"


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


@dataclass(frozen=True, eq=False)
class LanguageCentering:
    """Per-language document means and a global query mean; ``name`` identifies them in collection metadata."""

    name: str
    document_means: Mapping[str, np.ndarray]
    document_fallback: np.ndarray  # for "und" and languages without a reference mean
    query_mean: np.ndarray
    query_weight: float = QUERY_WEIGHT
    languages: tuple[str, ...] = field(default=())

    def documents(self, vectors: np.ndarray, languages: Sequence[str]) -> np.ndarray:
        """Chunk vectors with their language's mean removed, re-normalised."""
        if len(languages) != len(vectors):
            raise ValueError(f"{len(languages)} languages for {len(vectors)} vectors")
        if not len(vectors):
            return np.asarray(vectors, dtype=np.float32)
        means = np.stack([self.document_means.get(lang, self.document_fallback) for lang in languages])
        return _normalise(np.asarray(vectors, dtype=np.float32) - means)

    def queries(self, vectors: np.ndarray) -> np.ndarray:
        return _normalise(np.asarray(vectors, dtype=np.float32) - self.query_weight * self.query_mean)

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


def reference_sentences() -> dict[str, list[str]]:
    """language -> the project's parallel reference sentences (same count and order in every language)."""
    folder = resources.files(REFERENCE_PACKAGE) / REFERENCE_FOLDER
    texts = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".txt"):
            lines = entry.read_text(encoding="utf-8").splitlines()
            texts[entry.name[: -len(".txt")]] = [line.strip() for line in lines if line.strip()]
    counts = {len(v) for v in texts.values()}
    if len(counts) != 1:
        raise ValueError(f"reference files must be parallel; sentence counts differ: {sorted(counts)}")
    return texts


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


def compute_centering(embedder: Embedder, model_key: str) -> LanguageCentering:
    """Embed the reference text with ``embedder`` (a few seconds for a small model on a CPU)."""
    texts = reference_sentences()
    paragraphs = pseudo_paragraphs(texts)
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
    """The shipped means for this model and reference text, else cached ones, else computed now and cached."""
    expected = centering_name(model_key, reference_digest(reference_sentences()))
    shipped = resources.files(REFERENCE_PACKAGE) / REFERENCE_FOLDER / SHIPPED / _file_name(expected)
    cached = cache_dir / "language-means" / _file_name(expected)
    for candidate in (Path(str(shipped)), cached):
        found = load_centering(candidate) if candidate.is_file() else None
        if found is not None and found.name == expected:
            return found
    computed = compute_centering(embedder, model_key)
    with contextlib.suppress(OSError):  # a full or read-only cache: computed again next time
        save_centering(computed, cached)
    return computed


def main() -> None:
    """Write the shipped means of a model into the package (run after changing the reference text)."""
    import argparse

    from search.models.embed_cache import model_key
    from search.models.loading import load_embedder

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--cache-dir", type=Path, help="model cache (converted bundled model)")
    args = parser.parse_args()
    embedder = load_embedder(args.model, cache_dir=args.cache_dir, backend="torch")
    key = model_key(embedder.spec, getattr(embedder, "max_tokens", None))
    centering = compute_centering(embedder, key)
    folder = Path(str(resources.files(REFERENCE_PACKAGE) / REFERENCE_FOLDER / SHIPPED))
    save_centering(centering, folder / _file_name(centering.name))
    print(f"{centering.name}: {len(centering.languages)} languages -> {folder / _file_name(centering.name)}")


if __name__ == "__main__":
    main()
