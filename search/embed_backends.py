"""Alternative CPU execution for an embedder's transformer: int8 dynamic quantisation or ONNX Runtime.

Why: on a CPU the transformer forward pass is the whole cost of indexing.
``benchmarks/embed_options.py`` measures each backend against the default torch
path (speed and XQuAD nDCG@10); this module only builds them. Every backend is
a drop-in for the torch model inside ``TransformersEmbedder``: called with
``input_ids`` and ``attention_mask``, it returns an object with
``last_hidden_state``, so prompts, pooling, packaged layers and normalisation
stay exactly the same code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

Backend = Literal["torch", "int8", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = ("torch", "int8", "onnx", "onnx-int8")
_EXPORT_VERSION = "1"
_TAG_EXAMPLE = "0123456789abcdef"  # export folders end in a 16-hex-digit tag  # bump when the export recipe changes, so cached graphs are rebuilt


@dataclass(frozen=True)
class HiddenStates:
    """The one field of a transformers model output the embedder reads."""

    last_hidden_state: torch.Tensor


def quantize_int8(model: PreTrainedModel) -> torch.nn.Module:
    """Dynamic int8 quantisation of every Linear layer (weights int8, activations quantised per batch)."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def _last_hidden_module(model: PreTrainedModel) -> torch.nn.Module:
    """torch.onnx.export wants positional tensors in and one tensor out."""
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: PreTrainedModel) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return LastHidden(model).eval()


def export_onnx(model: PreTrainedModel, dest: Path) -> Path:
    """Export the encoder once with dynamic batch and sequence axes; written atomically to ``dest``."""
    import torch

    if (dest / "model.onnx").is_file():
        return dest / "model.onnx"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        max_len = int(getattr(model.config, "max_position_embeddings", 512))
        batch = torch.export.Dim("batch")
        seq = torch.export.Dim("sequence", max=max_len)
        ids = torch.full((2, 8), 5, dtype=torch.long)
        mask = torch.ones_like(ids)
        mask[1, 6:] = 0
        with torch.inference_mode(False), torch.no_grad():
            program = torch.onnx.export(
                _last_hidden_module(model),
                (ids, mask),
                input_names=["input_ids", "attention_mask"],
                output_names=["last_hidden_state"],
                dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
                dynamo=True,
                verbose=False,
            )
        program.save(str(tmp / "model.onnx"))  # type: ignore[union-attr]
        (tmp / "export.json").write_text(json.dumps({"version": _EXPORT_VERSION, "torch": torch.__version__}))
        tmp.chmod(0o755)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not (dest / "model.onnx").is_file():  # lost a race only if someone else finished
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest / "model.onnx"


def quantize_onnx_int8(source: Path) -> Path:
    """ONNX Runtime's dynamic int8 quantisation of an exported graph (MatMul weights), done once."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dest = source.parent / "model.int8.onnx"
    if dest.is_file():
        return dest
    with tempfile.TemporaryDirectory(prefix=".int8.", dir=source.parent) as tmp:
        out = Path(tmp) / dest.name
        quantize_dynamic(source, out, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
        os.replace(out, dest)
    return dest


class OnnxEncoder:
    """An ONNX Runtime session that answers like a transformers encoder (CPU)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> HiddenStates:
        import torch

        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": input_ids.cpu().numpy(), "attention_mask": attention_mask.cpu().numpy()},
        )
        return HiddenStates(torch.from_numpy(hidden))


def onnx_dir(cache_dir: Path, model_folder: Path, model_id: str) -> Path:
    """One export per model folder, weights file version and torch version, under the app's cache."""
    import torch

    weights = sorted(
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for pattern in ("*.safetensors", "*.bin")
        for p in model_folder.glob(pattern)
    )
    key = f"{model_folder.resolve()}|{model_id}|{weights}|{torch.__version__}|{_EXPORT_VERSION}"
    tag = hashlib.sha256(key.encode()).hexdigest()[:16]
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in model_id)
    return cache_dir / "onnx" / f"{slug}-{tag}"


def _remove_stale_exports(current: Path) -> None:
    """Older exports of the same model (other weights or torch version) are dead weight, ~0.5-1 GB each."""
    slug = current.name[: -len(_TAG_EXAMPLE) - 1]
    pattern = re.compile(re.escape(slug) + r"-[0-9a-f]{16}")
    for folder in current.parent.iterdir():
        if folder != current and folder.is_dir() and pattern.fullmatch(folder.name):
            shutil.rmtree(folder, ignore_errors=True)


def build_runner(
    backend: str,
    load_model: Callable[[], PreTrainedModel],
    *,
    model_folder: Path,
    model_id: str,
    cache_dir: Path,
    device: str,
    threads: int | None = None,
) -> Any:
    """The callable the embedder runs its batches through; torch weights are only loaded when needed."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "torch":
        return load_model()
    if device != "cpu":
        raise ValueError(f"backend {backend!r} is for CPU; on {device} use backend='torch'")
    if backend == "int8":
        return quantize_int8(load_model())
    dest = onnx_dir(cache_dir, model_folder, model_id)
    path = dest / "model.onnx"
    if not path.is_file():
        path = export_onnx(load_model(), dest)
        _remove_stale_exports(dest)
    if backend == "onnx-int8":
        path = quantize_onnx_int8(path)
    return OnnxEncoder(path, threads)
