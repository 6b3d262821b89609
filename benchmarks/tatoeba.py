"""Tatoeba bitext mining (MTEB protocol) beside the published MTEB accuracy for the same model.

Why: a model layer that applies prompts, pooling or tokenisation wrongly still
produces plausible vectors; reproducing a published per-language figure is what
shows the vectors are the model's own.

Protocol (MTEB ``BitextMiningEvaluator``): embed both sides, for each sentence
of language xxx take the English sentence with the highest cosine, accuracy@1
against the aligned line. Prompt: MTEB 1.36 (the version that produced the e5
reference figures) passes no prompt type for bitext mining and e5's MTEB prompts
are only keyed "query"/"passage", so **no prompt** is applied on either side.
``--prompt query`` applies "query: " to both sides instead, as the e5 authors'
own script does for non-retrieval tasks.

    python -m benchmarks.tatoeba --model multilingual-e5-small --langs deu,fra,cmn
    python -m benchmarks.tatoeba --all
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from benchmarks.common import evaldata_dir, format_table, reference_name, reference_scores
from search.models.embedder import Embedder
from search.models.encoders.transformers import TransformersEmbedder
from search.models.loading import load_embedder
from search.models.registry import ModelRegistry
from search.models.specs import DEFAULT_MODEL

DEFAULT_LANGS = "deu,fra,cmn,ara,hin,swh,jpn,rus,tur,vie"
PROMPT_MODES = ("none", "query", "document")


@dataclass(frozen=True)
class Result:
    lang: str
    pairs: int
    accuracy: float  # percent
    reference: float | None

    @property
    def gap(self) -> float | None:
        return None if self.reference is None else self.accuracy - self.reference


def read_pairs(folder: Path, lang: str) -> tuple[list[str], list[str]]:
    """Line i of ``tatoeba.xxx-eng.xxx`` translates line i of ``tatoeba.xxx-eng.eng``."""
    source = (folder / f"tatoeba.{lang}-eng.{lang}").read_text(encoding="utf-8").splitlines()
    english = (folder / f"tatoeba.{lang}-eng.eng").read_text(encoding="utf-8").splitlines()
    if len(source) != len(english):
        raise ValueError(f"{lang}: {len(source)} lines but {len(english)} English lines")
    return source, english


def available_langs(folder: Path) -> list[str]:
    return sorted({p.name.split(".")[1].split("-")[0] for p in folder.glob("tatoeba.*-eng.eng")})


def symmetric_encoder(embedder: TransformersEmbedder, mode: str) -> TransformersEmbedder:
    """Bitext mining is symmetric: both sides get the same prompt, or none (MTEB's choice for e5)."""
    if mode != "none":
        return embedder
    return embedder.with_spec(replace(embedder.spec, query_prompt="", document_prompt=""))


def encode_side(embedder: Embedder, texts: list[str], mode: str) -> np.ndarray:
    if mode == "query":
        return embedder.encode_queries(texts)
    return embedder.encode_documents(texts)


def mining_accuracy(source: np.ndarray, english: np.ndarray) -> float:
    """Share of source sentences whose nearest English sentence (cosine) is the aligned one."""
    scores = source @ english.T  # vectors are L2-normalised
    return float((scores.argmax(axis=1) == np.arange(len(source))).mean() * 100.0)


def run(embedder: Embedder, langs: Sequence[str], mode: str, reference: dict[str, float]) -> list[Result]:
    folder = evaldata_dir() / "tatoeba"
    results = []
    for lang in langs:
        source, english = read_pairs(folder, lang)
        vectors = encode_side(embedder, source + english, mode)
        accuracy = mining_accuracy(vectors[: len(source)], vectors[len(source) :])
        results.append(Result(lang, len(source), accuracy, reference.get(f"{lang}-eng")))
    return results


def report(results: Sequence[Result], model: str, mode: str, seconds: float) -> str:
    rows = [(r.lang, r.pairs, r.accuracy, r.reference, r.gap) for r in results]
    gaps = [r.gap for r in results if r.gap is not None]
    ours = statistics.fmean(r.accuracy for r in results)
    lines = [
        f"Tatoeba bitext mining, {model}, prompt={mode}, accuracy@1 (%), {len(results)} languages, {seconds:.0f}s",
        format_table(["lang", "pairs", "ours", "MTEB", "gap"], rows),
        f"mean accuracy: ours {ours:.2f}",
    ]
    if gaps:
        refs = [r.reference for r in results if r.reference is not None]
        lines.append(f"mean published: {statistics.fmean(refs):.2f}")  # type: ignore[arg-type]
        lines.append(
            f"mean gap: {statistics.fmean(gaps):+.2f} points (mean |gap| {statistics.fmean(map(abs, gaps)):.2f})"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--langs", default=DEFAULT_LANGS, help="comma-separated ISO 639-3 codes")
    parser.add_argument("--all", action="store_true", help="every language pair in the data (112)")
    parser.add_argument(
        "--prompt", choices=PROMPT_MODES, default="none", help="prompt on both sides (default: MTEB's)"
    )
    parser.add_argument("--max-tokens", type=int, default=None)
    parser.add_argument(
        "--backends",
        default="auto",
        help="comma-separated backends to compare in one run, e.g. torch,auto (auto: this machine's plan)",
    )
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    registry = ModelRegistry()
    spec = registry.get(args.model)
    folder = evaldata_dir() / "tatoeba"
    langs = available_langs(folder) if args.all else [x.strip() for x in args.langs.split(",") if x.strip()]
    published = reference_scores("mteb_tatoeba_accuracy.tsv").get(reference_name(spec.name), {})
    if not published:
        published = reference_scores("mteb_tatoeba_accuracy.tsv").get(reference_name(spec.source), {})

    means: dict[str, float] = {}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        loaded = load_embedder(
            spec,
            registry=registry,
            max_tokens=args.max_tokens,
            backend=backend,  # type: ignore[arg-type]
            cache_dir=args.cache_dir,
            planning="now",
        )
        assert isinstance(loaded, TransformersEmbedder)
        embedder = symmetric_encoder(loaded, args.prompt)
        started = time.perf_counter()
        results = run(embedder, langs, args.prompt, published)
        runs_on = getattr(loaded, "backend", backend)
        print(f"backend {backend} (passages on {runs_on})")
        print(report(results, spec.name, args.prompt, time.perf_counter() - started))
        means[f"{backend} ({runs_on})"] = statistics.fmean(r.accuracy for r in results)
    if len(means) > 1:
        first = next(iter(means.values()))
        print("mean accuracy@1: " + "; ".join(f"{k} {v:.2f} ({v - first:+.2f})" for k, v in means.items()))


if __name__ == "__main__":
    main()
