"""Language-correction variants (raw / corrected / vote) and user query prompts, side by side.

Evaluate: each variant is a pipeline of its own, labelled, recorded in report.json, reusing the
embedding cache. Search and Compare: the same collection searched as another variant, with
scores that are that variant's own (raw: exact cosines of the model's recovered vectors).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from indexer.service import FolderIndexer
from search.application.evaluating import (
    PipelineSpec,
    evaluate_pipelines,
    grid_notes,
    pipeline_grid,
    write_eval_files,
)
from search.application.search_app import PipelineChoice, SearchApp
from search.application.searching import make_request
from search.application.services import Services
from search.application.variants import CORRECTIONS, Correction, shown_prompt
from search.core.errors import InputError, QueryError
from search.core.settings import Settings
from search.core.types import CorpusDoc, Query, QuerySet
from search.models.registry import ModelRegistry
from search.models.specs import ModelSpec
from search.stores.client import ClientStore
from tests.fakes import FakeEmbedder, fake_spec

CENTERED = "fake-centered"
PLAIN = "fake-plain"
NUMPY = "fake-use"  # a prompt-free family, like USE and model2vec

DOCS = {
    "en/bees.txt": ("en", "Honeybees pollinate orchards and make honey from nectar."),
    "de/bienen.txt": ("de", "Honigbienen bestäuben Obstgärten und machen Honig aus Nektar."),
    "de/brot.txt": ("de", "Roggenbrot braucht Sauerteig und lange Gare im Ofen."),
    "fr/velo.txt": ("fr", "Les pistes cyclables protégées rendent Paris plus sûre."),
}
QUERIES = {
    "q1": ("en", "honeybees pollinate orchards nectar", {"en/bees.txt": 1, "de/bienen.txt": 1}),
    "q2": ("de", "roggenbrot sauerteig gare ofen", {"de/brot.txt": 1}),
    "q3": ("fr", "pistes cyclables paris", {"fr/velo.txt": 1}),
}


def _queryset() -> QuerySet:
    return QuerySet(
        name="variants",
        corpus={d: CorpusDoc(d, text, title="", language=lang) for d, (lang, text) in DOCS.items()},
        queries={q: Query(q, text, lang) for q, (lang, text, _) in QUERIES.items()},
        qrels={q: rel for q, (_, _, rel) in QUERIES.items()},
    )


class PromptedFake(FakeEmbedder):
    """The fake model, with the query prefix it was asked for kept (it ignores it when embedding)."""

    prefixes: ClassVar[list[str]] = []

    def with_spec(self, spec: ModelSpec) -> PromptedFake:
        return PromptedFake(spec)

    def encode_queries(self, texts, task=None):  # type: ignore[no-untyped-def]
        PromptedFake.prefixes.append(self.spec.query_prefix(task))
        return super().encode_queries(texts, task)


@pytest.fixture
def embedders() -> dict[str, PromptedFake]:
    return {}


@pytest.fixture
def services(tmp_path: Path, embedders: dict[str, PromptedFake]) -> Services:
    registry = ModelRegistry(
        (
            dataclasses.replace(fake_spec(CENTERED, 64, 128), language_centering=True),
            fake_spec(PLAIN, 64, 128),
            dataclasses.replace(fake_spec(NUMPY, 64, 128), family="use", query_prompt="", document_prompt=""),
        )
    )

    def make(spec: ModelSpec) -> PromptedFake:
        embedders[spec.name] = PromptedFake(spec)
        return embedders[spec.name]

    return Services(
        Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", default_model=CENTERED),
        ClientStore(":memory:"),
        registry=registry,
        embedder_factory=make,
        indexer_factory=FolderIndexer,
    )


def _variants(model: str) -> tuple[Correction, ...]:
    return CORRECTIONS if model == CENTERED else ("raw",)


def _prompted(model: str) -> bool:
    return model != NUMPY


def test_the_grid_crosses_variants_and_labels_them() -> None:
    grid = pipeline_grid(
        [CENTERED, NUMPY], ["dense"], corrections=["raw", "corrected", "vote"], variants_of=_variants
    )
    assert [p.label for p in grid] == [
        f"{CENTERED} [raw]",
        f"{CENTERED} [corrected]",
        f"{CENTERED} [vote]",
        f"{NUMPY} [raw]",  # one row, not three copies of the same pipeline
    ]
    notes = grid_notes([CENTERED, NUMPY], ["raw", "vote"], [], variants_of=_variants, prompted=_prompted)
    assert notes == [f"{NUMPY} has no language correction: evaluated as 'raw' only (not vote)."]
    # Without variants asked for, the labels are today's: the model alone.
    assert [p.label for p in pipeline_grid([CENTERED], ["dense", "hybrid"])] == [
        CENTERED,
        f"{CENTERED}/hybrid",
    ]


def test_variants_a_mode_cannot_tell_apart_are_folded() -> None:
    grid = pipeline_grid([CENTERED], ["sparse", "hybrid"], corrections=list(CORRECTIONS), prompts=["find: "])
    labels = [p.label for p in grid]
    assert labels == [
        f"{CENTERED}/sparse",  # lexical: no dense vector, no correction, no prompt
        f"{CENTERED}/hybrid [raw]",
        f'{CENTERED}/hybrid [raw, prompt "find: "]',
        f"{CENTERED}/hybrid [corrected]",  # hybrid has no vote: its "vote" is "corrected"
        f'{CENTERED}/hybrid [corrected, prompt "find: "]',
    ]
    assert len(set(labels)) == len(labels)


def test_prompt_labels_stay_short_and_distinct() -> None:
    a, b = (
        "Represent this question for retrieving " * 2 + "A",
        "Represent this question for retrieving " * 2 + "B",
    )
    assert len(shown_prompt(a)) < 45 and shown_prompt(a) != shown_prompt(b)
    assert shown_prompt("") == '""'


def test_eval_runs_raw_corrected_and_vote_side_by_side_from_one_embedding(
    services: Services, embedders: dict[str, PromptedFake], tmp_path: Path
) -> None:
    services.embedder(CENTERED)  # loaded before the runs (as the app's own model): kept, so its calls add up
    evaluate_pipelines(services, _queryset(), [PipelineSpec(CENTERED)])  # today's pipeline: vote
    embedded = list(embedders[CENTERED].calls)
    pipelines = [PipelineSpec(CENTERED, correction=c) for c in CORRECTIONS]
    report = evaluate_pipelines(services, _queryset(), pipelines)
    assert report.pipelines == tuple(f"{CENTERED} [{c}]" for c in CORRECTIONS)
    assert [report.details[p.label]["correction"] for p in pipelines] == list(CORRECTIONS)
    added = embedders[CENTERED].calls[len(embedded) :]
    assert not [c for c in added if c[0] == "document"], "raw and corrected indexes come from the cache"
    assert report.comparison(f"{CENTERED} [raw]", f"{CENTERED} [vote]") is not None
    files = write_eval_files(report, tmp_path / "out")
    saved = json.loads(files.report.read_text(encoding="utf-8"))
    assert saved["details"][f"{CENTERED} [corrected]"]["correction"] == "corrected"


def test_a_variant_a_model_cannot_have_is_refused_in_one_line(services: Services) -> None:
    for spec in (PipelineSpec(PLAIN, correction="vote"), PipelineSpec(NUMPY, query_prompt="query: ")):
        with pytest.raises(InputError) as caught:
            evaluate_pipelines(services, _queryset(), [spec])
        assert "\n" not in str(caught.value)
    with pytest.raises(InputError, match="Unknown correction variant"):
        PipelineSpec(CENTERED, correction="half")  # type: ignore[arg-type]


def test_the_report_records_the_query_prompt_each_pipeline_used(services: Services, tmp_path: Path) -> None:
    PromptedFake.prefixes = []
    pipelines = [PipelineSpec(PLAIN), PipelineSpec(PLAIN, query_prompt="search_query: ")]
    report = evaluate_pipelines(services, _queryset(), pipelines)
    own, mine = (report.details[p.label] for p in pipelines)
    assert pipelines[1].label == f'{PLAIN} [prompt "search_query: "]'
    assert (own["query_prompt"], own["query_prompt_set_by"]) == ("query: ", "model")
    assert (mine["query_prompt"], mine["query_prompt_set_by"]) == ("search_query: ", "user")
    assert set(PromptedFake.prefixes) == {"query: ", "search_query: "}  # each prompt really embedded
    saved = json.loads(write_eval_files(report, tmp_path / "out").report.read_text(encoding="utf-8"))
    assert saved["details"][pipelines[1].label]["query_prompt"] == "search_query: "


def test_an_instruction_template_wraps_the_users_instruction(tmp_path: Path) -> None:
    template = dataclasses.replace(
        fake_spec("fake-instruct", 64, 128),
        query_prompt="Instruct: {task}\nQuery: ",
        document_prompt="",
        default_task="Given a question, find passages",
    )
    assert template.takes_instruction
    applied = template.with_query_prompt("Find the recipe")
    assert applied.query_prefix() == "Instruct: Find the recipe\nQuery: "
    assert applied.document_prompt == "" and applied.query_prompt == template.query_prompt
    with pytest.raises(InputError, match="no instruction template"):
        fake_spec(PLAIN).with_query_prompt("Instruct: {task}")


def test_search_and_compare_put_the_collections_variants_side_by_side(
    services: Services, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    for relpath, (_, text) in DOCS.items():
        (docs / relpath).parent.mkdir(parents=True, exist_ok=True)
        (docs / relpath).write_text(text, encoding="utf-8")
    app = SearchApp(services)
    app.index_folder(docs)
    collection = app.default_collection()
    assert collection is not None
    query = "honeybees pollinate orchards"

    def search(correction: str | None = None, prompt: str | None = None, mode: str = "dense"):  # type: ignore[no-untyped-def]
        request = make_request(
            query, collection, [], 4, mode, None, "off", correction=correction, query_prompt=prompt
        )
        return app.search(request)

    own = search()
    assert own.variant["correction"] == "vote" and own.variant["query_prompt_set_by"] == "model"
    raw = search("raw")
    assert raw.variant["correction"] == "raw" and not raw.result.corrected
    assert raw.cue_note is not None and "variant" in raw.cue_note  # the cue was calibrated on the own
    # Raw scores are the model's own cosines, recovered exactly from the corrected stored vectors.
    model = FakeEmbedder(services.spec(CENTERED))
    q = model.encode_queries([query])[0]
    for hit in raw.result.hits:
        assert hit.score == pytest.approx(float(q @ model.encode_documents([hit.text])[0]), abs=1e-4)
    assert [h.score for h in raw.result.hits] != [h.score for h in own.result.hits]
    assert search("corrected").variant["correction"] == "corrected"
    prompted = search(prompt="question: ")
    assert (
        prompted.variant["query_prompt"] == "question: " and prompted.variant["query_prompt_set_by"] == "user"
    )
    sides = app.compare(query, 4, [PipelineChoice(collection), PipelineChoice(collection, correction="raw")])
    assert [s.error for s in sides] == [None, None]
    assert sides[1].choice.label.endswith("[raw]")
    assert sides[1].outcome is not None and sides[1].outcome.variant["correction"] == "raw"
    with pytest.raises(QueryError, match="Unknown correction variant"):
        search("half")
    app.close()


def test_a_raw_collection_has_no_corrected_variant(tmp_path: Path) -> None:
    spec = fake_spec(PLAIN, 64, 128)
    services = Services(
        Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", default_model=PLAIN),
        ClientStore(":memory:"),
        registry=ModelRegistry((spec,)),
        embedder_factory=PromptedFake,
        indexer_factory=FolderIndexer,
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Honeybees pollinate orchards.", encoding="utf-8")
    app = SearchApp(services)
    app.index_folder(docs)
    collection = app.default_collection()
    with pytest.raises(QueryError, match="no 'vote' variant") as caught:
        app.search(make_request("bees", collection, [], 3, "dense", None, "off", correction="vote"))
    assert "\n" not in str(caught.value)
    same = app.search(make_request("bees", collection, [], 3, "dense", None, "off", correction="raw"))
    assert same.variant["correction"] == "raw"  # a raw collection is its own raw variant
    app.close()


def test_query_prompts_are_refused_by_prompt_free_models(services: Services) -> None:
    spec = services.spec(NUMPY)
    with pytest.raises(InputError, match="without a prompt"):
        spec.with_query_prompt("query: ")


def test_a_tiny_instruction_model_embeds_the_users_instruction_and_records_it(tmp_path: Path) -> None:
    """The template path on a real (tiny, random) transformer: a registry entry with an instruction
    template, the user's instruction wrapped into it, different query vectors, the report recording it."""
    from tests.tiny_models import load_transformers, save_tiny_encoder

    spec = save_tiny_encoder(
        tmp_path / "instruct",
        name="tiny-instruct",
        query_prompt="Instruct: {task}\nQuery: ",
        document_prompt="",
        default_task="Given a question, find passages",
    )
    services = Services(
        Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", default_model=spec.name),
        ClientStore(":memory:"),
        registry=ModelRegistry((spec,)),
        embedder_factory=lambda s: load_transformers(s, backend="torch"),
        indexer_factory=FolderIndexer,
    )
    own, mine = PipelineSpec(spec.name), PipelineSpec(spec.name, query_prompt="Find the recipe")
    report = evaluate_pipelines(services, _queryset(), [own, mine])
    assert report.details[mine.label]["query_prompt"] == "Instruct: Find the recipe\nQuery: "
    assert report.details[mine.label]["instruction"] == "Find the recipe"
    assert report.details[own.label]["query_prompt"] == "Instruct: Given a question, find passages\nQuery: "
    base = services.embedder(spec.name)
    view = base.with_spec(spec.with_query_prompt("Find the recipe"))  # type: ignore[attr-defined]
    assert base.encode_documents(["bees"]) == pytest.approx(view.encode_documents(["bees"]))
    assert not np.allclose(base.encode_queries(["bees"]), view.encode_queries(["bees"]))
    services.close()


def test_eval_drops_the_models_it_loaded_unless_in_use_elsewhere(services: Services) -> None:
    """One model at a time (B's memory goal), but never one the app's searches hold meanwhile:
    dropping it would load a second copy on the next use."""
    evaluate_pipelines(services, _queryset(), [PipelineSpec(PLAIN)])
    assert PLAIN not in services.loaded_models()
    evaluate_pipelines(services, _queryset(), [PipelineSpec(PLAIN)], in_use=lambda: {PLAIN})
    assert PLAIN in services.loaded_models()
