"""Alternative CPU execution for an embedder's transformer: int8 dynamic quantisation or ONNX Runtime.

Why: on a CPU the transformer forward pass is the whole cost of indexing.
``benchmarks/embed_options.py`` measures each backend against the default torch
path (speed and XQuAD nDCG@10); this module only builds them. Every backend is
a drop-in for the torch model inside ``TransformersEmbedder``: called with
``input_ids`` and ``attention_mask``, it returns an object with
``last_hidden_state``, so prompts, pooling, packaged layers and normalisation
stay exactly the same code.

The default, "auto", runs ONNX Runtime on a CPU (1.48x the torch path's
sentences/s on two cores, identical XQuAD nDCG@10: the one option that met
both bars) and torch on a GPU or where the exporter is not installed. Every
export is checked against the torch model before it is used; a model whose
graph does not export, or exports wrongly, stays on torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from search.core.errors import OnnxExportError, UnsafeModelFileError
from search.models.scratch import private_dir, remove_stale_temporaries

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)

Backend = Literal["auto", "torch", "int8", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = ("auto", "torch", "int8", "onnx", "onnx-int8")
AUTO_CPU_BACKEND = "onnx"  # benchmarks/embed_options.py: faster than torch and no nDCG@10 lost
_EXPORT_VERSION = "2"  # bump when the export recipe changes, so cached graphs are rebuilt
_TAG_EXAMPLE = "0123456789abcdef"  # export folders end in a 16-hex-digit tag
_FAILED_MARKER = "export-failed.json"  # written where "auto" gave up on a model, so it does not retry
_MAX_RELATIVE_ERROR = 1e-3  # largest |onnx - torch| over the largest |torch| on the check batch


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
    tmp = private_dir(dest.parent, dest.name)
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
        error = verify_export(model, tmp / "model.onnx")
        record = {"version": _EXPORT_VERSION, "torch": torch.__version__, "max_relative_error": error}
        (tmp / "export.json").write_text(json.dumps(record))
        tmp.chmod(0o755)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not (dest / "model.onnx").is_file():  # lost a race only if someone else finished
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest / "model.onnx"


def verify_export(model: PreTrainedModel, path: Path) -> float:
    """Run a padded check batch through the graph and through torch; refuse a graph that disagrees.

    Rows are padded on the right and on the left (decoders), and longer than the export's
    example, so a graph that baked in a shape or a padding side fails here, not in search.
    """
    import numpy as np
    import torch

    vocab = int(getattr(model.config, "vocab_size", 1000))
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(min(5, vocab - 1), vocab, (3, 19), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 12:] = 0
    mask[2, :7] = 0
    with torch.inference_mode():
        expected = _last_hidden_module(model)(ids, mask).numpy()
    got = OnnxEncoder(path)(ids, mask).last_hidden_state.numpy()
    real = mask.numpy().astype(bool)
    scale = max(float(np.abs(expected[real]).max()), 1e-6)
    error = float(np.abs(expected[real] - got[real]).max()) / scale
    if not error <= _MAX_RELATIVE_ERROR:  # also catches NaN
        raise OnnxExportError(f"the ONNX graph differs from the torch model (relative error {error:.2g})")
    return error


def quantize_onnx_int8(source: Path) -> Path:
    """ONNX Runtime's dynamic int8 quantisation of an exported graph (MatMul weights), done once."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dest = source.parent / "model.int8.onnx"
    if dest.is_file():
        return dest
    remove_stale_temporaries(source.parent)
    tmp = private_dir(source.parent, dest.name)
    try:
        out = tmp / dest.name
        quantize_dynamic(source, out, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
        os.replace(out, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
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


def onnx_available() -> bool:
    """ONNX Runtime and torch's exporter (onnx, onnxscript) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx", "onnxscript"))


def build_runner(
    backend: str,
    load_model: Callable[[], PreTrainedModel],
    *,
    model_folder: Path,
    model_id: str,
    cache_dir: Path,
    device: str,
    threads: int | None = None,
) -> tuple[Any, str]:
    """The callable the embedder runs its batches through, and the backend it is.

    torch weights are only loaded when needed (an ONNX export on disk needs none).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return _auto_runner(load_model, model_folder, model_id, cache_dir, device, threads)
    if backend == "torch":
        return load_model(), "torch"
    if device != "cpu":
        raise ValueError(f"backend {backend!r} is for CPU; on {device} use backend='torch'")
    if backend == "int8":
        return quantize_int8(load_model()), "int8"
    dest = onnx_dir(cache_dir, model_folder, model_id)
    remove_stale_temporaries(dest.parent)
    path = _exported(load_model, dest)
    if backend == "onnx-int8":
        path = quantize_onnx_int8(path)
    return OnnxEncoder(path, threads), backend


def _exported(load_model: Callable[[], PreTrainedModel], dest: Path) -> Path:
    path = dest / "model.onnx"
    if not path.is_file():
        path = export_onnx(load_model(), dest)
        _remove_stale_exports(dest)
    return path


def _auto_runner(
    load_model: Callable[[], PreTrainedModel],
    model_folder: Path,
    model_id: str,
    cache_dir: Path,
    device: str,
    threads: int | None,
) -> tuple[Any, str]:
    """ONNX Runtime on a CPU when it is installed and the model exports correctly; torch otherwise."""
    dest = onnx_dir(cache_dir, model_folder, model_id)
    remove_stale_temporaries(dest.parent)  # exports a killed process left half-written
    failed = dest.with_name(dest.name + "." + _FAILED_MARKER)
    if device != "cpu" or not onnx_available() or failed.is_file():
        return load_model(), "torch"
    model: PreTrainedModel | None = None

    def load_once() -> PreTrainedModel:
        nonlocal model
        if model is None:
            model = load_model()
        return model

    try:
        return OnnxEncoder(_exported(load_once, dest), threads), AUTO_CPU_BACKEND
    except UnsafeModelFileError:
        raise  # the weights themselves are refused: no backend can run them, nothing to remember
    except Exception as exc:  # noqa: BLE001 - shown on the page instead of killing the thread silently
        log.warning("%s: ONNX Runtime not used (%s); running on torch", model_id, exc)
        failed.parent.mkdir(parents=True, exist_ok=True)
        failed.write_text(json.dumps({"error": str(exc)[:500], "version": _EXPORT_VERSION}))
        return load_once(), "torch"
