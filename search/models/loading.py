"""Names -> ready models: embedders and rerankers, each from wherever its files are.

Nothing here downloads unless the caller passes ``allow_downloads=True`` (the
network policy built once at the entry point).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from search.core.errors import InputError, ModelNotAvailableError
from search.models.backends import Backend
from search.models.embedder import Embedder
from search.models.encoders.planning import Planning
from search.models.hub import is_available_offline, resolve_folder
from search.models.registry import ModelRegistry, RerankerRegistry
from search.models.reranker import Reranker
from search.models.specs import Family, ModelSpec


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
    from search.models.encoders.transformers import TransformersEmbedder

    spec = model if isinstance(model, ModelSpec) else (registry or ModelRegistry()).get(model)
    folder = resolve_folder(spec.source, spec.revision, allow_downloads=allow_downloads, cache_dir=cache_dir)
    return TransformersEmbedder.from_folder(
        folder,
        spec,
        device=device,
        max_tokens=max_tokens,
        backend=backend,
        cache_dir=cache_dir,
        planning=planning,
    )


def model_available_offline(spec: ModelSpec) -> bool:
    """Whether the model can load on this machine without a network (a model built locally counts)."""
    return is_available_offline(spec.source, spec.revision)


def detect_family(folder: Path) -> Family:
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
    from search.models.encoders.cross_encoder import load_causal_yes_no, load_sequence_classifier
    from search.models.encoders.transformers import pick_device

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
