"""How an embedder's transformer runs: each backend built, the ONNX export made and checked.

Why: on a CPU the transformer forward pass is the whole cost of indexing, and
which way of running it is fastest depends on the CPU. Every backend is a
drop-in for the torch model inside ``TransformersEmbedder``: called with
``input_ids`` and ``attention_mask``, it returns an object with a float32
``last_hidden_state``, so prompts, pooling, packaged layers and normalisation
stay exactly the same code. ONNX Runtime also answers numpy arrays directly
(``numpy_io``), so a query path on ONNX needs no torch at all.

The backends (``benchmarks/embed_options.py`` and ``benchmarks/embed_speed.py``
measure them; XQuAD nDCG@10 within 0.5 of fp32 torch is the bar):

* ``torch``: fp32, the reference.
* ``bf16``: the weights cast to bfloat16, outputs cast back to float32 before
  pooling. Only fast where the CPU runs bf16 natively (AVX512_BF16, AMX); there
  it was 3x the fp32 paths on batches of passages at -0.05 nDCG@10.
* ``bf16-autocast``: fp32 weights, matrix products in bf16 under
  ``torch.autocast`` (entered in the thread that runs the forward: autocast is
  thread-local). The fallback for a model whose bf16 weights fail the gate.
* ``onnx``: fp32 on ONNX Runtime, exported once into the cache folder and
  checked against torch before use. The fastest for single short queries.
* ``int8``, ``onnx-int8``: dynamic int8 quantisation; 1-2 points of nDCG@10
  lost, so only when asked for by name.

"auto" is decided by measuring (``search.models.planner``), never here.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from search.core.errors import OnnxExportError, UnsafeModelFileError, environment_failure
from search.models.integrity import damaged, discard, record, recorded_names
from search.models.scratch import private_dir, remove_stale_temporaries

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)

Backend = Literal["auto", "torch", "bf16", "bf16-autocast", "onnx", "int8", "onnx-int8"]
BACKENDS: tuple[str, ...] = ("auto", "torch", "bf16", "bf16-autocast", "onnx", "int8", "onnx-int8")
# The backends "auto" may choose: each passed the quality bar (benchmarks/embed_options.py).
# Most precise first: a less precise one must be clearly faster to be chosen (search.models.planner).
PRECISION_ORDER: tuple[str, ...] = ("torch", "onnx", "bf16-autocast", "bf16")
_EXPORT_VERSION = "2"  # bump when the export recipe changes, so cached graphs are rebuilt
_TAG_EXAMPLE = "0123456789abcdef"  # export folders end in a 16-hex-digit tag
_FAILED_MARKER = "export-failed.json"  # written where an export failed for a model, so it is not retried
_INLINE_WEIGHTS_BYTES = 64 << 20  # a graph file this large carries its weights inline
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


class Bf16Model:
    """The model with bfloat16 weights; hidden states come back as float32 so pooling stays exact."""

    def __init__(self, model: PreTrainedModel) -> None:
        self.model = model.bfloat16()  # in place: no second copy of the weights

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> HiddenStates:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return HiddenStates(hidden.float())


class AutocastModel:
    """fp32 weights, matrix products in bfloat16; autocast is entered here, in the forward's own thread."""

    def __init__(self, model: PreTrainedModel) -> None:
        self.model = model

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> HiddenStates:
        import torch

        with torch.autocast(input_ids.device.type, dtype=torch.bfloat16):
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return HiddenStates(hidden.float())


