"""Reranker registry: known cross-encoders by name, and loading any hub id or local folder.

Like the embedding registry, everything that must be applied as the authors did
(the model family, its length limit, remote code, an instruction) is metadata
here, not a call-site choice. A name the registry does not know is still
accepted as a hub id or a local folder: the family is read from its config.
Loading goes through the same offline-first hub cache as the embedders, so an
uncached model fails with instructions instead of a download attempt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from search.models.embedders import ModelNotAvailableError, hub_snapshot, pick_device
from search.models.registry import UnknownModelError
from search.retrieval.rerank import Reranker

Family = Literal["sequence-classification", "causal-yes-no"]


@dataclass(frozen=True)
class RerankerSpec:
    name: str
    source: str  # hub id or local folder
    family: Family = "sequence-classification"
    revision: str | None = None
    max_length: int = 512  # tokens of query + passage; longer pairs are truncated
    batch_size: int = 16
    trust_remote_code: bool = False  # only for a registry entry whose authors ship their own model code
    instruction: str | None = None  # causal-yes-no only
    license: str = "unknown"
    description: str = ""
    aliases: tuple[str, ...] = ()


_SPECS: tuple[RerankerSpec, ...] = (
    RerankerSpec(
        name="BAAI/bge-reranker-v2-m3",
        source="BAAI/bge-reranker-v2-m3",
        max_length=512,
        license="Apache-2.0",
        description="XLM-R large cross-encoder, 100+ languages (568M parameters)",
        aliases=("bge-reranker-v2-m3", "bge-reranker"),
    ),
    RerankerSpec(
        name="cross-encoder/mmarco-mMiniLMv2-L12-H384-v1",
        source="cross-encoder/mmarco-mMiniLMv2-L12-H384-v1",
        max_length=512,
        license="Apache-2.0",
        description="multilingual MiniLM cross-encoder trained on mMARCO (118M parameters, fast on CPU)",
        aliases=("mmarco-minilm", "mmarco-mMiniLMv2-L12-H384-v1"),
    ),
    RerankerSpec(
        name="jinaai/jina-reranker-v2-base-multilingual",
        source="jinaai/jina-reranker-v2-base-multilingual",
        max_length=1024,
        trust_remote_code=True,  # the model class ships in the repository
        license="CC-BY-NC-4.0",
        description="XLM-R base cross-encoder with flash attention code from the authors (278M parameters)",
        aliases=("jina-reranker-v2", "jina-reranker-v2-base-multilingual"),
    ),
    RerankerSpec(
        name="Qwen/Qwen3-Reranker-0.6B",
        source="Qwen/Qwen3-Reranker-0.6B",
        family="causal-yes-no",
        max_length=2048,
        batch_size=4,
        license="Apache-2.0",
        description="Qwen3 0.6B answering yes/no per pair, 100+ languages (slow on CPU)",
        aliases=("qwen3-reranker", "qwen3-reranker-0.6b"),
    ),
)


class RerankerRegistry:
    def __init__(self, specs: tuple[RerankerSpec, ...] = _SPECS) -> None:
        self._specs: dict[str, RerankerSpec] = {}
        self._aliases: dict[str, str] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: RerankerSpec) -> None:
        self._specs[spec.name] = spec
        for alias in spec.aliases:
            self._aliases[alias.lower()] = spec.name

    def names(self) -> list[str]:
        return list(self._specs)

    def specs(self) -> list[RerankerSpec]:
        return list(self._specs.values())

    def get(self, name: str) -> RerankerSpec:
        """A registry name or alias; else a local folder or a hub id ("org/model"), family read later."""
        if name in self._specs:
            return self._specs[name]
        canonical = self._aliases.get(name.lower())
        if canonical:
            return self._specs[canonical]
        if Path(name).expanduser().is_dir() or _looks_like_hub_id(name):
            return RerankerSpec(name=name, source=name)
        raise UnknownModelError(
            f"Unknown reranker {name!r}. Known rerankers: {', '.join(self.names())}. "
            "Any cross-encoder works by its hub id (org/name, once in the local Hugging Face cache) "
            "or by the path of its local folder."
        )


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~", "/"))


def resolve_folder(spec: RerankerSpec) -> Path:
    local = Path(spec.source).expanduser()
    if local.is_dir():
        return local
    if local.is_absolute() or spec.source.startswith((".", "~")):
        raise ModelNotAvailableError(f"reranker folder {spec.source} does not exist")
    return hub_snapshot(spec.source, spec.revision)


def detect_family(folder: Path) -> Family:
    """Sequence classification unless the config says causal LM (Qwen3-Reranker style)."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ModelNotAvailableError(f"{folder}: no config.json, not a transformers model folder")
    architectures = json.loads(config_file.read_text(encoding="utf-8")).get("architectures") or []
    if any(str(a).endswith("ForCausalLM") for a in architectures):
        return "causal-yes-no"
    if architectures and not any("SequenceClassification" in str(a) for a in architectures):
        raise ValueError(
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
) -> Reranker:
    """A registry name, alias, hub id or local folder -> a ready reranker (offline unless allowed)."""
    from search.models.cross_encoder import load_causal_yes_no, load_sequence_classifier

    registry = registry or RerankerRegistry()
    spec = registry.get(name)
    known = spec.name in registry.names()
    if max_length:
        spec = replace(spec, max_length=max_length)
    folder = resolve_folder(spec)
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


def is_available_offline(spec: RerankerSpec) -> bool:
    """Whether the reranker's files are here (a local folder, or the local Hugging Face cache)."""
    local = Path(spec.source).expanduser()
    if local.is_dir():
        return (local / "config.json").is_file()
    if not _looks_like_hub_id(spec.source):
        return False
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(spec.source, "config.json", revision=spec.revision)
    return isinstance(found, str)


def available_rerankers(registry: RerankerRegistry | None = None) -> list[str]:
    """Registry rerankers that can load without a download, in registry order."""
    return [spec.name for spec in (registry or RerankerRegistry()).specs() if is_available_offline(spec)]
