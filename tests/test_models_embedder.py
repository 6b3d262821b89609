"""TransformersEmbedder on tiny random models: prompts, pooling, padding, order, normalisation, packaging."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from search.models.embedder import Embedder
from search.models.encoders.transformers import TransformersEmbedder, pad_batch, pool, pool_numpy, read_head
from search.models.specs import WEB_SEARCH_TASK, ModelSpec
from tests.tiny_models import load_transformers, save_tiny_decoder, save_tiny_dense_encoder, save_tiny_encoder

TEXTS = [
    "hello world",
    "the cat is red today and the dog is blue and the house is green",
    "x",
    "der Hund und die Katze",
    "one two three one two three one two",
]


class TokenizerSpy:
    """Records every text that reaches the tokenizer, then delegates."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.seen: list[str] = []

    def encode_batch(self, texts: Sequence[str], *args: object, **kwargs: object) -> object:
        self.seen.extend(texts)
        return self.inner.encode_batch(texts, *args, **kwargs)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="module")
def e5_style(tiny_dir: Path) -> ModelSpec:
    return save_tiny_encoder(tiny_dir / "e5")


@pytest.fixture(scope="module")
def instruct_style(tiny_dir: Path) -> ModelSpec:
    return save_tiny_encoder(
        tiny_dir / "instruct",
        name="tiny-instruct",
        query_prompt="Instruct: {task}\nQuery: ",
        document_prompt="",
        default_task="Given a question, find passages",
    )


@pytest.fixture(scope="module")
def plain_style(tiny_dir: Path) -> ModelSpec:
    return save_tiny_encoder(tiny_dir / "plain", name="tiny-plain", query_prompt="", document_prompt="")


@pytest.fixture(scope="module")
def decoder(tiny_dir: Path) -> ModelSpec:
    return save_tiny_decoder(tiny_dir / "qwen3")


@pytest.fixture(scope="module")
def dense(tiny_dir: Path) -> ModelSpec:
    return save_tiny_dense_encoder(tiny_dir / "labse")


def spied(spec: ModelSpec, **kwargs: object) -> tuple[TransformersEmbedder, TokenizerSpy]:
    embedder = load_transformers(spec, **kwargs, backend="torch")  # type: ignore[arg-type]
    spy = TokenizerSpy(embedder._tokenizer)
    embedder._tokenizer = spy  # type: ignore[assignment]
    return embedder, spy


# (a) the right prompt reaches the tokenizer -------------------------------------------------


def test_models_e5_prefixes_reach_the_tokenizer(e5_style: ModelSpec, no_network: list[object]) -> None:
    embedder, spy = spied(e5_style)
    embedder.encode_queries(["hello world"])
    embedder.encode_documents(["hello world"])
    assert spy.seen == ["query: hello world", "passage: hello world"]


def test_models_instruction_goes_on_queries_only(instruct_style: ModelSpec, no_network: list[object]) -> None:
    embedder, spy = spied(instruct_style)
    embedder.encode_queries(["hello"])
    embedder.encode_queries(["hello"], task="Find the recipe")
    embedder.encode_documents(["hello"])
    assert spy.seen == [
        "Instruct: Given a question, find passages\nQuery: hello",
        "Instruct: Find the recipe\nQuery: hello",
        "hello",
    ]


def test_models_decoder_instruction_uses_web_search_default(
    decoder: ModelSpec, no_network: list[object]
) -> None:
    embedder, spy = spied(decoder)
    embedder.encode_queries(["hello"])
    embedder.encode_documents(["hello"])
    assert spy.seen == [f"Instruct: {WEB_SEARCH_TASK}\nQuery:hello", "hello"]


def test_models_no_prompt_model_treats_both_sides_alike(
    plain_style: ModelSpec, no_network: list[object]
) -> None:
    embedder, spy = spied(plain_style)
    queries = embedder.encode_queries(TEXTS)
    documents = embedder.encode_documents(TEXTS)
    assert spy.seen == TEXTS + TEXTS
    np.testing.assert_array_equal(queries, documents)


def test_models_prompts_change_the_vectors(e5_style: ModelSpec, no_network: list[object]) -> None:
    embedder = load_transformers(e5_style, backend="torch")
    queries, documents = embedder.encode_queries(TEXTS), embedder.encode_documents(TEXTS)
    assert np.all(np.abs(queries - documents).max(axis=1) > 1e-3)


# (b) padding does not change a text's vector ----------------------------------------------


def test_models_last_token_pooling_with_left_padding(decoder: ModelSpec, no_network: list[object]) -> None:
    embedder = load_transformers(decoder, backend="torch")
    alone = np.stack([embedder.encode_documents([t])[0] for t in TEXTS])
    batch = embedder.encode_documents(TEXTS)
    np.testing.assert_allclose(batch, alone, atol=2e-5)
    _, mask = pad_batch(embedder.tokenize(TEXTS), 0, "left")
    assert mask[:, -1].all() and not mask[:, 0].all()  # really left-padded, lengths differ


def test_models_mean_pooling_with_right_padding(e5_style: ModelSpec, no_network: list[object]) -> None:
    embedder = load_transformers(e5_style, backend="torch")
    alone = np.stack([embedder.encode_documents([t])[0] for t in TEXTS])
    np.testing.assert_allclose(embedder.encode_documents(TEXTS), alone, atol=2e-5)


