"""TransformersEmbedder: the Embedder for every transformer model (bundled, local folder or hub).

Prompts, pooling, packaged layers (sentence-transformers ``modules.json``) and
normalisation are applied exactly as the model's authors did; the forward pass
runs on whichever backend ``search.models.backends`` built.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from search.models.backends import Backend
from search.models.encoders.weights import refusing_unsafe_pickles
from search.models.specs import ModelSpec

if TYPE_CHECKING:
    import torch
    from tokenizers import Encoding, Tokenizer
    from transformers import PreTrainedModel


# torch, transformers and tokenizers are imported inside functions: importing this module is cheap.

DEFAULT_BATCH_SIZE = 32
_ST_POOLING = {"mean": "mean", "cls": "cls", "lasttoken": "last"}  # sentence-transformers name -> ours
_ST_LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True)
class DenseLayer:
    """A sentence-transformers ``Dense`` module (LaBSE's tanh projection), applied after pooling."""

    weight: torch.Tensor  # [out, in]
    bias: torch.Tensor | None
    activation: torch.nn.Module  # e.g. torch.nn.Tanh()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        return self.activation(torch.nn.functional.linear(x, self.weight, self.bias))


@dataclass(frozen=True)
class Head:
    """What a packaged model applies after the transformer: pooling, dense layers, normalisation."""

    pooling: str  # "mean" | "cls" | "last"
    output_dim: int
    dense: tuple[DenseLayer, ...] = ()
    normalize: bool = True


def read_head(folder: Path, spec: ModelSpec, hidden_size: int, device: str = "cpu") -> Head:
    """Read a sentence-transformers ``modules.json`` so packaged extra layers are applied exactly.

    Without modules.json the spec alone decides. A pooling mode that contradicts the
    spec is an error: one of them is wrong, and silently picking one would give
    vectors that do not match the model's published scores.
    """
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return Head(pooling=spec.pooling, normalize=spec.normalize, output_dim=hidden_size)
    dense: list[DenseLayer] = []
    dim = hidden_size
    pooling: str = spec.pooling
    for module in json.loads(modules_file.read_text(encoding="utf-8")):
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        path = folder / module.get("path", "")
        if kind == "Transformer" or kind == "Normalize":
            continue
        if kind == "Pooling":
            pooling = _st_pooling_mode(path / "config.json")
            if pooling != spec.pooling:
                raise ValueError(
                    f"{folder}: packaged pooling is {pooling!r} but the model spec says {spec.pooling!r}; "
                    "fix the model_spec.json"
                )
        elif kind == "Dense":
            layer = _read_dense(path, device)
            dense.append(layer)
            dim = int(layer.weight.shape[0])
        else:
            raise ValueError(
                f"{folder}: sentence-transformers module {module.get('type')!r} is not supported "
                "(supported: Transformer, Pooling, Dense, Normalize)"
            )
    return Head(pooling=pooling, dense=tuple(dense), normalize=spec.normalize, output_dim=dim)


def _st_pooling_mode(config_file: Path) -> str:
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if config.get("include_prompt") is False:
        raise ValueError(f"{config_file}: pooling that excludes the prompt is not supported")
    mode = config.get("pooling_mode")
    if mode is None:  # sentence-transformers < 5 wrote one boolean per mode; none set means mean
        active = [name for key, name in _ST_LEGACY_POOLING.items() if config.get(key)]
        mode = active[0] if len(active) == 1 else (active or "mean")
    if isinstance(mode, list) and len(mode) == 1:
        mode = mode[0]
    if not isinstance(mode, str) or mode not in _ST_POOLING:
        raise ValueError(
            f"{config_file}: pooling {mode!r} is not supported (supported: {sorted(_ST_POOLING)})"
        )
    return _ST_POOLING[mode]


def _read_dense(folder: Path, device: str) -> DenseLayer:
    import torch

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    activation = str(config.get("activation_function", "torch.nn.modules.activation.Tanh")).rsplit(".", 1)[-1]
    cls = getattr(torch.nn, activation, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise TypeError(
            f"{folder}: activation {config.get('activation_function')!r} is not a torch.nn module"
        )
    if (folder / "model.safetensors").is_file():
        from safetensors.torch import load_file

        state = load_file(str(folder / "model.safetensors"))
    else:
        with refusing_unsafe_pickles(folder):
            state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    bias = state.get("linear.bias")
    return DenseLayer(
        weight=state["linear.weight"].float().to(device),
        bias=None if bias is None else bias.float().to(device),
        activation=cls(),
    )


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool token states [B, L, H] with a 0/1 mask [B, L]; correct for left or right padding."""
    import torch

    if pooling == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    if pooling == "cls":  # first real token
        return hidden[rows, mask.argmax(dim=1)]
    if pooling == "last":  # last real token
        last = mask.shape[1] - 1 - mask.flip(dims=[1]).argmax(dim=1)
        return hidden[rows, last]
    raise ValueError(f"unknown pooling {pooling!r}")


def pick_device(device: str | None = None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TransformersEmbedder:
    """Any ModelSpec on torch/transformers: prompts, pooling and packaged layers as the authors did.

    Texts are tokenised once with the folder's own ``tokenizer.json`` (the file the
    authors shipped, read by the tokenizers library without transformers rebuilding
    the pipeline), sorted by length so batches carry little padding, and returned in
    input order. The forward pass is guarded by a lock so one instance can serve the
    UI's searches while an indexing thread embeds documents.
    """

    def __init__(
        self,
        spec: ModelSpec,
        model: PreTrainedModel | Callable[..., Any],  # anything returning ``.last_hidden_state``
        tokenizer: Tokenizer,
        head: Head,
        *,
        device: str = "cpu",
        max_tokens: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        pad_id: int = 0,
        backend: str = "torch",
    ) -> None:
        self._spec = spec
        self._backend = backend
        self._model = model
        self._tokenizer = tokenizer
        self._head = head
        self._device = device
        self._max_tokens = min(spec.max_tokens, max_tokens or spec.max_tokens)
        self._batch_size = batch_size
        self._pad_id = pad_id
        self._lock = threading.Lock()

    @classmethod
    def from_folder(
        cls,
        folder: Path,
        spec: ModelSpec,
        *,
        device: str | None = None,
        max_tokens: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        backend: Backend = "auto",
        cache_dir: Path | None = None,
    ) -> TransformersEmbedder:
        """Load a local model folder; never touches the network.

        ``backend`` picks how the transformer runs: "auto" (ONNX Runtime on a CPU, torch on a
        GPU), "torch", or the CPU options "int8", "onnx", "onnx-int8" measured by
        benchmarks/embed_options.py (see search/models/backends.py); the ONNX ones export once
        into ``cache_dir``.
        """
        import torch
        from transformers import AutoConfig, AutoModel

        from search.core.paths import default_cache_dir
        from search.models.backends import build_runner

        device = pick_device(device) if backend in ("torch", "auto") else (device or "cpu")
        config = AutoConfig.from_pretrained(folder, local_files_only=True)

        def load_model() -> PreTrainedModel:
            with refusing_unsafe_pickles(folder):
                model = AutoModel.from_pretrained(
                    folder, config=config, local_files_only=True, dtype=torch.float32
                )
            return model.to(device).eval()

        runner, backend_used = build_runner(
            backend,
            load_model,
            model_folder=folder,
            model_id=f"{spec.name}-{spec.revision or 'local'}",
            cache_dir=cache_dir or default_cache_dir(),
            device=device,
        )
        head = read_head(folder, spec, int(config.hidden_size), device)
        if head.output_dim != spec.dimension:
            raise ValueError(
                f"{folder}: model gives {head.output_dim}-d vectors but the spec says {spec.dimension}"
            )
        tokenizer = load_tokenizer(folder)
        # Any valid id works: padded positions are masked out of attention and pooling.
        pad_id = getattr(config, "pad_token_id", None)
        pad_id = int(pad_id) if isinstance(pad_id, int) else 0
        return cls(
            spec,
            runner,
            tokenizer,
            head,
            device=device,
            max_tokens=max_tokens,
            batch_size=batch_size,
            pad_id=pad_id,
            backend=backend_used,
        )

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    def with_spec(self, spec: ModelSpec) -> TransformersEmbedder:
        """The same loaded model under other prompts (e.g. none, for symmetric benchmark tasks).

        Only prompt fields may differ: pooling, padding and dimension are properties of the
        loaded weights. The lock is shared, so views are as thread-safe as the original.
        """
        for name in ("dimension", "pooling", "padding_side", "normalize"):
            if getattr(spec, name) != getattr(self._spec, name):
                raise ValueError(f"with_spec may only change prompts, not {name}")
        view = TransformersEmbedder(
            spec,
            self._model,
            self._tokenizer,
            self._head,
            device=self._device,
            max_tokens=self._max_tokens,
            batch_size=self._batch_size,
            pad_id=self._pad_id,
            backend=self._backend,
        )
        view._lock = self._lock
        return view

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def device(self) -> str:
        return self._device

    @property
    def backend(self) -> str:
        """What runs the transformer: "torch", "onnx", "int8" or "onnx-int8"."""
        return self._backend

    def encode_queries(self, texts: Sequence[str], task: str | None = None) -> np.ndarray:
        prefix = self._spec.query_prefix(task)
        return self._encode([prefix + text for text in texts])

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        prefix = self._spec.document_prompt
        return self._encode([prefix + text for text in texts])

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def document_overhead(self) -> int:
        # A probe word keeps the prompt's trailing space attached as it is in real use.
        probe = "a"
        with_prompt = self._tokenizer.encode(self._spec.document_prompt + probe, add_special_tokens=True)
        bare = self._tokenizer.encode(probe, add_special_tokens=False)
        return max(len(with_prompt.ids) - len(bare.ids), self._tokenizer.num_special_tokens_to_add(False))

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with special tokens, truncated to ``max_tokens`` (prompts already in the texts)."""
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        budget = self._max_tokens - self._tokenizer.num_special_tokens_to_add(False)
        return [self._finish(e, budget) for e in encodings]

    def _finish(self, encoding: Encoding, budget: int) -> list[int]:
        if len(encoding.ids) > budget:
            encoding.truncate(budget)
        return self._tokenizer.post_process(encoding, None, True).ids

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._head.output_dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenize(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            out[rows] = self._forward([ids[i] for i in rows])
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        import torch

        input_ids, mask = pad_batch(batch, self._pad_id, self._spec.padding_side)
        with self._lock, torch.inference_mode():
            input_ids, mask = input_ids.to(self._device), mask.to(self._device)
            hidden = self._model(input_ids=input_ids, attention_mask=mask).last_hidden_state
            vectors = pool(hidden, mask, self._head.pooling)
            for layer in self._head.dense:
                vectors = layer(vectors)
            if self._head.normalize:
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1)
            return vectors.float().cpu().numpy()


def pad_batch(batch: list[list[int]], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to the longest sequence on the spec's side (decoders with last-token pooling pad left)."""
    import torch

    width = max(max(len(ids) for ids in batch), 1)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        n = len(ids)
        span = slice(width - n, width) if side == "left" else slice(0, n)
        if n:
            input_ids[row, span] = torch.tensor(ids, dtype=torch.long)
            mask[row, span] = 1
    return input_ids, mask


def load_tokenizer(folder: Path) -> Tokenizer:
    """The folder's own tokenizer.json, untouched; transformers only when a folder has none."""
    from tokenizers import Tokenizer

    file = folder / "tokenizer.json"
    if file.is_file():
        tokenizer = Tokenizer.from_file(str(file))
    else:
        from transformers import AutoTokenizer

        auto = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        backend = getattr(auto, "backend_tokenizer", None)
        if backend is None:
            raise ValueError(f"{folder}: no fast tokenizer (tokenizer.json) available")
        tokenizer = Tokenizer.from_str(backend.to_str())
    tokenizer.no_truncation()  # truncation is applied per call, after the prompt is in the text
    tokenizer.no_padding()
    return tokenizer
