"""Texts and timing rounds shared by the embedding benchmarks (embed_speed, embed_options).

Why a module of its own: both benchmarks time the same ~60-token multilingual texts in alternating
rounds, and embed_speed reports embed_options' quality gate; with these here neither imports the other's
internals back.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchmarks.common import evaldata_dir
from search.models.encoders.transformers import TransformersEmbedder

LANGS = ("deu", "fra", "rus", "cmn", "jpn", "ara", "hin", "tur")
TARGET_TOKENS = 60


@dataclass(frozen=True)
class Timing:
    name: str
    seconds: list[float]
    texts: int

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def per_second(self) -> float:
        return self.texts / self.median


def make_texts(embedder: TransformersEmbedder, count: int) -> list[str]:
    """Consecutive Tatoeba sentences of one language joined until they reach ~60 tokens."""
    folder = evaldata_dir() / "tatoeba"
    per_lang = -(-count // len(LANGS))
    texts: list[str] = []
    for lang in LANGS:
        sentences = (folder / f"tatoeba.{lang}-eng.{lang}").read_text(encoding="utf-8").splitlines()
        made: list[str] = []
        current: list[str] = []
        tokens = 0
        for sentence, length in zip(sentences, embedder.count_tokens(sentences)):
            if tokens + length > TARGET_TOKENS + 6:
                continue  # keep every text near the target length
            current.append(sentence)
            tokens += length
            if tokens >= TARGET_TOKENS - 4:
                made.append(" ".join(current))
                current, tokens = [], 0
                if len(made) == per_lang:
                    break
        texts += made
    return texts[:count]


def time_rounds(
    paths: dict[str, Callable[[list[str]], np.ndarray]], texts: list[str], rounds: int
) -> dict[str, Timing]:
    """Alternate the order every round so drift in machine load hits both paths alike (passages only)."""
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for name in names:  # warm-up: first-call allocations, kernel selection
        paths[name](texts[:64])
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            started = time.perf_counter()
            paths[name](texts)
            seconds[name].append(time.perf_counter() - started)
    return {name: Timing(name, seconds[name], len(texts)) for name in names}
