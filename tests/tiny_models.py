"""Tiny random models built in the test run (a few hundred KB, no hub), saved like real model folders.

Reusable by any test that needs a real transformers model without a download:
an e5/BERT-style encoder, a Qwen3-style decoder (left padding, last-token
pooling), a LaBSE-style sentence-transformers package (CLS -> Dense(tanh) ->
Normalize) and a cross-encoder. Each ``save_*`` writes a folder with a
``model_spec.json`` and returns its ModelSpec, so the folder path works
wherever a model name does.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from search.models.specs import SPEC_FILENAME, ModelSpec

if TYPE_CHECKING:
    from transformers import BertConfig

    from search.models.encoders.transformers import TransformersEmbedder

METASPACE = "\u2581"
XLMR_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0..3 as in XLM-R
DECODER_EOS = "<|endoftext|>"

# Enough pieces that ordinary test sentences tokenise into words, not just characters.
WORDS = (  # noqa: SIM905 - a sentence of words reads better than 60 quoted items
    "the a of to and in is it that for on with as was query passage instruct web search given "
    "weather today lovely cat dog house tree water book read write red blue green one two three "
    "hello world der die das und ist le la les et est el los y es il di che на и в не 中 文 日 本"
).split()
CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;!?-'\"()/\n" + "äöüéèàçñ"


def tiny_spec(name: str, folder: Path, dimension: int, **fields: object) -> ModelSpec:
    values: dict[str, object] = {"max_tokens": 64, "pooling": "mean", "revision": "tiny-1", "license": "MIT"}
    values.update(fields)
    return ModelSpec(name=name, source=str(folder), dimension=dimension, **values)  # type: ignore[arg-type]


def _pieces(specials: tuple[str, ...], characters: str = CHARACTERS) -> list[tuple[str, float]]:
    vocab = [(token, 0.0) for token in specials] + [(METASPACE, -4.0)]
    vocab += [(METASPACE + w, -2.0 - len(w) * 0.01) for w in WORDS]
    vocab += [(w, -3.0) for w in WORDS if len(w) > 1]
    vocab += [(c, -5.0) for c in characters] + [(METASPACE + c, -4.5) for c in characters]
    unique: dict[str, float] = {}
    for piece, score in vocab:
        unique.setdefault(piece, score)
    return list(unique.items())


def _sentencepiece_pipeline(tokenizer: Tokenizer) -> None:
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")


def tiny_xlmr_tokenizer(extra_characters: str = "") -> Tokenizer:
    """XLM-R-like Unigram tokenizer: ``<s> $A </s>``, unk id 3, ``<mask>`` last.

    ``extra_characters`` get pieces of their own (otherwise a run of unknown characters is one
    ``<unk>``), e.g. a script a test needs counted character by character as a real model would.
    """
    vocab = [*_pieces(XLMR_SPECIALS, CHARACTERS + extra_characters), ("<mask>", 0.0)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    _sentencepiece_pipeline(tokenizer)
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in (*XLMR_SPECIALS, "<mask>")]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return tokenizer


def tiny_decoder_tokenizer() -> Tokenizer:
    """Qwen3-Embedding-like: no BOS, an end-of-text token appended to every input (what last-token pooling reads)."""
    vocab = _pieces((DECODER_EOS, "<unk>"))
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=1, byte_fallback=False))
    _sentencepiece_pipeline(tokenizer)
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in (DECODER_EOS, "<unk>")]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {DECODER_EOS}",
        pair=f"$A {DECODER_EOS} $B {DECODER_EOS}",
        special_tokens=[(DECODER_EOS, 0)],
    )
    return tokenizer


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _save_tokenizer(folder: Path, tokenizer: Tokenizer, specials: dict[str, str], max_tokens: int) -> None:
    # PreTrainedTokenizerFast: transformers then uses tokenizer.json verbatim, like our embedder does.
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_tokens, **specials}
    _write_json(folder / "tokenizer_config.json", config)


def write_spec(folder: Path, spec: ModelSpec) -> ModelSpec:
    """Write model_spec.json; ``source`` is left out so it resolves to the folder itself."""
    data = {k: v for k, v in spec.to_json().items() if k != "source"}
    _write_json(folder / SPEC_FILENAME, data)
    return replace(spec, source=str(folder.resolve()))


def _bert_config(vocab_size: int, hidden: int, pad_token_id: int, num_labels: int = 2) -> BertConfig:
    from transformers import BertConfig

    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=hidden * 2,
        max_position_embeddings=128,
        pad_token_id=pad_token_id,
    )
    config.num_labels = num_labels
    return config


def save_tiny_encoder(
    folder: Path,
    *,
    name: str = "tiny-e5",
    hidden: int = 32,
    pooling: str = "mean",
    query_prompt: str = "query: ",
    document_prompt: str = "passage: ",
    default_task: str | None = None,
    seed: int = 0,
) -> ModelSpec:
    """A random BERT encoder with an XLM-R-style tokenizer, like multilingual-e5 (right padding)."""
    import torch
    from transformers import BertModel

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_xlmr_tokenizer()
    torch.manual_seed(seed)
    model = BertModel(_bert_config(tokenizer.get_vocab_size(), hidden, pad_token_id=1)).eval()
    model.save_pretrained(folder)
    _save_tokenizer(
        folder,
        tokenizer,
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"},
        128,
    )
    spec = tiny_spec(
        name,
        folder,
        hidden,
        pooling=pooling,
        query_prompt=query_prompt,
        document_prompt=document_prompt,
        default_task=default_task,
    )
    return write_spec(folder, spec)


def save_tiny_decoder(
    folder: Path,
    *,
    name: str = "tiny-qwen3",
    hidden: int = 32,
    query_prompt: str = "Instruct: {task}\nQuery:",
    default_task: str | None = "Given a web search query, retrieve relevant passages that answer the query",
    seed: int = 0,
) -> ModelSpec:
    """A random Qwen3 decoder: causal attention, left padding, last-token pooling (Qwen3-Embedding's recipe)."""
    import torch
    from transformers import Qwen3Config, Qwen3Model

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_decoder_tokenizer()
    config = Qwen3Config(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden // 4,
        max_position_embeddings=256,
        pad_token_id=0,
        eos_token_id=0,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    Qwen3Model(config).eval().save_pretrained(folder)
    _save_tokenizer(
        folder, tokenizer, {"eos_token": DECODER_EOS, "pad_token": DECODER_EOS, "unk_token": "<unk>"}, 256
    )
    spec = tiny_spec(
        name,
        folder,
        hidden,
        max_tokens=256,
        pooling="last",
        padding_side="left",
        query_prompt=query_prompt,
        document_prompt="",
        default_task=default_task,
    )
    return write_spec(folder, spec)


def save_tiny_dense_encoder(
    folder: Path, *, name: str = "tiny-labse", hidden: int = 32, out: int = 16, seed: int = 0
) -> ModelSpec:
    """A LaBSE-shaped sentence-transformers package: CLS pooling -> Dense(tanh) -> Normalize, no prompts."""
    import torch
    from safetensors.torch import save_file

    spec = save_tiny_encoder(
        folder, name=name, hidden=hidden, pooling="cls", query_prompt="", document_prompt="", seed=seed
    )
    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
            {"idx": 3, "name": "3", "path": "3_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(
        folder / "sentence_bert_config.json", {"max_seq_length": spec.max_tokens, "do_lower_case": False}
    )
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": hidden,
            "pooling_mode_cls_token": True,
            "pooling_mode_mean_tokens": False,
        },
    )
    _write_json(
        folder / "2_Dense" / "config.json",
        {
            "in_features": hidden,
            "out_features": out,
            "bias": True,
            "activation_function": "torch.nn.modules.activation.Tanh",
        },
    )
    generator = torch.Generator().manual_seed(seed + 1)
    weights = {
        "linear.weight": torch.randn(out, hidden, generator=generator) * 0.3,
        "linear.bias": torch.randn(out, generator=generator) * 0.1,
    }
    save_file(weights, str(folder / "2_Dense" / "model.safetensors"))
    (folder / "3_Normalize").mkdir(exist_ok=True)
    return write_spec(folder, replace(spec, dimension=out))


def save_tiny_cross_encoder(folder: Path, *, hidden: int = 32, seed: int = 0) -> Path:
    """A random BERT cross-encoder (one relevance logit per pair), loadable by AutoModelForSequenceClassification."""
    import torch
    from transformers import BertForSequenceClassification

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_xlmr_tokenizer()
    torch.manual_seed(seed)
    config = _bert_config(tokenizer.get_vocab_size(), hidden, pad_token_id=1, num_labels=1)
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    _save_tokenizer(
        folder,
        tokenizer,
        {
            "bos_token": "<s>",
            "eos_token": "</s>",
            "sep_token": "</s>",
            "cls_token": "<s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
        },
        128,
    )
    return folder


def load_transformers(model: str | ModelSpec, **kwargs: Any) -> TransformersEmbedder:
    """load_embedder for tests that look inside a transformer embedder (tokenizer, batch size, backend)."""
    from search.models.encoders.transformers import TransformersEmbedder
    from search.models.loading import load_embedder

    embedder = load_embedder(model, **kwargs)
    assert isinstance(embedder, TransformersEmbedder)
    return embedder
