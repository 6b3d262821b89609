"""Variants of one model's pipeline a user can put side by side: the language correction and the query prompt.

* Correction: ``raw`` (the model's own vectors), ``corrected`` (the language means taken
  out, no vote) and ``vote`` (corrected, and the query's best passages vote for their
  translations: what a collection of a correcting model is written for). A model without a
  correction (USE, model2vec) has only ``raw``.
* Query prompt: the text put before each query (e5: "query: "), or, for a model whose
  registry prompt is an instruction template ("{task}"), the instruction it wraps. A
  query-side setting: passages keep the document prompt the collection records.

Evaluate and Compare build their pipelines from these; the CLI, the UI and report.json
name a variant by ``variant_suffix``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from search.core.errors import InputError
from search.models.embedder import Embedder
from search.models.specs import ModelSpec

if TYPE_CHECKING:
    from search.application.services import Services

Correction = Literal["raw", "corrected", "vote"]
CORRECTIONS: tuple[Correction, ...] = ("raw", "corrected", "vote")
PROMPT_LABEL_CHARS = 32  # a longer prompt is cut in labels and told apart by a short hash


def parse_corrections(values: Iterable[str]) -> tuple[Correction, ...]:
    """The variants named, in order, without repeats; an unknown name is refused in one line."""
    out: list[Correction] = []
    for value in values:
        name = value.strip().lower()
        if not name:
            continue
        if name not in CORRECTIONS:
            raise InputError(
                f"Unknown correction variant {value[:40]!r}; choose from {', '.join(CORRECTIONS)}."
            )
        if name not in out:
            out.append(cast(Correction, name))
    return tuple(out)


def corrections_of(services: Services, model: str) -> tuple[Correction, ...]:
    """The variants ``model`` can have here: all three where it is corrected, else ``raw`` alone."""
    spec = services.spec(model)
    if spec.language_centering and services.settings.language_correction:
        return CORRECTIONS
    return ("raw",)


def default_correction(services: Services, model: str) -> Correction:
    """What a new collection of ``model`` is written and searched with."""
    return "vote" if len(corrections_of(services, model)) > 1 else "raw"


def check_correction(services: Services, model: str, correction: str | None) -> Correction:
    """``correction`` (None: the model's default) when ``model`` can have it, else a one-line InputError."""
    if correction is None:
        return default_correction(services, model)
    (name,) = parse_corrections([correction])
    if name not in corrections_of(services, model):
        raise InputError(
            f"{model} has no language correction here: only the 'raw' variant exists for it, not {name!r}."
        )
    return name


def check_prompt(spec: ModelSpec, prompt: str | None) -> ModelSpec:
    """``spec`` under the user's query prompt; a model without one refuses it in one line."""
    if prompt is not None and len(prompt) > 1000:
        raise InputError("A query prompt is at most 1000 characters.")
    return spec.with_query_prompt(prompt)


def query_embedder(base: Embedder, prompt: str | None) -> Embedder:
    """``base`` (the loaded model, behind the cache or not) embedding queries with ``prompt``."""
    spec = check_prompt(base.spec, prompt)
    if spec == base.spec:
        return base
    with_spec = getattr(base, "with_spec", None)
    if with_spec is None:
        raise InputError(f"{base.spec.name} cannot take another query prompt in this app.")
    return cast(Embedder, with_spec(spec))


def prompt_record(spec: ModelSpec, prompt: str | None) -> dict[str, Any]:
    """What report.json and the search JSON record of the query prompt: the prefix applied, and
    whether the user set it (and for an instruction template, the instruction)."""
    applied = check_prompt(spec, prompt)
    return {
        "query_prompt": applied.query_prefix(),
        "query_prompt_set_by": "model" if prompt is None else "user",
        "instruction": prompt if (prompt is not None and spec.takes_instruction) else None,
    }


def shown_prompt(prompt: str) -> str:
    """A prompt as a label shows it: quoted, cut at PROMPT_LABEL_CHARS with a hash to keep two apart."""
    quoted = json.dumps(prompt, ensure_ascii=False)
    if len(quoted) <= PROMPT_LABEL_CHARS:
        return quoted
    digest = hashlib.sha256(prompt.encode("utf-8", errors="surrogatepass")).hexdigest()[:4]
    return f"{quoted[: PROMPT_LABEL_CHARS - 1]}…#{digest}"


def variant_suffix(correction: str | None, prompt: str | None) -> str:
    """' [raw]', ' [vote, prompt "…"]', or '' for the model's own settings left unnamed (for an
    instruction template the prompt shown is the instruction)."""
    parts = [correction] if correction else []
    if prompt is not None:
        parts.append(f"prompt {shown_prompt(prompt)}")
    return f" [{', '.join(parts)}]" if parts else ""


def expand_prompts(prompts: Sequence[str]) -> tuple[str | None, ...]:
    """The model's own prompt (None), then each prompt given, without repeats."""
    return tuple(dict.fromkeys((None, *prompts)))


def searched_correction(mode: str, correction: str) -> str:
    """What a pipeline with ``correction`` really compares in ``mode``: sparse (lexical) search reads
    no dense vector, and the vote runs in dense mode only (hybrid's "vote" is its "corrected")."""
    if mode == "sparse":
        return "none (sparse)"
    return "corrected" if (mode == "hybrid" and correction == "vote") else correction
