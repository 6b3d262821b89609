"""Names -> ready models: embedders and rerankers, each from wherever its files are.

Nothing here downloads unless the caller passes ``allow_downloads=True`` (the
network policy built once at the entry point).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from search.core.errors import InputError, ModelNotAvailableError
from search.models.backends import Backend
from search.models.cpu import pick_device
from search.models.embedder import Embedder
from search.models.encoders.cross_encoder import load_causal_yes_no, load_sequence_classifier
from search.models.encoders.planning import Planning
from search.models.encoders.static import (
    StaticEmbedder,
    base_model_of,
    distiller_installed,
    ensure_distilled,
    is_distilled,
)
from search.models.encoders.transformers import TransformersEmbedder
from search.models.encoders.use import UseEmbedder, use_installed
from search.models.hub import is_available_offline, model_folder, resolve_folder
from search.models.registry import ModelRegistry, RerankerRegistry
from search.models.reranker import Reranker
from search.models.specs import DISTILLED_PREFIX, ModelSpec, RerankerFamily


def load_embedder(
    model: str | ModelSpec,
    *,
    registry: ModelRegistry | None = None,
    device: str | None = None,
    cache_dir: Path | None = None,
    max_tokens: int | None = None,
    backend: Backend = "auto",
    allow_downloads: bool = False,
    planning: Planning = "later",
) -> Embedder:
    """A registry name, alias, local folder with model_spec.json, or spec -> a ready embedder.

    ``planning`` is what ``backend="auto"`` does before this machine has a measured plan
    for the model (search.models.encoders.planning): measure "now", or run on the
    provisional choice and measure "later".
    """
    registry = registry or ModelRegistry()
    spec = model if isinstance(model, ModelSpec) else registry.get(model)
    if spec.family == "use":
        return UseEmbedder(spec)
    if spec.family == "model2vec":
        return StaticEmbedder(spec, static_folder(spec, registry, cache_dir, allow_downloads=allow_downloads))
    folder = model_folder(spec, allow_downloads=allow_downloads, cache_dir=cache_dir)
    return TransformersEmbedder.from_folder(
        folder,
        spec,
        device=device,
        max_tokens=max_tokens,
        backend=backend,
        cache_dir=cache_dir,
        planning=planning,
    )


def static_folder(
    spec: ModelSpec, registry: ModelRegistry, cache_dir: Path | None, *, allow_downloads: bool = False
) -> Path:
    """A distilled model's folder, distilled from its base model on first use (minutes, once)."""
    if not spec.source.startswith(DISTILLED_PREFIX):
        return resolve_folder(
            spec.source, spec.revision, allow_downloads=allow_downloads, cache_dir=cache_dir
        )
    base = registry.get(base_model_of(spec))
    base_folder = model_folder(base, allow_downloads=allow_downloads, cache_dir=cache_dir)
    return ensure_distilled(spec, base_folder, cache_dir, log=logging.getLogger(__name__).warning)


def model_available_offline(
    spec: ModelSpec, registry: ModelRegistry | None = None, cache_dir: Path | None = None
) -> bool:
    """Whether the model can load on this machine without a network (a model built locally counts)."""
    if spec.family == "use":
        return use_installed()
    if spec.source.startswith(DISTILLED_PREFIX):
        if is_distilled(spec, cache_dir):
            return True
        base = (registry or ModelRegistry()).get(base_model_of(spec))
        return distiller_installed() and model_available_offline(base, registry, cache_dir)
    return is_available_offline(spec.source, spec.revision)


def detect_family(folder: Path) -> RerankerFamily:
    """Sequence classification unless the config says causal LM (Qwen3-Reranker style)."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ModelNotAvailableError(f"{folder}: no config.json, not a transformers model folder")
    architectures = json.loads(config_file.read_text(encoding="utf-8")).get("architectures") or []
    if any(str(a).endswith("ForCausalLM") for a in architectures):
        return "causal-yes-no"
    if architectures and not any("SequenceClassification" in str(a) for a in architectures):
        raise InputError(
            f"{folder}: architecture {architectures} is neither a sequence-classification cross-encoder "
            "nor a causal LM reranker"
        )
    return "sequence-classification"


def load_reranker(
    name: str,
    *,
    registry: RerankerRegistry | None = None,
    device: str | None = None,
    max_length: int | None = None,
    allow_downloads: bool = False,
) -> Reranker:
    """A registry name, alias, hub id or local folder -> a ready reranker (offline unless allowed)."""
    registry = registry or RerankerRegistry()
    spec = registry.get(name)
    known = spec.name in registry.names()
    if max_length:
        spec = replace(spec, max_length=max_length)
    folder = resolve_folder(spec.source, spec.revision, allow_downloads=allow_downloads, what="reranker")
    family = spec.family if known else detect_family(folder)
    device = pick_device(device)
    if family == "causal-yes-no":
        return load_causal_yes_no(
            folder,
            spec.name,
            max_length=spec.max_length,
            batch_size=spec.batch_size,
            device=device,
            instruction=spec.instruction,
            trust_remote_code=spec.trust_remote_code,
        )
    return load_sequence_classifier(
        folder,
        spec.name,
        max_length=spec.max_length,
        batch_size=spec.batch_size,
        device=device,
        trust_remote_code=spec.trust_remote_code,
    )


def available_rerankers(registry: RerankerRegistry | None = None) -> list[str]:
    """Registry rerankers that can load without a download, in registry order."""
    return [
        spec.name
        for spec in (registry or RerankerRegistry()).specs()
        if is_available_offline(spec.source, spec.revision)
    ]
