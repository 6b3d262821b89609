"""Cross-encoder rerankers on tiny random models built here: scores are the model's logits, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.core.errors import ModelNotAvailableError, UnknownModelError
from search.core.types import Hit
from search.models.encoders.cross_encoder import (
    QWEN3_PREFIX,
    QWEN3_SUFFIX,
    CausalYesNoReranker,
    SequenceClassificationReranker,
)
from search.models.loading import detect_family, load_reranker
from search.models.registry import RerankerRegistry
from search.models.reranker import Reranker, order_by_scores
from tests.tiny_models import DECODER_EOS, _save_tokenizer, save_tiny_cross_encoder, tiny_decoder_tokenizer

PASSAGES = [
    "the cat read a book in the house",
    "water is blue and the tree is green",
    "hello world",
    "der Hund und die Katze",
    "one two three",
    "le chat est sur la table et il est rouge",
    "中 文 日 本",
    "the weather today is lovely and the dog is with the cat",
]
QUERY = "where is the cat"


def hits_for(texts: list[str]) -> list[Hit]:
    return [
        Hit(chunk_id=f"c{i}", score=1.0 - i / 100, text=t, source=f"/d/{i}.txt", page=None, language="en")
        for i, t in enumerate(texts)
    ]


@pytest.fixture(scope="module")
def cross_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross"), seed=3)


@pytest.fixture(scope="module")
def causal_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen3ForCausalLM with "yes"/"no" tokens, saved like Qwen3-Reranker."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    folder = tmp_path_factory.mktemp("tiny-qwen3-reranker")
    tokenizer = tiny_decoder_tokenizer()
    tokenizer.add_tokens(["yes", "no"])
    config = Qwen3Config(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=512,
        pad_token_id=0,
        eos_token_id=0,
        tie_word_embeddings=False,
        architectures=["Qwen3ForCausalLM"],
    )
    torch.manual_seed(5)
    Qwen3ForCausalLM(config).eval().save_pretrained(folder)
    _save_tokenizer(
        folder, tokenizer, {"eos_token": DECODER_EOS, "pad_token": DECODER_EOS, "unk_token": "<unk>"}, 512
    )
    return folder


def direct_logits(folder: Path, query: str, passages: list[str], max_length: int = 512) -> list[float]:
    """Logits computed the plain transformers way, one pair at a time, no padding."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True).eval()
    out = []
    for passage in passages:
        enc = tokenizer(query, passage, truncation=True, max_length=max_length, return_tensors="pt")
        with torch.inference_mode():
            out.append(float(model(**enc).logits[0, 0]))
    return out


def test_cross_encoder_scores_are_the_models_logits(cross_folder: Path, no_network: list[object]) -> None:
    reranker = load_reranker(str(cross_folder))
    assert isinstance(reranker, Reranker)
    assert isinstance(reranker, SequenceClassificationReranker)
    scores = reranker.score(QUERY, PASSAGES)
    expected = direct_logits(cross_folder, QUERY, PASSAGES)
    assert scores == pytest.approx(expected, abs=1e-4)


def test_rerank_orders_by_score_and_respects_k(cross_folder: Path, no_network: list[object]) -> None:
    reranker = load_reranker(str(cross_folder))
    assert isinstance(reranker, SequenceClassificationReranker)
    hits = hits_for(PASSAGES)
    scores = reranker.score(QUERY, PASSAGES)
    top = reranker.rerank(QUERY, hits, k=3)
    assert len(top) == 3
    best = sorted(range(len(PASSAGES)), key=lambda i: -scores[i])[:3]
    assert [h.chunk_id for h in top] == [f"c{i}" for i in best]
    assert [h.score for h in top] == pytest.approx([scores[i] for i in best])
    assert top[0].source == hits[best[0]].source  # the rest of the hit is kept
    assert reranker.rerank(QUERY, [], k=3) == []
    assert len(reranker.rerank(QUERY, hits, k=100)) == len(hits)


def test_batching_does_not_change_scores(cross_folder: Path) -> None:
    from search.models.encoders.cross_encoder import load_sequence_classifier

    one = load_sequence_classifier(cross_folder, "x", max_length=128, batch_size=1, device="cpu")
    many = load_sequence_classifier(cross_folder, "x", max_length=128, batch_size=5, device="cpu")
    assert one.score(QUERY, PASSAGES) == pytest.approx(many.score(QUERY, PASSAGES), abs=1e-5)


def test_max_length_truncates_long_passages(cross_folder: Path) -> None:
    reranker = load_reranker(str(cross_folder), max_length=24)
    assert isinstance(reranker, SequenceClassificationReranker)
    long_passage = " ".join(["the cat read a book"] * 40)
    ids = reranker._encode_pairs(QUERY, [long_passage, "hello"])
    assert max(len(i) for i in ids) == 24
    # A passage that only differs after the cut scores the same.
    other = long_passage + " and then the dog"
    a, b = reranker.score(QUERY, [long_passage, other])
    assert a == pytest.approx(b, abs=1e-6)
    assert a == pytest.approx(direct_logits(cross_folder, QUERY, [long_passage], max_length=24)[0], abs=1e-4)


