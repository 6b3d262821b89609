"""Static token-vector models (model2vec), distilled on this machine from a transformer we already have.

``model2vec.distill`` runs every vocabulary token through the base model once,
reduces the vectors with PCA and weights them by token frequency (SIF). The
result embeds a text as the mean of its tokens' vectors: no transformer at index
or query time, tens of times faster on a CPU, at a quality cost (measured in
README, "Models"): same-language search still works, but static token vectors
are not aligned across languages, so cross-lingual search does not.

Distilling the bundled multilingual-e5-small takes ~5 minutes on two cores, once:
the folder is written privately and renamed into place (as the bundled model's
conversion), so a process killed meanwhile never leaves a half-written model.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search.core.errors import ModelNotAvailableError
from search.core.paths import default_cache_dir
from search.models.encoders.numpy_base import NumpyEmbedder
from search.models.integrity import damaged, discard, files_below, record, recorded_names
from search.models.scratch import install_folder, private_dir, read_marker, remove_stale_temporaries
from search.models.specs import DISTILLED_PREFIX, ModelSpec

MARKER_FILENAME = "distillation.json"
PCA_DIMS = 256  # measured on XQuAD: 256 + SIF keeps most of 384's quality at 2/3 the size
SIF_COEFFICIENT = 1e-4


@dataclass(frozen=True)
class DistillationMarker:
    """Written last into a distilled folder; a folder without a matching one is rebuilt."""

    revision: str
    base_model: str
    base_folder: str
    seconds: float
    vocabulary: int
    dimension: int

    @classmethod
    def read(cls, path: Path) -> DistillationMarker | None:
        return read_marker(cls, path)


def base_model_of(spec: ModelSpec) -> str:
    """The registry model a distilled spec is built from ("distilled:<name>")."""
    if not spec.source.startswith(DISTILLED_PREFIX):
        raise ValueError(f"{spec.name}: source {spec.source!r} is not {DISTILLED_PREFIX}<model>")
    return spec.source[len(DISTILLED_PREFIX) :]


def distilled_dir(spec: ModelSpec, cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_dir()) / "models" / f"{spec.name}-{spec.revision}"


def is_distilled(spec: ModelSpec, cache_dir: Path | None = None) -> bool:
    marker = DistillationMarker.read(distilled_dir(spec, cache_dir) / MARKER_FILENAME)
    return marker is not None and marker.revision == spec.revision


def distiller_installed() -> bool:
    """model2vec and its distill extra are installed (found, not imported: importing loads torch)."""
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in ("model2vec", "skeletoken", "torch", "transformers"))


Distill = Callable[[Path, Path, ModelSpec], None]  # (base folder, destination, spec): writes the model


def distill_with_model2vec(base_folder: Path, dest: Path, spec: ModelSpec) -> None:
    """``model2vec.distill`` on a local transformers folder: offline, on the CPU."""
    try:
        from model2vec.distill import distill
    except ImportError as exc:
        raise ModelNotAvailableError(
            f"Building {spec.name} needs model2vec's distill extra: pip install 'model2vec[distill]'"
        ) from exc
    pca = PCA_DIMS if spec.dimension == PCA_DIMS else spec.dimension
    model = distill(model_name=str(base_folder), pca_dims=pca, sif_coefficient=SIF_COEFFICIENT, device="cpu")
    if model.dim != spec.dimension:
        raise ModelNotAvailableError(
            f"{spec.name}: distillation gave {model.dim} dimensions, the spec says {spec.dimension}"
        )
    model.save_pretrained(str(dest))


def ensure_distilled(
    spec: ModelSpec,
    base_folder: Path,
    cache_dir: Path | None = None,
    *,
    distill: Distill = distill_with_model2vec,
    log: Callable[[str], None] | None = None,
) -> Path:
    """The distilled model's folder, distilling once (minutes) when it is missing or stale."""
    final = distilled_dir(spec, cache_dir)
    remove_stale_temporaries(final.parent)  # distillations a killed process left half-written
    if is_distilled(spec, cache_dir):
        bad = damaged(final, recorded_names(final) or files_below(final, leave_out=(MARKER_FILENAME,)))
        if not bad:
            return final
        if log is not None:
            log(
                f"{final / bad[0]} does not match the checksum recorded when it was built (damaged or changed)"
            )
        discard(final)
    if log is not None:
        log(f"building {spec.name} from {base_model_of(spec)} (once, a few minutes on a small CPU) …")
    started = time.perf_counter()
    tmp = private_dir(final.parent, final.name)
    try:
        distill(base_folder, tmp, spec)
        config = json.loads((tmp / "config.json").read_text(encoding="utf-8"))
        marker = DistillationMarker(
            revision=str(spec.revision),
            base_model=base_model_of(spec),
            base_folder=str(base_folder),
            seconds=round(time.perf_counter() - started, 1),
            vocabulary=_vocabulary_size(tmp),
            dimension=int(config.get("hidden_dim", spec.dimension)),
        )
        (tmp / MARKER_FILENAME).write_text(json.dumps(asdict(marker), indent=1), encoding="utf-8")
        record(tmp, files_below(tmp, leave_out=(MARKER_FILENAME,)))  # checked on every load
        tmp.chmod(0o755)
        install_folder(tmp, final, lambda: is_distilled(spec, cache_dir))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _vocabulary_size(folder: Path) -> int:
    try:
        data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        return len(data["model"]["vocab"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


class StaticEmbedder(NumpyEmbedder):
    """A model2vec ``StaticModel`` behind the Embedder protocol: mean of token vectors, no prompts.

    e5's "query: "/"passage: " prompts are left off: a static model has no attention to
    condition on them (measured on XQuAD: slightly worse with them).
    """

    def __init__(self, spec: ModelSpec, folder: Path) -> None:
        from model2vec import StaticModel

        self._spec = spec
        self._model: Any = StaticModel.from_pretrained(str(folder))
        if self._model.dim != spec.dimension:
            raise ModelNotAvailableError(
                f"{folder}: {self._model.dim} dimensions, {spec.name} expects {spec.dimension}; delete the "
                "folder to build it again"
            )
        self._lock = threading.Lock()  # encode() sets the tokenizer's truncation: not thread-safe

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            vectors = self._model.encode(
                list(texts), max_length=self._spec.max_tokens, use_multiprocessing=False
            )
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)  # a text of unknown tokens only is a zero vector

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encodings = self._model.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def document_overhead(self) -> int:
        return 0

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        encodings = self._model.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        return [list(e.ids) for e in encodings]