def test_models_pooling_is_correct_for_either_padding_side() -> None:
    torch.manual_seed(0)
    tokens = torch.randn(3, 4)  # one text of 3 real tokens, hidden size 4
    pad = torch.full((2, 4), 99.0)
    right = torch.cat([tokens, pad]).unsqueeze(0)
    left = torch.cat([pad, tokens]).unsqueeze(0)
    right_mask = torch.tensor([[1, 1, 1, 0, 0]])
    left_mask = torch.tensor([[0, 0, 1, 1, 1]])
    expected = {"mean": tokens.mean(0), "cls": tokens[0], "last": tokens[-1]}
    for pooling, want in expected.items():
        torch.testing.assert_close(pool(right, right_mask, pooling)[0], want)
        torch.testing.assert_close(pool(left, left_mask, pooling)[0], want)
        # the numpy twin (ONNX Runtime's path, no torch) gives the same answer
        for hidden, mask in ((right, right_mask), (left, left_mask)):
            got = pool_numpy(hidden.numpy(), mask.numpy(), pooling)[0]
            np.testing.assert_allclose(got, want.numpy(), rtol=1e-6, atol=1e-6)


# (c) normalised float32, input order --------------------------------------------------------


@pytest.mark.parametrize("style", ["e5_style", "decoder", "dense"])
def test_models_outputs_normalised_float32_in_input_order(style: str, request: pytest.FixtureRequest) -> None:
    spec: ModelSpec = request.getfixturevalue(style)
    embedder = load_transformers(spec, backend="torch")
    embedder._batch_size = 2  # several length-sorted batches
    shuffled = [TEXTS[i] for i in (3, 0, 4, 2, 1)]
    out = embedder.encode_documents(shuffled)
    assert out.dtype == np.float32 and out.shape == (len(shuffled), spec.dimension)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    one_by_one = np.stack([embedder.encode_documents([t])[0] for t in shuffled])
    np.testing.assert_allclose(out, one_by_one, atol=2e-5)
    assert embedder.encode_queries([]).shape == (0, spec.dimension)


def test_models_is_an_embedder(e5_style: ModelSpec) -> None:
    assert isinstance(load_transformers(e5_style, backend="torch"), Embedder)


# sentence-transformers packaging (LaBSE: CLS -> Dense(tanh) -> Normalize) ------------------


def test_models_dense_head_applied_as_packaged(dense: ModelSpec, no_network: list[object]) -> None:
    from transformers import AutoModel

    embedder = load_transformers(dense, backend="torch")
    ours = embedder.encode_documents(TEXTS)

    folder = Path(dense.source)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    layer = read_head(folder, dense, 32).dense[0]
    expected = []
    for ids in embedder.tokenize(TEXTS):
        with torch.inference_mode():
            cls = model(input_ids=torch.tensor([ids])).last_hidden_state[:, 0]
            vector = torch.tanh(cls @ layer.weight.T + layer.bias)
        expected.append(torch.nn.functional.normalize(vector, dim=-1)[0].numpy())
    np.testing.assert_allclose(ours, np.stack(expected), atol=1e-5)
    assert ours.shape[1] == 16  # the Dense layer's output, not the transformer's 32


def test_models_dense_head_matches_sentence_transformers(dense: ModelSpec, no_network: list[object]) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(dense.source, device="cpu", local_files_only=True)
    expected = reference.encode(TEXTS, convert_to_numpy=True)
    np.testing.assert_allclose(
        load_transformers(dense, backend="torch").encode_documents(TEXTS), expected, atol=1e-5
    )


def test_models_packaged_pooling_must_agree_with_spec(dense: ModelSpec) -> None:
    from dataclasses import replace

    with pytest.raises(ValueError, match="packaged pooling is 'cls'"):
        load_transformers(replace(dense, pooling="mean"), backend="torch")


# token budget, truncation, threads ----------------------------------------------------------


def test_models_count_tokens_and_document_overhead(e5_style: ModelSpec) -> None:
    embedder = load_transformers(e5_style, backend="torch")
    assert embedder.count_tokens(["hello world", "hello world hello world", ""]) == [2, 4, 0]
    # "passage:" is two pieces (passage + ':') and <s> </s> two more
    assert embedder.document_overhead() == 4
    full = embedder.tokenize(["passage: hello world"])[0]
    assert len(full) == embedder.count_tokens(["hello world"])[0] + embedder.document_overhead()


def test_models_max_tokens_caps_input_and_keeps_specials(e5_style: ModelSpec) -> None:
    embedder = load_transformers(e5_style, max_tokens=10, backend="torch")
    assert embedder.max_tokens == 10
    long_text = " ".join(["hello world"] * 50)
    ids = embedder.tokenize([long_text])[0]
    assert len(ids) == 10 and ids[0] == 0 and ids[-1] == 2
    assert load_transformers(e5_style, max_tokens=10_000, backend="torch").max_tokens == e5_style.max_tokens
    assert embedder.count_tokens([long_text]) == [100]  # counting is never truncated


def test_models_concurrent_calls_match_sequential(e5_style: ModelSpec) -> None:
    embedder = load_transformers(e5_style, backend="torch")
    expected = embedder.encode_documents(TEXTS * 4)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(embedder.encode_documents(TEXTS * 4))
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-6)