def test_max_length_is_capped_by_the_model(cross_folder: Path) -> None:
    reranker = load_reranker(str(cross_folder), max_length=100_000)
    assert isinstance(reranker, SequenceClassificationReranker)
    assert reranker.max_length == 128  # the tiny BERT's position embeddings


def causal_direct(folder: Path, query: str, passages: list[str]) -> list[float]:
    """The model card's recipe: prefix, pair text and suffix tokenised apart, last position's yes/no logits."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
    prefix = tokenizer.encode(QWEN3_PREFIX, add_special_tokens=False)
    suffix = tokenizer.encode(QWEN3_SUFFIX, add_special_tokens=False)
    out = []
    for passage in passages:
        body = (
            "<Instruct>: Given a web search query, retrieve relevant passages that answer the query\n"
            f"<Query>: {query}\n<Document>: {passage}"
        )
        ids = torch.tensor([prefix + tokenizer.encode(body, add_special_tokens=False) + suffix])
        with torch.inference_mode():
            logits = model(input_ids=ids).logits[0, -1]
        out.append(float(logits[yes] - logits[no]))
    return out


def test_causal_yes_no_reranker_scores(causal_folder: Path, no_network: list[object]) -> None:
    assert detect_family(causal_folder) == "causal-yes-no"
    reranker = load_reranker(str(causal_folder))
    assert isinstance(reranker, CausalYesNoReranker)
    texts = PASSAGES[:5]
    scores = reranker.score(QUERY, texts)
    assert scores == pytest.approx(causal_direct(causal_folder, QUERY, texts), abs=1e-4)
    top = reranker.rerank(QUERY, hits_for(texts), k=2)
    assert [h.score for h in top] == sorted(scores, reverse=True)[:2]


def test_causal_batching_with_left_padding_is_invariant(causal_folder: Path) -> None:
    from search.models.encoders.cross_encoder import load_causal_yes_no

    one = load_causal_yes_no(causal_folder, "q", max_length=512, batch_size=1, device="cpu")
    many = load_causal_yes_no(causal_folder, "q", max_length=512, batch_size=8, device="cpu")
    assert one.score(QUERY, PASSAGES) == pytest.approx(many.score(QUERY, PASSAGES), abs=1e-4)


def test_causal_truncation_keeps_the_template(causal_folder: Path) -> None:
    from search.models.encoders.cross_encoder import load_causal_yes_no

    reranker = load_causal_yes_no(causal_folder, "q", max_length=400, batch_size=2, device="cpu")
    ids = reranker._encode_pairs(QUERY, [" ".join(["water"] * 2000)])[0]
    assert len(ids) == 400
    assert ids[-len(reranker._suffix) :] == reranker._suffix


def test_unknown_names_list_the_known_rerankers() -> None:
    with pytest.raises(UnknownModelError, match="bge-reranker-v2-m3"):
        RerankerRegistry().get("no-such-reranker")
    assert RerankerRegistry().get("mmarco-minilm").name == "cross-encoder/mmarco-mMiniLMv2-L12-H384-v1"
    assert RerankerRegistry().get("qwen3-reranker").family == "causal-yes-no"


def test_uncached_hub_model_fails_offline_with_instructions(
    no_network: list[object], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotAvailableError, match="hf download BAAI/bge-reranker-v2-m3"):
        load_reranker("bge-reranker-v2-m3")


def test_order_by_scores_keeps_first_stage_order_on_ties() -> None:
    hits = hits_for(["a", "b", "c"])
    assert [h.chunk_id for h in order_by_scores(hits, [1.0, 2.0, 1.0], 3)] == ["c1", "c0", "c2"]
    with pytest.raises(ValueError):
        order_by_scores(hits, [1.0], 3)


def test_registry_reranker_in_the_hf_cache_is_available_and_loads_offline(
    cross_folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_network: list[object]
) -> None:
    import shutil

    from search.models.loading import available_rerankers

    repo = tmp_path / "hub" / "models--cross-encoder--mmarco-mMiniLMv2-L12-H384-v1"
    shutil.copytree(cross_folder, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    assert available_rerankers() == ["cross-encoder/mmarco-mMiniLMv2-L12-H384-v1"]
    reranker = load_reranker("mmarco-minilm")
    assert reranker.name == "cross-encoder/mmarco-mMiniLMv2-L12-H384-v1"
    assert len(reranker.rerank(QUERY, hits_for(PASSAGES), k=4)) == 4