def torch_bf16_supported() -> bool:
    """torch's oneDNN can run bf16 here (necessary, not sufficient: see search.models.cpu.native_bf16)."""
    import torch

    check = getattr(getattr(torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
    return bool(check()) if check is not None else False


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
        # weights beside the graph: ONNX Runtime maps them instead of parsing them (search.models.backends.OnnxEncoder)
        program.save(str(tmp / "model.onnx"), external_data=True)  # type: ignore[union-attr]
        del program
        check = _check_batch(model)
        del model  # the torch model is freed before ONNX Runtime loads the graph (when nobody else holds it)
        gc.collect()
        error = _verify_outputs(tmp / "model.onnx", *check)
        facts = {"version": _EXPORT_VERSION, "torch": torch.__version__, "max_relative_error": error}
        (tmp / "export.json").write_text(json.dumps(facts))
        record(tmp, _graph_files(tmp / "model.onnx"))  # checked on every load (search.models.integrity)
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
    return _verify_outputs(path, *_check_batch(model))


def _check_batch(model: PreTrainedModel) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Token ids, attention mask and the torch model's hidden states of the export's check batch."""
    import torch

    vocab = int(getattr(model.config, "vocab_size", 1000))
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(min(5, vocab - 1), vocab, (3, 19), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 12:] = 0
    mask[2, :7] = 0
    with torch.inference_mode():
        expected = _last_hidden_module(model)(ids, mask).numpy()
    return ids, mask, expected


def _verify_outputs(path: Path, ids: torch.Tensor, mask: torch.Tensor, expected: np.ndarray) -> float:
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
    if dest.is_file() and _intact(dest):
        return dest
    remove_stale_temporaries(source.parent)
    tmp = private_dir(source.parent, dest.name)
    try:
        out = tmp / dest.name
        quantize_dynamic(source, out, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
        os.replace(out, dest)
        record(dest.parent, _graph_files(dest))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


class OnnxEncoder:
    """An ONNX Runtime session that answers like a transformers encoder (CPU).

    ``run`` takes and returns numpy arrays: the embedder uses it to pad, pool and
    normalise in numpy, so an ONNX query path never imports torch.
    """

    numpy_io = True

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        path = external_weights(path)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Memory patterns are planned per input shape; with batches of every length they only pile up:
        # off, e5-small's session after the planner's probe held 1,094 MB instead of 1,410 MB.
        options.enable_mem_pattern = False
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64)},
        )
        return np.asarray(hidden, dtype=np.float32)

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> HiddenStates:
        import torch

        hidden = self.run(input_ids.cpu().numpy(), attention_mask.cpu().numpy())
        return HiddenStates(torch.from_numpy(hidden))


def external_weights(path: Path) -> Path:
    """``path`` with its weights in a ``.data`` file beside it, converted once if they are inline.

    Why: ONNX Runtime parses an inline graph's weights (e5-small: 470 MB) on every session,
    ~0.8 s of a cold CLI search here; weights in a separate file are mapped instead (~0.09 s).
    Exports are written that way; this converts inline ones (older exports, the int8 graph).
    The data file is replaced before the graph, so an interruption leaves a working pair.
    """
    if path.stat().st_size < _INLINE_WEIGHTS_BYTES:
        return path
    import onnx_ir as ir

    data = path.name + ".data"
    remove_stale_temporaries(path.parent)
    tmp: Path | None = None
    try:
        tmp = private_dir(path.parent, path.name)
        ir.save(ir.load(path), tmp / path.name, external_data=data)
        os.replace(tmp / data, path.parent / data)
        os.replace(tmp / path.name, path)
        record(path.parent, _graph_files(path))
    except OSError as exc:  # a read-only or full cache: the inline graph still runs, only opens slower
        log.warning("%s: weights kept inline (%s)", path, exc)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def onnx_dir(cache_dir: Path, model_folder: Path, model_id: str) -> Path:
    """One export per model folder, weights file version and torch version, under the app's cache.

    The torch version comes from package metadata: finding an export imports nothing.
    """
    key = f"{model_folder.resolve()}|{model_id}|{weights_signature(model_folder)}|{_torch_version()}|{_EXPORT_VERSION}"
    tag = hashlib.sha256(key.encode()).hexdigest()[:16]
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in model_id)
    return cache_dir / "onnx" / f"{slug}-{tag}"


def weights_signature(model_folder: Path) -> list[str]:
    """Name, size and mtime of each weights file: a changed file is another model."""
    return sorted(
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for pattern in ("*.safetensors", "*.bin")
        for p in model_folder.glob(pattern)
    )


def _torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "-"


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
    export: Callable[[Path], Path] | None = None,
) -> tuple[Any, str]:
    """The callable the embedder runs its batches through, and the backend it is.

    ``backend`` is a concrete name ("auto" is resolved by the caller's plan; here it means
    torch off the CPU, as a GPU always runs torch). torch weights are only loaded when
    needed: an ONNX export on disk needs none. ``export(dest)`` makes a missing export
    (e.g. in a child process); by default it is made here from ``load_model()``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        if device == "cpu":
            raise ValueError("backend 'auto' on a CPU is resolved by search.models.planner first")
        return load_model(), "torch"
    if backend == "torch":
        return load_model(), "torch"
    if backend == "bf16":
        return Bf16Model(load_model()), "bf16"
    if backend == "bf16-autocast":
        return AutocastModel(load_model()), "bf16-autocast"
    if device != "cpu":
        raise ValueError(f"backend {backend!r} is for CPU; on {device} use backend='torch'")
    if backend == "int8":
        return quantize_int8(load_model()), "int8"
    dest = onnx_dir(cache_dir, model_folder, model_id)
    remove_stale_temporaries(dest.parent)  # exports a killed process left half-written
    path = exported_onnx(load_model, dest, export)
    if backend == "onnx-int8":
        path = quantize_onnx_int8(path)
    return OnnxEncoder(path, threads), backend


def _graph_files(graph: Path) -> list[str]:
    """A graph and its weights file (when they are kept beside it): what its checksums cover."""
    data = graph.with_name(graph.name + ".data")
    return [graph.name, *([data.name] if data.is_file() else [])]


def _intact(graph: Path) -> bool:
    """Whether a graph (and its weights) still has the bytes recorded when it was written; a damaged
    one is removed (said in one line naming the file) so that it is made again."""
    recorded = [name for name in recorded_names(graph.parent) if name.startswith(graph.name)]
    bad = damaged(graph.parent, recorded or _graph_files(graph))
    if not bad:
        return True
    log.warning(
        "%s does not match the checksum recorded when it was written (damaged or changed): making it again",
        graph.parent / bad[0],
    )
    for name in (graph.name, graph.name + ".data"):
        (graph.parent / name).unlink(missing_ok=True)
    return False


def exported_onnx(
    load_model: Callable[[], PreTrainedModel], dest: Path, export: Callable[[Path], Path] | None = None
) -> Path:
    """The checked export in ``dest``, made now if missing (or damaged); a model that failed before is not retried.

    ``export(dest)`` makes it when given (the app exports in a child process: the exporter's
    buffers, ~1-2 GB for e5-small, go back to the system when it ends), else ``load_model()``
    is exported here.
    """
    path = dest / "model.onnx"
    if path.is_file():
        if _intact(path):
            return path
        discard(dest)
    failed = failure_marker(dest)
    if failed.is_file():
        reason = json.loads(failed.read_text()).get("error", "export failed")
        raise OnnxExportError(
            f"ONNX export failed before for this model ({reason}); delete {failed} to retry"
        )
    try:
        path = export(dest) if export is not None else export_onnx(load_model(), dest)
    except UnsafeModelFileError:
        raise  # the weights themselves are refused: no backend can run them, nothing to remember
    except OSError as exc:
        failure = environment_failure(exc)
        if failure is not None:  # a full or read-only cache says nothing about the model: not remembered
            raise failure from exc
        _remember_failure(failed, exc)
        raise OnnxExportError(f"the model did not export to ONNX ({type(exc).__name__}: {exc})") from exc
    except OnnxExportError as exc:
        _remember_failure(failed, exc)
        raise
    except Exception as exc:  # the exporter fails in many ways; all mean "no ONNX for this model"
        _remember_failure(failed, exc)
        raise OnnxExportError(f"the model did not export to ONNX ({type(exc).__name__}: {exc})") from exc
    _remove_stale_exports(dest)
    return path


def failure_marker(dest: Path) -> Path:
    return dest.with_name(dest.name + "." + _FAILED_MARKER)


def _remember_failure(marker: Path, exc: BaseException) -> None:
    log.warning("%s: ONNX Runtime not used (%s)", marker.name, exc)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"error": str(exc)[:500], "version": _EXPORT_VERSION}))


class Runner:
    """One backend's forward pass, built on first use and then shared by every view of the embedder.

    Each runner has its own lock: with queries on ONNX Runtime and passages on torch,
    a search does not wait behind an indexing batch.
    """

    def __init__(self, backend: str, build: Callable[[], Any], source: Path | str = "") -> None:
        self.backend = backend
        self.source = str(source)  # the files it runs (model folder or ONNX export), for error messages
        self._build: Callable[[], Any] | None = build
        self._model: Any = None
        self._build_lock = threading.Lock()
        self.lock = threading.Lock()

    @classmethod
    def ready(cls, backend: str, model: Any, source: Path | str = "") -> Runner:
        runner = cls(backend, lambda: model, source)
        runner.get()
        return runner

    def get(self) -> Any:
        if self._build is not None:
            with self._build_lock:
                if self._build is not None:
                    self._model = self._build()
                    self._build = None
        return self._model

    @property
    def built(self) -> bool:
        return self._build is None
