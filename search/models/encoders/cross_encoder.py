"""Cross-encoder rerankers on transformers: the query and each passage read together.

Two families cover the multilingual rerankers people actually have:

* sequence classification (``BAAI/bge-reranker-v2-m3``,
  ``cross-encoder/mmarco-mMiniLMv2-L12-H384-v1``,
  ``jinaai/jina-reranker-v2-base-multilingual``): one relevance logit per pair;
* a causal LM asked "yes" or "no" (``Qwen/Qwen3-Reranker-*``): the score is the
  log-odds of "yes" at the last position, under the authors' prompt template.

Scores are logits (log-odds), not probabilities: the order is the same and
nothing saturates at 1.0. Pairs are sorted by length and batched, so a batch
carries little padding; results come back in input order.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from search.core.types import Hit
from search.models.encoders.transformers import pad_batch
from search.models.encoders.weights import refusing_unsafe_pickles
from search.models.reranker import order_by_scores

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_BATCH_SIZE = 16

# Qwen3-Reranker's template, verbatim from its model card.
QWEN3_PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
    'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
)
QWEN3_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
QWEN3_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"


class _PairScorer:
    """Shared by both families: batching by length, the forward lock, and rerank()."""

    def __init__(self, name: str, batch_size: int, max_length: int) -> None:
        if batch_size < 1 or max_length < 8:
            raise ValueError("batch_size must be >= 1 and max_length >= 8")
        self._name = name
        self._batch_size = batch_size
        self._max_length = max_length
        self._lock = threading.Lock()  # the UI and an eval run may share one instance

    @property
    def name(self) -> str:
        return self._name

    @property
    def max_length(self) -> int:
        return self._max_length

    def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        if not hits:
            return []
        return order_by_scores(hits, self.score(query, [hit.text for hit in hits]), k)

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """One relevance logit per passage, in input order."""
        ids = self._encode_pairs(query, passages)
        out = [0.0] * len(ids)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            for row, value in zip(rows, self._forward([ids[i] for i in rows])):
                out[row] = value
        return out

    def _encode_pairs(self, query: str, passages: Sequence[str]) -> list[list[int]]:
        raise NotImplementedError

    def _forward(self, batch: list[list[int]]) -> list[float]:
        raise NotImplementedError


class SequenceClassificationReranker(_PairScorer):
    """A ``*ForSequenceClassification`` cross-encoder: ``[CLS] query [SEP] passage [SEP]`` -> logit."""

    def __init__(
        self,
        name: str,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int = 512,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str = "cpu",
    ) -> None:
        model_max = int(getattr(model.config, "max_position_embeddings", max_length) or max_length)
        # RoBERTa-family models offset positions by pad_token_id + 1, so their usable length is shorter.
        if getattr(model.config, "model_type", "") in {"xlm-roberta", "roberta", "camembert"}:
            model_max -= int(getattr(model.config, "pad_token_id", 1) or 1) + 1
        super().__init__(name, batch_size, min(max_length, model_max))
        self._model = model
        self._tokenizer = tokenizer
        self._device = device
        pad = tokenizer.pad_token_id
        self._pad_id = int(pad) if pad is not None else 0
        self._labels = int(getattr(model.config, "num_labels", 1) or 1)

    def _encode_pairs(self, query: str, passages: Sequence[str]) -> list[list[int]]:
        if not passages:
            return []
        encoded = self._tokenizer(
            [query] * len(passages),
            list(passages),
            truncation="longest_first",
            max_length=self._max_length,
            padding=False,
        )
        return [list(ids) for ids in encoded["input_ids"]]

    def _forward(self, batch: list[list[int]]) -> list[float]:
        import torch

        input_ids, mask = pad_batch(batch, self._pad_id, "right")
        with self._lock, torch.inference_mode():
            logits = self._model(
                input_ids=input_ids.to(self._device), attention_mask=mask.to(self._device)
            ).logits
        logits = logits.float()
        if self._labels == 1:
            scores = logits[:, 0]
        else:  # [not relevant, relevant]: the log-odds of the last class against the first
            scores = logits[:, -1] - logits[:, 0]
        return [float(s) for s in scores.cpu()]


class CausalYesNoReranker(_PairScorer):
    """A decoder asked whether the document answers the query (Qwen3-Reranker's recipe).

    The score is ``logit("yes") - logit("no")`` at the last position; its sigmoid
    is the probability the model card computes.
    """

    def __init__(
        self,
        name: str,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        instruction: str = QWEN3_INSTRUCTION,
        max_length: int = 2048,
        batch_size: int = 4,
        device: str = "cpu",
        prefix: str = QWEN3_PREFIX,
        suffix: str = QWEN3_SUFFIX,
    ) -> None:
        self._prefix = tokenizer.encode(prefix, add_special_tokens=False)
        self._suffix = tokenizer.encode(suffix, add_special_tokens=False)
        super().__init__(name, batch_size, max_length)
        if self._max_length <= len(self._prefix) + len(self._suffix) + 8:
            raise ValueError(f"max_length {max_length} leaves no room for the query and passage")
        self._model = model
        self._tokenizer = tokenizer
        self._device = device
        self._instruction = instruction
        self._yes = _single_token(tokenizer, "yes")
        self._no = _single_token(tokenizer, "no")
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._pad_id = int(pad) if pad is not None else 0

    def _encode_pairs(self, query: str, passages: Sequence[str]) -> list[list[int]]:
        if not passages:
            return []
        texts = [f"<Instruct>: {self._instruction}\n<Query>: {query}\n<Document>: {p}" for p in passages]
        budget = self._max_length - len(self._prefix) - len(self._suffix)
        encoded = self._tokenizer(
            texts, truncation=True, max_length=budget, padding=False, add_special_tokens=False
        )
        return [self._prefix + list(ids) + self._suffix for ids in encoded["input_ids"]]

    def _forward(self, batch: list[list[int]]) -> list[float]:
        import torch

        # Left padding puts every row's last token in the last position.
        input_ids, mask = pad_batch(batch, self._pad_id, "left")
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        with self._lock, torch.inference_mode():
            logits = self._model(
                input_ids=input_ids.to(self._device),
                attention_mask=mask.to(self._device),
                position_ids=positions.to(self._device),
                logits_to_keep=1,
            ).logits[:, -1, :]
        logits = logits.float()
        return [float(s) for s in (logits[:, self._yes] - logits[:, self._no]).cpu()]


def _single_token(tokenizer: PreTrainedTokenizerBase, word: str) -> int:
    token_id = tokenizer.convert_tokens_to_ids(word)
    if not isinstance(token_id, int) or token_id == tokenizer.unk_token_id:
        raise ValueError(f"the tokenizer has no single token {word!r}; this is not a yes/no reranker")
    return token_id


def load_sequence_classifier(
    folder: Path, name: str, *, max_length: int, batch_size: int, device: str, trust_remote_code: bool = False
) -> SequenceClassificationReranker:
    """Load a local cross-encoder folder; never touches the network."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        folder, local_files_only=True, trust_remote_code=trust_remote_code
    )
    with refusing_unsafe_pickles(folder):
        model = AutoModelForSequenceClassification.from_pretrained(
            folder, local_files_only=True, trust_remote_code=trust_remote_code, dtype=torch.float32
        )
    model.to(device).eval()
    return SequenceClassificationReranker(
        name, model, tokenizer, max_length=max_length, batch_size=batch_size, device=device
    )


def load_causal_yes_no(
    folder: Path,
    name: str,
    *,
    max_length: int,
    batch_size: int,
    device: str,
    instruction: str | None = None,
    trust_remote_code: bool = False,
) -> CausalYesNoReranker:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        folder, local_files_only=True, trust_remote_code=trust_remote_code
    )
    with refusing_unsafe_pickles(folder):
        model = AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, trust_remote_code=trust_remote_code, dtype=torch.float32
        )
    model.to(device).eval()  # type: ignore[arg-type]  # transformers' stubs type .to() oddly
    return CausalYesNoReranker(
        name,
        model,
        tokenizer,
        instruction=instruction or QWEN3_INSTRUCTION,
        max_length=max_length,
        batch_size=batch_size,
        device=device,
    )
