"""TransformersEmbedder: the Embedder for every transformer model (bundled, local folder or hub).

Prompts, pooling, packaged layers (sentence-transformers ``modules.json``) and
normalisation are applied exactly as the model's authors did; the forward pass
runs on whichever backend ``search.models.backends`` built (for "auto": the
plan ``search.models.planner`` measured), passages and queries possibly on
different ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from search.core.errors import CorruptModelError
from search.core.paths import default_cache_dir
from search.models.backends import BACKENDS, Backend, Runner
from search.models.cpu import pick_device
from search.models.encoders.planning import ModelFiles, Planning, model_id, runners_for
from search.models.encoders.weights import check_pickled_weights, refusing_unsafe_pickles
from search.models.scratch import remove_stale_temporaries
from search.models.specs import ModelSpec

if TYPE_CHECKING:
    import torch
    from tokenizers import Encoding, Tokenizer
    from transformers import PreTrainedModel

    from search.models.planner import Plan


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


def pool_numpy(hidden: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    """``pool`` in numpy, for backends that return arrays (an ONNX query path imports no torch)."""
    if pooling == "mean":
        m = mask[..., None].astype(hidden.dtype)
        return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
    rows = np.arange(hidden.shape[0])
    if pooling == "cls":
        return hidden[rows, mask.argmax(axis=1)]
    if pooling == "last":
        return hidden[rows, mask.shape[1] - 1 - mask[:, ::-1].argmax(axis=1)]
    raise ValueError(f"unknown pooling {pooling!r}")


class TransformersEmbedder:
    """Any ModelSpec on torch/transformers: prompts, pooling and packaged layers as the authors did.

    Texts are tokenised once with the folder's own ``tokenizer.json`` (the file the
    authors shipped, read by the tokenizers library without transformers rebuilding
    the pipeline), sorted by length so batches carry little padding, and returned in
    input order. Passages and queries may run on different backends (``--backend
    auto`` measures both workloads, see search.models.planner); each is built on
    first use and guarded by its own lock, so one instance can serve the UI's
    searches while an indexing thread embeds documents.
    """

    def __init__(
        self,
        spec: ModelSpec,
        model: PreTrainedModel | Callable[..., Any] | Runner,  # anything returning ``.last_hidden_state``
        tokenizer: Tokenizer,
        head: Head,
        *,
        device: str = "cpu",
        max_tokens: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        pad_id: int = 0,
        backend: str = "torch",
        query_model: Runner | None = None,
        plan: Plan | None = None,
    ) -> None:
        self._spec = spec
        self._documents = model if isinstance(model, Runner) else Runner.ready(backend, model)
        self._queries = query_model or self._documents
        self._tokenizer = tokenizer
        self._head = head
        self._device = device
        self._max_tokens = min(spec.max_tokens, max_tokens or spec.max_tokens)
        self._batch_size = batch_size
        self._pad_id = pad_id
        self._plan = plan
        self._framing: _DocumentFraming | None = None
        self._framing_checked = False

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
        planning: Planning = "later",
    ) -> TransformersEmbedder:
        """Load a local model folder; never touches the network.

        ``backend`` picks how the transformer runs (see search/models/backends.py): "auto"
        uses this machine's measured plan (search/models/planner.py) or, before there is
        one, measures now (``planning="now"``, "replan" to measure again) or runs on the
        provisional choice (``planning="later"``: bf16 where the CPU runs it natively,
        else torch fp32). A GPU always runs torch. Nothing is built until first used:
        a search whose queries run on ONNX Runtime imports no torch.
        """
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        device = (
            pick_device(device)
            if backend in ("torch", "auto", "bf16", "bf16-autocast")
            else (device or "cpu")
        )
        config = read_config(folder)
        head = read_head(folder, spec, int(config["hidden_size"]), device)
        if head.output_dim != spec.dimension:
            raise ValueError(
                f"{folder}: model gives {head.output_dim}-d vectors but the spec says {spec.dimension}"
            )
        tokenizer = load_tokenizer(folder)
        # Any valid id works: padded positions are masked out of attention and pooling.
        pad_id = config.get("pad_token_id")
        pad_id = int(pad_id) if isinstance(pad_id, int) else 0
        files = ModelFiles(folder, model_id(spec), cache_dir or default_cache_dir(), device)
        # Exports a killed process left half-written go on start, as they did when runners were built
        # at load (a runner is now built on first use; a search on torch may never build one).
        remove_stale_temporaries(files.cache_dir / "onnx")
        check_pickled_weights(folder)

        def view(runner: Runner) -> TransformersEmbedder:
            return cls(
                spec,
                runner,
                tokenizer,
                head,
                device=device,
                max_tokens=max_tokens,
                batch_size=batch_size,
                pad_id=pad_id,
            )

        documents, queries, plan = runners_for(backend, files, view, planning)
        return cls(
            spec,
            documents,
            tokenizer,
            head,
            device=device,
            max_tokens=max_tokens,
            batch_size=batch_size,
            pad_id=pad_id,
            query_model=queries,
            plan=plan,
        )

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    def with_spec(self, spec: ModelSpec) -> TransformersEmbedder:
        """The same loaded model under other prompts (e.g. none, for symmetric benchmark tasks).

        Only prompt fields may differ: pooling, padding and dimension are properties of the
        loaded weights. The runners (and their locks) are shared, so views are as
        thread-safe as the original.
        """
        for name in ("dimension", "pooling", "padding_side", "normalize"):
            if getattr(spec, name) != getattr(self._spec, name):
                raise ValueError(f"with_spec may only change prompts, not {name}")
        return TransformersEmbedder(
            spec,
            self._documents,
            self._tokenizer,
            self._head,
            device=self._device,
            max_tokens=self._max_tokens,
            batch_size=self._batch_size,
            pad_id=self._pad_id,
            query_model=self._queries,
            plan=self._plan,
        )

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def device(self) -> str:
        return self._device

    @property
    def backend(self) -> str:
        """What runs the transformer: "torch", "bf16", "onnx" ...; "passages/queries" when they differ."""
        documents, queries = self.backends
        return documents if documents == queries else f"{documents}/{queries}"

    @property
    def backends(self) -> tuple[str, str]:
        """(passages, queries): the backend each workload runs on."""
        return self._documents.backend, self._queries.backend

    @property
    def plan(self) -> Plan | None:
        """The measured (or provisional) plan "auto" followed; None for an explicit backend."""
        return self._plan

    @property
    def _model(self) -> Any:
        """The passages' runner (built now if it was not yet)."""
        return self._documents.get()

    def encode_queries(self, texts: Sequence[str], task: str | None = None) -> np.ndarray:
        prefix = self._spec.query_prefix(task)
        return self._encode([prefix + text for text in texts], self._queries)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        prefix = self._spec.document_prompt
        return self._encode([prefix + text for text in texts], self._documents)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def encode_documents_tokenized(self, texts: Sequence[str], ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Passages from the chunker's ids: [specials] + prompt + ids + [specials], truncated as
        ``tokenize`` does. Used only when that equals tokenising prompt + text for this model
        (checked once on probe texts, see _DocumentFraming); otherwise the texts are tokenised."""
        framing = self._document_framing()
        if framing is None:
            return self.encode_documents(texts)
        return self.encode_ids([framing.wrap(bare) for bare in ids], self._documents)

    def _document_framing(self) -> _DocumentFraming | None:
        if not self._framing_checked:  # two threads may both probe: same answer
            self._framing = _DocumentFraming.probe(self, self._spec.document_prompt)
            self._framing_checked = True
        return self._framing

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

    def _encode(self, texts: list[str], runner: Runner) -> np.ndarray:
        return self.encode_ids(self.tokenize(texts), runner)

    def encode_ids(self, ids: Sequence[Sequence[int]], runner: Runner | None = None) -> np.ndarray:
        """Vectors of ready model inputs (``tokenize``'s output), in order; passages' backend by default."""
        runner = runner or self._documents
        out = np.zeros((len(ids), self._head.output_dim), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            out[rows] = self._forward([ids[i] for i in rows], runner)
        return out

    def _forward(self, batch: list[Sequence[int]], runner: Runner | None = None) -> np.ndarray:
        runner = runner or self._documents
        vectors = self._forward_unchecked(batch, runner)
        if not np.isfinite(vectors).all():  # damaged weights: never into the index, never into a search
            where = runner.source or f"the files of {self._spec.name}"
            raise CorruptModelError(
                f"The model in {where} ({runner.backend}) computed NaN or infinite vectors: its files are "
                "damaged. Delete that folder to have it built again (the bundled model and ONNX exports "
                "are rebuilt on the next run), or reinstall the model."
            )
        return vectors

    def _forward_unchecked(self, batch: list[Sequence[int]], runner: Runner) -> np.ndarray:
        model = runner.get()
        input_ids, mask = pad_arrays(batch, self._pad_id, self._spec.padding_side)
        if getattr(model, "numpy_io", False) and not self._head.dense:
            with runner.lock:
                hidden = model.run(input_ids, mask)
            vectors = pool_numpy(hidden, mask, self._head.pooling)
            if self._head.normalize:
                norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
                vectors = vectors / np.maximum(norms, 1e-12)
            return vectors.astype(np.float32, copy=False)
        return self._forward_torch(model, runner, input_ids, mask)

    def _forward_torch(
        self, model: Any, runner: Runner, input_ids: np.ndarray, mask: np.ndarray
    ) -> np.ndarray:
        import torch

        ids_t, mask_t = torch.from_numpy(input_ids), torch.from_numpy(mask)
        with runner.lock, torch.inference_mode():
            ids_t, mask_t = ids_t.to(self._device), mask_t.to(self._device)
            hidden = model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
            vectors = pool(hidden, mask_t, self._head.pooling)
            for layer in self._head.dense:
                vectors = layer(vectors)
            if self._head.normalize:
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1)
            return vectors.float().cpu().numpy()


# Texts the framing is checked on: scripts with and without spaces, leading punctuation and digits,
# accents that normalisers change, a text over the model's budget (truncation).
FRAMING_PROBES = (
    "Hello world.",
    "Die Bienenvölker sterben im Winter, weil die Varroamilbe sie schwächt.",
    "¿Por qué? «Ça va», dit-il — 42 % des cas.",
    "東京都千代田区の国立国会図書館は日本最大の図書館である。",
    "我们在北京学习中文，这里的老师都很好。",
    "Москва — столица России.",
    "مرحبا بالعالم، هذه جملة عربية.",
    "नमस्ते दुनिया, यह एक वाक्य है।",
    "x",
    "word " * 600,
)


@dataclass(frozen=True)
class _DocumentFraming:
    """How a passage's model input is built from its bare ids: head + prompt + ids[:budget] + tail."""

    head: tuple[int, ...]  # special tokens before the text (e.g. <s>, [CLS])
    prompt: tuple[int, ...]
    tail: tuple[int, ...]  # special tokens after it (e.g. </s>, [SEP], <|endoftext|>)
    budget: int  # most text ids that fit

    def wrap(self, bare: Sequence[int]) -> list[int]:
        return [*self.head, *self.prompt, *bare[: self.budget], *self.tail]

    @classmethod
    def probe(cls, embedder: TransformersEmbedder, prompt: str) -> _DocumentFraming | None:
        """The framing when it reproduces ``tokenize(prompt + text)`` on every probe, else None.

        A prompt ending in a space is tokenised without it: sentencepiece and WordPiece
        attach the space to the next word, which the bare text's ids already begin with.
        """
        tokenizer = embedder._tokenizer
        bare_probe = tokenizer.encode("a", add_special_tokens=False).ids
        full_probe = tokenizer.encode("a", add_special_tokens=True).ids
        for start in range(len(full_probe) - len(bare_probe) + 1):
            if full_probe[start : start + len(bare_probe)] == bare_probe:
                break
        else:
            return None
        head = tuple(full_probe[:start])
        tail = tuple(full_probe[start + len(bare_probe) :])
        prompt_ids = (
            tuple(tokenizer.encode(prompt.rstrip(), add_special_tokens=False).ids) if prompt.strip() else ()
        )
        budget = embedder.max_tokens - len(head) - len(tail) - len(prompt_ids)
        if budget < 1:
            return None
        framing = cls(head, prompt_ids, tail, budget)
        expected = embedder.tokenize([prompt + text for text in FRAMING_PROBES])
        built = [framing.wrap(ids) for ids in embedder.token_ids(FRAMING_PROBES)]
        return framing if built == expected else None


def pad_arrays(batch: Sequence[Sequence[int]], pad_id: int, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Pad to the longest sequence on the spec's side (decoders with last-token pooling pad left)."""
    width = max(max((len(ids) for ids in batch), default=1), 1)
    input_ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, ids in enumerate(batch):
        n = len(ids)
        if n:
            span = slice(width - n, width) if side == "left" else slice(0, n)
            input_ids[row, span] = ids
            mask[row, span] = 1
    return input_ids, mask


def pad_batch(batch: Sequence[Sequence[int]], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``pad_arrays`` as torch tensors."""
    import torch

    input_ids, mask = pad_arrays(batch, pad_id, side)
    return torch.from_numpy(input_ids), torch.from_numpy(mask)


def read_config(folder: Path) -> dict[str, Any]:
    """The fields of config.json the embedder needs, read as JSON (transformers only as a fallback)."""
    file = folder / "config.json"
    config: dict[str, Any] = {}
    if file.is_file():
        config = json.loads(file.read_text(encoding="utf-8"))
    if "hidden_size" not in config:  # e.g. a config that nests it: let transformers resolve it
        from transformers import AutoConfig

        auto = AutoConfig.from_pretrained(folder, local_files_only=True)
        config = {"hidden_size": int(auto.hidden_size), "pad_token_id": getattr(auto, "pad_token_id", None)}
    return config


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
